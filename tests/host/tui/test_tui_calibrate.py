"""Calibrate against the simulated garment: electrode check, rest baseline, MVC, the
threshold ramp stopped by keys, and saving to the garment and the profile."""
from __future__ import annotations

import json

from textual.widgets import Button, DataTable
from tui_helpers import connected, logged, press, text_of, wait_for

from garment.tui import config
from garment.tui.app import GarmentApp, Timings


async def test_calibration_from_electrodes_to_saved_thresholds(sim: object) -> None:
    timings = Timings(countdown_s=0, rest_s=0.5, mvc_s=0.5, ramp_step_s=0.1)
    app = GarmentApp(device=sim.url, timings=timings)  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        session = await connected(pilot)
        await press(pilot, "f3")
        await wait_for(pilot, lambda: app.screen.MODE == "calibrate", what="the Calibrate screen")
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one("#electrodes", DataTable).row_count == 8, what="8 electrodes")
        # rest baseline
        screen.show_step("step-rest")
        screen.query_one("#rest-start", Button).press()
        await wait_for(pilot, lambda: screen.results.baseline is not None, 10, "the rest baseline")
        assert screen.query_one("#rest-table", DataTable).row_count == 8
        assert all(b.rms_uV > 0 for b in screen.results.baseline)
        # MVC of the first muscle (the cursor then moves to the next)
        screen.show_step("step-mvc")
        screen.query_one("#mvc-start", Button).press()
        await wait_for(pilot, lambda: 0 in screen.results.mvc_uV and not screen.busy, 10, "an MVC")
        assert screen.query_one("#mvc-table", DataTable).cursor_row == 1
        # threshold ramp on stimulation channel 0: f when felt, c at the contraction
        screen.show_step("step-stim")
        screen.query_one("#stim-start").value = "2000"
        screen.query_one("#stim-step").value = "1000"
        screen.query_one("#stim-ceiling").value = "20000"
        screen.query_one("#ramp-start", Button).press()
        await wait_for(pilot, lambda: screen.ramp is not None and screen.ramp.amplitude_ua >= 3000, 10, "the ramp")
        assert session.stim is not None and session.stim.state in ("armed", "stimulating")
        await press(pilot, "f")
        await wait_for(pilot, lambda: screen.ramp is not None and screen.ramp.amplitude_ua >= 5000, 10, "more ramp")
        await press(pilot, "c")
        await wait_for(pilot, lambda: screen.ramp is None and not screen.busy, 10, "the ramp to stop")
        th = screen.results.thresholds[0]
        assert th.sensory_ua is not None and th.motor_ua is not None
        assert 3000 <= th.sensory_ua < th.motor_ua <= 20000 and th.max_ua == min(20000, round(th.motor_ua * 1.5))
        # the provisional calibration is gone and the output is off
        await wait_for(pilot, lambda: session.stim is not None and session.stim.state in ("idle", "calibrated"), 5,
                       "stimulation off after the ramp")
        assert (await session.client.get_calibration(0)).max_ua == 0
        # save
        screen.show_step("step-save")
        screen.query_one("#subject").value = "tester"
        screen.query_one("#save", Button).press()
        await wait_for(pilot, lambda: logged(app, "Profile saved") and not screen.busy, 10, "the save")
        cal = await session.client.get_calibration(0)
        assert (cal.sensory_ua, cal.motor_ua, cal.max_ua) == (th.sensory_ua, th.motor_ua, th.max_ua)
        profile = json.loads(config.profile_path("tester").read_text())
        assert profile["stimulation"]["channels"]["0"]["motor_ua"] == th.motor_ua
        assert profile["stimulation"]["saved_on_garment"] == [0]
        assert len(profile["emg"]["rest_rms_uV"]) == 8 and "L_RF" in profile["emg"]["mvc_uV"]
        assert profile["garment"]["uid"] == session.info["uid"]
    assert app.internal_errors == []


async def test_estop_during_the_ramp_stops_it_and_restores_the_calibration(sim: object) -> None:
    timings = Timings(countdown_s=0, rest_s=0.5, mvc_s=0.5, ramp_step_s=0.1)
    app = GarmentApp(device=sim.url, timings=timings, start_mode="calibrate")  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        session = await connected(pilot)
        screen = app.screen
        before = await session.client.get_calibration(1)
        screen.show_step("step-stim")
        screen.query_one("#stim-channel").value = 1
        screen.query_one("#ramp-start", Button).press()
        await wait_for(pilot, lambda: screen.ramp is not None and screen.ramp.amplitude_ua >= 2000, 10, "the ramp")
        await press(pilot, "space")
        await wait_for(pilot, lambda: session.estop_latched, 5, "the E-STOP")
        await wait_for(pilot, lambda: not screen.busy, 5, "the ramp to end")
        assert 1 not in screen.results.thresholds or screen.results.thresholds[1].motor_ua is None
        assert await session.client.get_calibration(1) == before  # the provisional one is gone
        assert "E-STOP" in text_of(screen.query_one("#ramp-amp")), text_of(screen.query_one("#ramp-amp"))
        await press(pilot, "ctrl+r")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen", 3.0, "the reset dialog")
        await press(pilot, "y")
        await wait_for(pilot, lambda: not session.estop_latched, 5.0, "the reset")
    assert app.internal_errors == []
