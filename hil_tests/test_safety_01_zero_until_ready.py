"""Behaviour 1: output stays zero until calibration exists, a verified model is loaded and
the host explicitly arms; every start ramps from zero."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from garment.client import DeviceError
from garment.protocol import wire
from garment.sim import SimGarment
from rig import PulseLog, StimBench, calib, envelope_model, heartbeat, own_garment

#: the first pulse of a start comes within one period (<= 33 ms at 30 Hz; 10 ms at most
#: for a start) plus a loop pass; at the default 20 mA/s it cannot exceed this
FIRST_PULSE_MAX_UA = 20000 * 30 // 1000


async def test_no_output_without_calibration(bench: StimBench) -> None:
    g = bench.g
    st = await g.stim_state()
    assert st.state == "idle" and st.armed_mask == 0
    with pytest.raises(DeviceError) as e:
        await g.arm()
    assert e.value.code == wire.E_BAD_STATE and "calibrat" in str(e.value)
    with pytest.raises(DeviceError) as e:
        await g.stim_test(0, 5000, 300, 30, 1000)
    assert e.value.code == wire.E_BAD_STATE
    rig_mark = bench.rig.mark() if bench.rig else 0
    async with heartbeat(g):
        await bench.let_time_pass(0.5)
    assert bench.log.pulses == []
    if bench.rig is not None:
        assert bench.rig.pulses(rig_mark) == []
    assert (await g.stim_state()).amplitude_ua == (0,) * 8


async def test_no_output_until_armed(bench: StimBench) -> None:
    g = bench.g
    await bench.calibrate(0)
    st = await g.stim_state()
    assert st.state == "calibrated" and st.armed_mask == 0
    with pytest.raises(DeviceError) as e:
        await g.stim_test(0, 15000, 300, 30, 1000)
    assert e.value.code == wire.E_BAD_STATE and "not armed" in str(e.value)
    async with heartbeat(g):
        await bench.let_time_pass(0.5)
    assert bench.log.pulses == []
    if bench.rig is not None:
        assert bench.rig.pulses() == []
    # armed, it does stimulate: the test above could have failed
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, 15000, 300, 30, 1000)
        ps = await bench.wait_pulses(3, channel=0)
    assert ps[0].amplitude_ua <= FIRST_PULSE_MAX_UA


async def test_every_start_ramps_from_zero(bench: StimBench) -> None:
    """Test trains, a second train over a running one, and starts after a disarm, an
    E-stop and a fault reset: the first pulse of each is near zero, then it rises."""
    g = bench.g
    await bench.calibrate(0)
    await bench.set_limits(slew_ua_per_s=100000)  # 15 mA in 150 ms: quick tests
    firsts = []
    async with heartbeat(g):
        for how in ("first", "over a running train", "after disarm", "after estop"):
            if how == "after disarm":
                await g.disarm()
            elif how == "after estop":
                await g.estop()
                await g.fault_reset()
            if how != "over a running train":
                await g.arm()
            await g.stim_test(0, 15000, 300, 30, 5000)
            # the garment sends the old train's pulses before its reply (an ordered link),
            # and the new train's first pulse >= 10 ms after it: this mark splits them
            mark = bench.log.mark()
            ps = await bench.wait_amplitude(0, 15000, mark)
            firsts.append((how, ps[0].amplitude_ua, len(ps)))
            assert ps[0].amplitude_ua <= 100000 * 30 // 1000 + 1, (how, ps[:3])
            assert len(ps) >= 3, (how, ps)  # a ramp, not a jump
            assert all(a.amplitude_ua <= b.amplitude_ua for a, b in zip(ps, ps[1:])), (how, ps)
    assert len(firsts) == 4


async def test_closed_loop_needs_a_verified_model(rig: SimGarment, tmp_path: Path) -> None:
    """A fresh garment (no model): calibrated and armed, an EMG onset stimulates nothing;
    with the envelope model loaded the same onset does, ramping from zero."""
    async with own_garment(tmp_path, timeout=5) as (sim, r, g):
        assert (await g.model_info())["verified"] is False
        log = PulseLog(g)
        r.feeder.inject_onset(0, 0.0)
        await g.set_calibration(calib(0))
        async with heartbeat(g):
            await g.arm()
            r.feeder.inject_onset(0, 0.7)
            await asyncio.get_running_loop().run_in_executor(None, r.wait_afe, 2000)  # 1 s of EMG
            assert log.pulses == [] and r.pulses() == []
            await g.disarm()
            r.feeder.inject_onset(0, 0.0)
            info = await g.upload_model(envelope_model())
            assert info["verified"]
            await g.arm()
            r.feeder.inject_onset(0, 0.7)
            got = await log.wait_pulses(10, channel=0, timeout=10)
        amps = [p.pulse.amplitude_ua for p in got]
        assert amps[0] <= FIRST_PULSE_MAX_UA, amps[:5]
        assert all(a <= b for a, b in zip(amps, amps[1:])), amps
        assert max(amps) <= calib(0).max_ua
