"""Calibration in the app on the simulated garment it started gives a real session's
results, because its simulated person does what the screens ask: a quiet rest (no NOISY
electrodes), an MVC many times the rest, and no weak-MVC warning."""
from __future__ import annotations

from textual.widgets import Button
from tui_helpers import connected, logged, wait_for

from garment.tui.app import GarmentApp, Timings
from garment.tui.calibration import NOISY_UV


async def test_rest_and_mvc_on_the_simulated_person() -> None:
    timings = Timings(countdown_s=1, rest_s=1.0, mvc_s=1.0, ramp_step_s=0.1)
    app = GarmentApp(device="sim", timings=timings, start_mode="calibrate")
    async with app.run_test(size=(120, 40)) as pilot:
        session = await connected(pilot)
        assert session.sim is not None and session.sim.person is not None
        screen = app.screen
        screen.show_step("step-rest")
        screen.query_one("#rest-start", Button).press()
        await wait_for(pilot, lambda: screen.results.baseline is not None and not screen.busy, 15, "the rest")
        rest = [b.rms_uV for b in screen.results.baseline]
        assert max(rest) < NOISY_UV, rest  # relaxed: every electrode reads OK, none NOISY
        screen.show_step("step-mvc")
        for ch in (0, 2):
            screen.query_one("#mvc-table").move_cursor(row=ch)
            screen.query_one("#mvc-start", Button).press()
            await wait_for(pilot, lambda c=ch: c in screen.results.mvc_uV and not screen.busy, 15, "an MVC")
            assert screen.results.mvc_uV[ch] > 10 * rest[ch], (ch, screen.results.mvc_uV, rest)
        assert not logged(app, "MVC of the")  # no weak-MVC warning
        assert session.sim.person.doing == "rest"  # relaxed again after each contraction
    assert app.internal_errors == []
