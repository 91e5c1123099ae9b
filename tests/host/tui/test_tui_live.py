"""Live screen against the simulated garment: traces at >= 20 frames/s, envelopes,
link quality, stimulation and decoder panels."""
from __future__ import annotations

import time

from tui_helpers import connected, press, text_of, wait_for

from garment.tui.app import GarmentApp
from garment.tui.widgets.link import LinkQuality
from garment.tui.widgets.traces import BRAILLE, TraceView


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
        await wait_for(pilot, lambda: link.view is not None and link.view.rate_sps > 1500, what="a measured rate")
        assert link.view.dropped == 0 and link.view.crc_errors == 0 and link.view.battery_mv
        label = text_of(screen.query_one("#label-0"))
        assert session.channel_names[0] in label and "µV rms" in label
        stim = text_of(screen.query_one("#stim"))
        assert ("IDLE" in stim or "CALIBRATED" in stim or "not supported" in stim)
        assert "no model" in text_of(screen.query_one("#decoder")) or session.model_labels
        await press(pilot, "p")
        held = screen.frames
        await pilot.pause(0.3)
        assert screen.paused and "HOLD" in text_of(screen.query_one("#live-status"))
        await press(pilot, "p")
        assert screen.frames >= held and not screen.paused
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
