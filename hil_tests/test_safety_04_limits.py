"""Behaviour 4: amplitude, pulse width, frequency and charge per phase are enforced by the
firmware whatever the host or the model asks; out-of-range requests are refused with an
error, never silently clamped (the configuration after a refusal is unchanged); model
outputs are clipped to the calibrated range."""
from __future__ import annotations

import asyncio

import pytest

from garment.client import DeviceError
from garment.protocol import wire
from rig import StimBench, calib, envelope_model, heartbeat, limits


# channel 0: max 15 mA at 300 us / 30 Hz; limits.max_charge_nc = 5000 (15 mA x 300 us = 4.5 uC)
@pytest.mark.parametrize(
    "ch,amp,width,freq,dur,field",
    [
        (0, 15001, 300, 30, 1000, "amplitude_ua"),  # above the calibrated maximum
        (0, 0, 300, 30, 1000, "amplitude_ua"),
        (0, 10000, 501, 30, 1000, "width_us"),  # above limits.max_width_us
        (0, 10000, 19, 30, 1000, "width_us"),  # below the hard minimum
        (0, 10000, 300, 9, 1000, "freq_hz"),  # below limits.min_freq_hz
        (0, 10000, 300, 101, 1000, "freq_hz"),  # above limits.max_freq_hz
        (0, 15000, 400, 30, 1000, "charge"),  # 6 uC per phase > limits.max_charge_nc
        (0, 10000, 300, 30, 0, "duration_ms"),
        (0, 10000, 300, 30, 60001, "duration_ms"),
        (9, 10000, 300, 30, 1000, "channel"),
    ],
)
async def test_out_of_range_train_refused_not_clamped(bench: StimBench, ch: int, amp: int, width: int, freq: int,
                                                      dur: int, field: str) -> None:
    g = bench.g
    await bench.calibrate(0, max_ua=15000, motor_ua=8000, sensory_ua=3000)
    await bench.set_limits(max_charge_nc=5000)
    async with heartbeat(g):
        await g.arm()
        before = (await g.stim_state(), await g.get_limits(), await g.get_calibration(0))
        with pytest.raises(DeviceError) as e:
            await g.stim_test(ch, amp, width, freq, dur)
        assert e.value.code == wire.E_OUT_OF_RANGE, e.value
        assert field in str(e.value), e.value
        await bench.let_time_pass(0.3)
        after = (await g.stim_state(), await g.get_limits(), await g.get_calibration(0))
        assert after == before
        assert bench.log.pulses == [] and (bench.rig is None or bench.rig.pulses() == [])
        # the same train within range does run (the refusal above was about the field)
        await g.stim_test(0, 10000, 300, 30, 500)
        await bench.wait_pulses(2, channel=0)


@pytest.mark.parametrize(
    "change,field",
    [
        (dict(max_ua=50001), "max_ua"),  # above limits.max_ua (default 50 mA)
        (dict(motor_ua=20001), "motor_ua"),  # above max
        (dict(sensory_ua=10001), "sensory_ua"),  # above motor
        (dict(width_us=501), "width_us"),
        (dict(freq_hz=5), "freq_hz"),
        (dict(freq_hz=150), "freq_hz"),
        (dict(area_mm2=0), "area_mm2"),
        (dict(channel=8), "channel"),
    ],
)
async def test_out_of_range_calibration_refused(bench: StimBench, change: dict[str, int], field: str) -> None:
    g = bench.g
    good = await bench.calibrate(0)
    bad = good.replace(**change)
    with pytest.raises(DeviceError) as e:
        await g.set_calibration(bad)
    assert e.value.code == wire.E_OUT_OF_RANGE and field in str(e.value), e.value
    assert await g.get_calibration(0) == good


