"""The emergency stop: one key (space) on every screen, sent at once even while a
screen is busy or an input has focus, the latched state shown until reset."""
from __future__ import annotations

import time

import pytest
from textual.widgets import Input
from tui_fakes import FakeClient, FakeDiscovery, snapshot_session
from tui_helpers import connected, logged, press, text_of, wait_for

from garment.client import DeviceError
from garment.protocol import wire
from garment.tui.app import GarmentApp
from garment.tui.widgets.estop import EStopBar


def bar_text(app: GarmentApp) -> str:
    return text_of(app.screen.query_one(EStopBar).query_one("#estop-state"))


@pytest.mark.filterwarnings("ignore::UserWarning")  # pyedflib: 9-character physical range
async def test_space_latches_the_estop_while_busy_and_typing(sim: object) -> None:
    """Final behaviour (needs the stimulation firmware's T_ESTOP): the garment reports
    fault=estop and the bar shows E-STOP LATCHED until Ctrl+R resets it."""
    app = GarmentApp(device=sim.url)  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        session = await connected(pilot)
        await press(pilot, "f4")  # Train: start a recording (a busy screen), focus a text input
        await wait_for(pilot, lambda: app.screen.MODE == "train", what="the Train screen")
        screen = app.screen
        screen.query_one("#train-hold").value = "30"
        await press(pilot, "ctrl+t")
        await wait_for(pilot, lambda: screen.recording, what="the recording to start")
        labels = screen.query_one("#train-labels", Input)
        labels.focus()
        before = labels.value
        t0 = time.time()
        await press(pilot, "space")
        assert labels.value == before, "space must stop, never type"
        await wait_for(pilot, lambda: session.estop_sent_at is not None, 2.0, "the E-STOP request")
        assert session.estop_sent_at - t0 < 1.0
        await wait_for(pilot, lambda: not session.estop_pending, 5.0, "the garment's answer")
        assert session.estop_error is None, session.estop_error  # any refusal (unknown_type too) fails here
        await wait_for(pilot, lambda: "E-STOP LATCHED" in bar_text(app), 3.0, "the latched display")
        assert session.stim is not None and (session.stim.state, session.stim.fault) == ("fault", "estop")
        assert app.screen.query_one(EStopBar).has_class("-latched")
        await press(pilot, "f2")  # still latched on every screen
        await wait_for(pilot, lambda: app.screen.MODE == "live" and "E-STOP LATCHED" in bar_text(app), 3.0,
                       "the latched display on Live")
        await press(pilot, "ctrl+r")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen", 3.0, "the reset dialog")
        await press(pilot, "y")
        await wait_for(pilot, lambda: not session.estop_latched, 5.0, "the reset")
        await wait_for(pilot, lambda: "E-STOP LATCHED" not in bar_text(app), 3.0, "the bar to clear")
    assert app.internal_errors == []


async def test_estop_the_garment_refuses_is_a_clear_notification() -> None:
    client = FakeClient(estop_error=DeviceError(wire.E_UNKNOWN_TYPE, "unknown request type 0x24"))
    app = GarmentApp(session=snapshot_session(client), discovery=FakeDiscovery())
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "space")
        await wait_for(pilot, lambda: logged(app, "E-STOP NOT CONFIRMED", "error")
                       and logged(app, "Switch the garment off", "error"), 3.0, "the notification")
        assert client.estops == 1
        await wait_for(pilot, lambda: "E-STOP NOT CONFIRMED" in bar_text(app), 3.0, "the bar")
        assert app.screen.query_one(EStopBar).has_class("-error")
    assert app.internal_errors == []


async def test_estop_with_no_garment_says_nothing_was_sent() -> None:
    app = GarmentApp(discovery=FakeDiscovery())
    async with app.run_test(size=(120, 40)) as pilot:
        for key in ("f6", "space", "f3", "space"):  # every screen has it
            await press(pilot, key)
        assert sum("no garment is connected" in e.text for e in app.event_log.entries) == 2
    assert app.internal_errors == []
