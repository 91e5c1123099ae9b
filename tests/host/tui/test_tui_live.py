"""Live screen against the simulated garment: traces at >= 20 frames/s, envelopes,
link quality, stimulation and decoder panels."""
from __future__ import annotations

import time

from tui_helpers import connected, press, text_of, wait_for

from garment.tui.app import GarmentApp
from garment.tui.widgets.link import LinkQuality
from garment.tui.widgets.traces import BRAILLE, TraceView


def panel_lines(text: str) -> list[str]:
    """A panel's content lines (inside its border, without padding)."""
    out = []
    for line in text.splitlines():
        core = line.strip().strip("│┃").strip()
        if core and core[0] not in "╭╰┏┗─━▔▁":
            out.append(core)
    return out


def first_line(text: str) -> str:
    return (panel_lines(text) or [""])[0]


async def test_live_traces_link_and_panels(sim: object) -> None:
    app = GarmentApp(device=sim.url)  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        session = await connected(pilot, samples=4000)
        screen = app.screen
        assert screen.MODE == "live"
        # frame rate, measured over one second of wall time
        f0, t0 = screen.frames, time.monotonic()
        await pilot.pause(1.0)
        fps = (screen.frames - f0) / (time.monotonic() - t0)
        assert fps >= 20, f"{fps:.1f} frames/s"
        trace = screen.query_one("#trace-0", TraceView)
        text = trace.render().plain.splitlines()
        assert len(text) == 4 and len(text[0]) == trace.size.width
        assert any(ord(c) > BRAILLE for c in "".join(text[:3]))  # a waveform is drawn
        assert any(c in "▁▂▃▄▅▆▇█" for c in text[3])  # and its envelope
        link = screen.query_one("#link", LinkQuality)
        fs = session.fs
        await wait_for(pilot, lambda: link.view is not None and link.view.rate_sps > 0, what="a measured rate")
        v = link.view
        shown = text_of(link)
        # the widget shows what the session measured (a rate over 1 s of host time: packets jitter)
        assert f"{v.rate_sps:,.0f} S/s of {fs:,}" in shown and 0.5 * fs < v.rate_sps < 1.5 * fs, (shown, v)
        assert (v.dropped, v.gaps, v.crc_errors, v.malformed, v.packets_lost) == (0, 0, 0, 0, 0), v
        status = await session.client.status()
        assert v.battery_mv == status.battery_mv == 4000 and v.rssi_dbm is None  # the sim's battery; no radio
        label = text_of(screen.query_one("#label-0"))
        assert label.startswith(session.channel_names[0]) and "µV rms" in label
        # the stimulation panel shows the garment's state, as the garment reports it now
        st = await session.client.stim_state()
        await wait_for(pilot, lambda: session.stim == st, what="the session's stim state")
        await wait_for(pilot, lambda: first_line(text_of(screen.query_one("#stim"))) == st.state.upper(),
                       what="the stimulation panel")
        assert st.state in ("idle", "calibrated") and st.armed_mask == 0
        # the decoder panel names the garment's model situation exactly
        active = (await session.client.model_info()).get("active")
        decoder = " ".join(panel_lines(text_of(screen.query_one("#decoder"))))
        if not active:
            assert decoder == "no model active (F4 train, F5 upload)", decoder
        else:
            labels = [str(x) for x in active.get("labels") or []]
            await wait_for(pilot, lambda: session.decoder is not None, what="a decoder output")
            await wait_for(pilot, lambda: any(x.upper() in text_of(screen.query_one("#decoder"))
                                              for x in labels + ["rejected"]), what="the decoder panel")
        # pause: the traces hold still while samples keep coming; resume: they move again
        await press(pilot, "p")
        await pilot.pause(0.1)
        held, n0 = trace.render().plain, session.trace.total
        await wait_for(pilot, lambda: session.trace.total >= n0 + fs // 5, what="samples during the pause")
        assert screen.paused and "HOLD" in text_of(screen.query_one("#live-status"))
        assert trace.render().plain == held
        await press(pilot, "p")
        assert not screen.paused
        await wait_for(pilot, lambda: trace.render().plain != held, what="the traces to move again")
    assert app.internal_errors == []


async def test_link_loss_is_shown_and_the_app_keeps_running() -> None:
    from garment.sim import SimGarment
    from tui_helpers import logged

    from garment.tui.widgets.estop import EStopBar

    sim = SimGarment()
    url = sim.start()
    try:
        app = GarmentApp(device=url)
        async with app.run_test(size=(120, 40)) as pilot:
            session = await connected(pilot)
            sim.kill()  # a pulled battery
            await wait_for(pilot, lambda: not session.connected, 10, "the link loss")
            await wait_for(pilot, lambda: logged(app, "link lost:", "error"), 5, "the log entry")
            bar = app.screen.query_one(EStopBar).query_one("#estop-state")
            await wait_for(pilot, lambda: "LINK LOST" in text_of(bar), 3, "the bar")
            assert "link lost" in app.connection
            await press(pilot, "space")
            assert logged(app, "no garment is connected")
            await press(pilot, "f1")
            assert app.screen.MODE == "connect"
        assert app.internal_errors == []
    finally:
        sim.stop()