@pytest.mark.parametrize(
    "change,field",
    [
        (dict(max_ua=100001), "max_ua"),
        (dict(max_width_us=1001), "max_width_us"),
        (dict(max_width_us=19), "max_width_us"),
        (dict(max_freq_hz=151), "max_freq_hz"),
        (dict(min_freq_hz=0), "min_freq_hz"),
        (dict(min_freq_hz=60, max_freq_hz=50), "min_freq_hz"),
        (dict(max_charge_nc=50001), "max_charge_nc"),
        (dict(slew_ua_per_s=99), "slew_ua_per_s"),
        (dict(heartbeat_ms=501), "heartbeat_ms"),
        (dict(heartbeat_ms=1000), "heartbeat_ms"),
        (dict(heartbeat_ms=49), "heartbeat_ms"),
        (dict(blank_us=499), "blank_us"),
        (dict(session_s=14401), "session_s"),
        (dict(dose_limit=0), "dose_limit"),
        # within the hard limits, but the stored calibration (20 mA at 300 us) would break
        (dict(max_ua=15000), "max_ua"),
        (dict(max_charge_nc=5000), "charge"),
    ],
)
async def test_out_of_range_limits_refused(bench: StimBench, change: dict[str, int], field: str) -> None:
    g = bench.g
    await bench.calibrate(0)
    before = await g.get_limits()
    with pytest.raises(DeviceError) as e:
        await g.set_limits(limits(before, **change))
    assert e.value.code == wire.E_OUT_OF_RANGE and field in str(e.value), e.value
    assert await g.get_limits() == before
    assert await g.get_calibration(0) == calib(0)


async def test_nothing_changes_while_armed(bench: StimBench) -> None:
    g = bench.g
    await bench.calibrate(0)
    async with heartbeat(g):
        await g.arm()
        lim = await g.get_limits()
        for req in (g.set_limits(limits(lim, max_ua=40000)), g.set_calibration(calib(0, max_ua=25000))):
            with pytest.raises(DeviceError) as e:
                await req
            assert e.value.code == wire.E_BAD_STATE
        assert await g.get_limits() == lim and await g.get_calibration(0) == calib(0)


async def test_model_outputs_are_clipped_to_the_calibrated_range(bench: StimBench) -> None:
    """A policy that asks for far more than the calibration (gain 16, max_mA 100) gets the
    calibrated maximum and no more; a weak activation gets at least the motor threshold."""
    rig = bench.need_rig()
    g = bench.g
    feeder = rig.feeder
    for ch in range(8):
        feeder.inject_onset(ch, 0.0)  # every muscle quiet
    cal = await bench.calibrate(0, max_ua=14000, motor_ua=9000, sensory_ua=4000)
    await bench.set_limits(slew_ua_per_s=200000)
    info = await g.upload_model(envelope_model(stim={
        "preset": "proportional",
        "params": {"gain": 16.0, "deadband": 0.1, "inputs": [0, 1, 2, 3], "max_mA": 100.0}}))
    assert info["verified"]
    bench.model_changed = True
    loop = asyncio.get_running_loop()
    async with heartbeat(g):
        await g.arm()
        feeder.inject_onset(0, 0.9)
        ps = await bench.wait_pulses(30, channel=0, timeout=15)
        feeder.inject_onset(0, 0.0)
        await loop.run_in_executor(None, rig.wait_afe, 1000)
    amps = [p.amplitude_ua for p in ps]
    assert max(amps) == cal.max_ua, amps  # clipped to the maximum, not refused, not beyond
    assert all(p.pulse.amplitude_ua <= cal.max_ua for p in bench.log.since(0, 0))
    assert all(p.amplitude_ua <= cal.max_ua for p in rig.pulses(None, 0))


async def test_policy_with_a_weak_activation_gets_the_motor_threshold(bench: StimBench) -> None:
    rig = bench.need_rig()
    g = bench.g
    feeder = rig.feeder
    for ch in range(8):
        feeder.inject_onset(ch, 0.0)
    cal = await bench.calibrate(0, max_ua=14000, motor_ua=9000, sensory_ua=4000)
    await bench.set_limits(slew_ua_per_s=1000000)
    # gain 0.05: the policy itself asks for about motor + 5% of the range
    await g.upload_model(envelope_model(stim={
        "preset": "proportional", "params": {"gain": 0.05, "deadband": 0.1, "inputs": [0, 1, 2, 3]}}))
    bench.model_changed = True
    async with heartbeat(g):
        await g.arm()
        feeder.inject_onset(0, 0.6)
        ps = await bench.wait_pulses(15, channel=0, timeout=15)
        feeder.inject_onset(0, 0.0)
    steady = [p.amplitude_ua for p in ps[5:]]
    assert all(cal.motor_ua <= a <= cal.motor_ua + (cal.max_ua - cal.motor_ua) // 10 for a in steady), steady

