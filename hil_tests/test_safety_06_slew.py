"""Behaviour 6: amplitude rises no faster than the configured slew; decreases and stops
are immediate."""
from __future__ import annotations

import asyncio
import time

import pytest

from rig import StimBench, envelope_model, heartbeat, wrap_us


@pytest.mark.parametrize("slew", [5000, 20000, 100000])
async def test_rise_follows_the_slew(bench: StimBench, slew: int) -> None:
    g = bench.g
    await bench.calibrate(0)
    await bench.set_limits(slew_ua_per_s=slew)
    target = 12000
    async with heartbeat(g):
        await g.arm()
        t0 = time.monotonic()
        await g.stim_test(0, target, 300, 30, 10000)
        ps = await bench.wait_amplitude(0, target, timeout=target / slew + 5)
        t_reached = time.monotonic()
        await g.disarm()
    amps = [p.amplitude_ua for p in ps]
    # the first pulse of the start: at most one period (+ a loop pass) of slew above zero
    assert amps[0] <= slew * 0.030 + 1, amps[:3]
    for a, b in zip(ps, ps[1:]):
        dt = wrap_us(b.t_us, a.t_us)
        assert dt > 0
        assert b.amplitude_ua - a.amplitude_ua <= slew * dt // 1_000_000 + 1, (a, b, slew)
    assert amps[-1] == target and max(amps) == target  # reached exactly, never beyond
    # and not faster than the slew allows overall (device clock): target / slew
    span_s = wrap_us(ps[-1].t_us, ps[0].t_us) / 1e6
    assert span_s >= (target - amps[0]) / slew - 0.001, (span_s, target / slew)
    assert t_reached - t0 >= target / slew - 0.05


async def test_decreases_and_stops_are_immediate(bench: StimBench) -> None:
    """Closed loop (envelope model, proportional): the effort drops -> the amplitude drops at
    the next pulse by far more than the slow slew would allow on the way up; disarm -> no
    further pulse."""
    rig = bench.need_rig()
    g = bench.g
    feeder = rig.feeder
    for ch in range(8):
        feeder.inject_onset(ch, 0.0)
    rig.set_fatigue(0.0)  # rested: the default blank window covers their M-waves (test_safety_11)
    slew = 5000
    # 20 Hz: the blank window (the muscles' measured answer, ~27 ms with its crosstalk)
    # leaves the decoder half of every period to read the effort from
    cal = await bench.calibrate(0, max_ua=20000, motor_ua=8000, sensory_ua=3000, freq_hz=20)
    # the default blank window hides the evoked M-waves from the decoder (test_safety_11),
    # which sees the effort only between them, hence the high gain: strong effort saturates
    await bench.set_limits(slew_ua_per_s=slew)
    await g.upload_model(envelope_model(stim={
        "preset": "proportional", "params": {"gain": 8.0, "deadband": 0.05, "inputs": [0, 1, 2, 3]}}))
    bench.model_changed = True
    loop = asyncio.get_running_loop()
    async with heartbeat(g):
        await g.arm()
        feeder.inject_onset(0, 0.9)  # strong effort: target at the maximum
        ps = await bench.wait_amplitude(0, cal.max_ua, timeout=15)
        mark = bench.log.mark()
        feeder.inject_onset(0, 0.1)  # weak effort: target near the motor threshold
        await loop.run_in_executor(None, rig.wait_afe, 1200)
        down = [p.pulse for p in bench.log.since(mark, 0)]
        drops = [(a.amplitude_ua - b.amplitude_ua, wrap_us(b.t_us, a.t_us)) for a, b in zip([ps[-1]] + down, down)]
        fast = [d for d, dt in drops if d > slew * dt // 1_000_000 + 1]
        assert fast, f"the amplitude came down no faster than the slew: {drops}"
        assert min(p.amplitude_ua for p in down) < cal.max_ua - 4000, [p.amplitude_ua for p in down]
        # stop: disarm, and not one pulse after its answer
        rig_mark = rig.mark()
        await g.disarm()
        t1 = time.monotonic()
        await loop.run_in_executor(None, rig.wait_afe, 400)
    after = [rig.host_time(p) - t1 for p in rig.pulses(rig_mark)]
    assert all(d <= 0.001 for d in after), after
    feeder.inject_onset(0, 0.0)
