"""GarmentSession without the interface: opened through garment.devices, every stimulation
state through the one callback, the requests the screens use."""
from __future__ import annotations

from garment.stimcontrol import Ramp, StimSettings
from garment.tui.session import GarmentSession


async def test_session_requests_and_the_one_stim_state_path() -> None:
    s = await GarmentSession.open("sim")
    try:
        assert s.sim is not None and s.sim.alive() and s.url == s.sim.url
        await s.start(background=False)
        assert s.stim is not None and s.stim.state == "idle"  # the probe's reply, through the callback
        assert s.client.on_stim_state == s._on_stim_state
        # a channel needs a calibration to arm; the threshold search brings a provisional one
        ramp = Ramp(StimSettings(start_ua=1000, step_ua=1000, ceiling_ua=3000, step_s=0.05))
        seen: list[str] = []
        ramp.on_step = lambda amp: seen.append(s.stim.state if s.stim else "?")
        res = await s.search_thresholds(0, ramp)
        assert res.reason == "ceiling" and seen and set(seen) <= {"armed", "stimulating"}
        # the disarm's reply reached the session by itself (nobody called ingest_stim_state)
        assert s.stim.state in ("idle", "calibrated") and s.stim.armed_mask == 0
        assert (await s.get_calibration(0)).max_ua == 0  # the provisional calibration is gone
        st = await s.estop()
        assert s.estop_latched and (st.state, st.fault) == ("fault", "estop")
        await s.fault_reset()
        assert not s.estop_latched
        transitions = [e.text for e in s.log.entries if e.source == "stim"]
        assert "stimulation armed" in transitions and "stimulation fault, fault estop" in transitions
        assert s.last_status is s.client.last_status
    finally:
        sim = s.sim
        await s.close()
    assert sim is not None and not sim.alive()
