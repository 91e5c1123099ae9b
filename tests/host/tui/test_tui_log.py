"""Log screen: the garment's events (R_EVENT), stimulation state transitions and faults."""
from __future__ import annotations

from textual.widgets import RichLog
from tui_helpers import connected, press, wait_for

from garment.tui.app import GarmentApp


async def test_log_shows_events_and_state_transitions(sim: object) -> None:
    app = GarmentApp(device=sim.url, start_mode="log")  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        session = await connected(pilot)
        view = app.screen.query_one("#log-view", RichLog)

        def lines() -> list[str]:
            return [strip.text for strip in view.lines]

        await wait_for(pilot, lambda: any("stream start" in x and "garment" in x for x in lines()), 5,
                       "the garment's stream-start event")
        await press(pilot, "space")
        await wait_for(pilot, lambda: any("fault estop" in x for x in lines()), 5, "the E-STOP transition")
        assert any("E-STOP sent" in x for x in lines())
        await press(pilot, "w")  # warnings and errors only
        await pilot.pause(0.1)
        assert not any("stream start" in x for x in lines()) and any("fault estop" in x for x in lines())
        await press(pilot, "ctrl+r")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen", 3, "the reset dialog")
        await press(pilot, "y")
        await wait_for(pilot, lambda: not session.estop_latched, 5, "the reset")
    assert app.internal_errors == []
