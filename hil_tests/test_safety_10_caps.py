"""Behaviour 10: session-duration and rolling-dose caps; low battery -> off."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from garment.client import DeviceError
from garment.protocol import wire
from garment.sim import SimGarment
from rig import StimBench, calib, heartbeat, limits, own_garment, sync_uptime


async def test_session_cap(bench: StimBench) -> None:
    g = bench.g
    await bench.calibrate(0)
    await bench.set_limits(session_s=2)
    await sync_uptime(g, bench.log.ms)
    async with heartbeat(g):
        t0 = time.monotonic()
        await g.arm()
        t1 = time.monotonic()
        await g.stim_test(0, 12000, 300, 30, 10000)
        t_state, st = await bench.wait_state(lambda s: s.state == "fault", timeout=5, what="the session cap")
        assert st.fault == "session", st
        ev = bench.event("FAULT session")
        assert ev is not None
        await sync_uptime(g, bench.log.ms, rounds=4)
        t_trip = bench.event_host_time(ev)
        err = bench.log.ms.error_s or 0.0
        assert t0 + 2.0 - err - 0.001 <= t_trip <= t1 + 2.0 + 0.1 + err, (t_trip - t0)
        mark = bench.log.mark()
        await bench.let_time_pass(0.3)
        assert bench.log.since(mark) == []
        times = bench.pulse_times(0)
        assert times and max(times) <= t_trip + err + 0.002
        with pytest.raises(DeviceError) as e:
            await g.arm()
        assert e.value.code == wire.E_BAD_STATE
        await g.fault_reset()
        assert (await g.arm()).state == "armed"  # a new session


async def test_dose_cap(rig: SimGarment, tmp_path: Path) -> None:
    """A fresh garment (its rolling 10-minute dose starts at zero): limits.dose_limit = 300 uC
    of charge per phase; 12 mA x 300 us pulses (3.6 uC) at 30 Hz reach it in about 3 s."""
    async with own_garment(tmp_path) as (sim, r, g):
        await g.set_calibration(calib(0))
        await g.set_limits(limits(await g.get_limits(), dose_limit=300, slew_ua_per_s=1000000))
        async with heartbeat(g):
            await g.arm()
            await g.stim_test(0, 12000, 300, 30, 20000)
            deadline = time.monotonic() + 10
            while (st := await g.stim_state()).state != "fault":
                assert time.monotonic() < deadline, "the dose cap never tripped"
                r.wait_afe(100)
            assert st.fault == "dose", st
            r.wait_afe(400)
            delivered_uc = sum(p.amplitude_ua * p.width_us for p in r.pulses()) / 1e6
            assert 300 - 3.6 <= delivered_uc <= 300 + 3.6, delivered_uc
            await g.fault_reset()
            with pytest.raises(DeviceError) as e:
                await g.arm()  # the window still holds 300 uC
            assert e.value.code == wire.E_BAD_STATE and "dose" in str(e.value)
            await g.set_limits(limits(await g.get_limits(), dose_limit=1000))
            assert (await g.arm()).state == "armed"


async def test_low_battery_switches_off(bench: StimBench) -> None:
    rig = bench.need_rig()
    g = bench.g
    rig.set_battery(3999)
    await bench.let_time_pass(0.1)
    # the rig's battery message reaches the board (a failure here is a broken rig, not a skip)
    assert (await g.status()).battery_mv == 3999
    try:
        await bench.calibrate(0)
        async with heartbeat(g):
            await g.arm()
            await g.stim_test(0, 12000, 300, 30, 20000)
            rig.wait_pulses(4, channel=0)
            mark = rig.mark()
            t0 = time.monotonic()
            rig.set_battery(3300)
            t_state, st = await bench.wait_state(lambda s: s.state == "fault", timeout=3, what="the battery fault")
            assert st.fault == "battery", st
            # three readings 250 ms apart: off within a second of the drop
            assert t_state - t0 <= 1.0
            await bench.let_time_pass(0.2)
            assert all(rig.host_time(p) <= t_state for p in rig.pulses(mark))
            with pytest.raises(DeviceError) as e:
                await g.fault_reset()
            assert "battery" in str(e.value)
            rig.set_battery(4000)
            await bench.let_time_pass(0.1)
            await g.fault_reset()
            # a single sagging reading does not trip it
            await g.arm()
            await g.stim_test(0, 12000, 300, 30, 3000)
            rig.set_battery(3300)
            await bench.let_time_pass(0.05)
            rig.set_battery(4000)
            await bench.let_time_pass(1.0)
            assert (await g.stim_state()).fault == "none"
        # and arming on a low battery is refused
        rig.set_battery(3300)
        await bench.let_time_pass(0.1)
        await g.disarm()
        async with heartbeat(g):
            with pytest.raises(DeviceError) as e:
                await g.arm()
            assert "battery" in str(e.value)
    finally:
        rig.set_battery(4000)
