"""Behaviour 9: a configuration whose rms current density exceeds 2 mA/cm^2 for the declared
electrode area is refused; infeasible multi-channel timing is refused loudly."""
from __future__ import annotations

import math

import pytest

from garment.client import DeviceError
from garment.protocol import wire
from rig import StimBench, calib, heartbeat, limits


def density_ma_cm2(amp_ua: int, width_us: int, freq_hz: int, area_mm2: int) -> float:
    return amp_ua / 1000 * math.sqrt(2 * width_us * 1e-6 * freq_hz) / (area_mm2 / 100)


async def test_calibration_above_2ma_per_cm2_is_refused(bench: StimBench) -> None:
    g = bench.g
    ok = await bench.calibrate(0, area_mm2=500)  # 20 mA, 300 us, 30 Hz on 5 cm^2: 0.54 mA/cm^2
    assert density_ma_cm2(20000, 300, 30, 500) < 2
    small = calib(0, area_mm2=100)  # on 1 cm^2: 2.7 mA/cm^2
    assert density_ma_cm2(20000, 300, 30, 100) > 2
    with pytest.raises(DeviceError) as e:
        await g.set_calibration(small)
    assert e.value.code == wire.E_OUT_OF_RANGE and "density" in str(e.value), e.value
    assert await g.get_calibration(0) == ok
    # just under and just over the line, by area (20 mA, 300 us, 30 Hz: 2.68 mA rms)
    edge = math.ceil(20 * math.sqrt(2 * 300e-6 * 30) / 2 * 100)  # mm^2 for exactly <= 2 mA/cm^2
    await g.set_calibration(calib(0, area_mm2=edge))
    with pytest.raises(DeviceError) as e:
        await g.set_calibration(calib(0, area_mm2=edge - 1))
    assert "density" in str(e.value)
    assert (await g.get_calibration(0)).area_mm2 == edge


async def test_test_train_above_the_density_is_refused(bench: StimBench) -> None:
    """Calibrated at 300 us / 30 Hz on 1.6 cm^2 (fine), a test train at 500 us / 100 Hz
    with the calibrated maximum exceeds 2 mA/cm^2 and is refused."""
    g = bench.g
    await bench.calibrate(0, area_mm2=160)
    assert density_ma_cm2(20000, 300, 30, 160) < 2 < density_ma_cm2(20000, 500, 100, 160)
    async with heartbeat(g):
        await g.arm()
        with pytest.raises(DeviceError) as e:
            await g.stim_test(0, 20000, 500, 100, 1000)
        assert e.value.code == wire.E_OUT_OF_RANGE and "density" in str(e.value)
        await bench.let_time_pass(0.2)
        assert bench.log.pulses == []


async def test_infeasible_multichannel_timing_is_refused(bench: StimBench) -> None:
    """Channels at one frequency fire in one burst that one blank window covers (default
    24 ms + 2.5 ms margins after the burst); the EMG must show between bursts. Four
    channels of 670 us at 30 Hz fit (2.7 + 24 + 2.5 of 33.3 ms); a 4th channel at 60 Hz,
    a 30 ms window or a 100 Hz test train would leave the decoder no EMG."""
    g = bench.g
    if bench.n < 4:
        pytest.skip(f"needs 4 stimulation channels, the garment has {bench.n}")
    for ch in range(3):
        await bench.calibrate(ch)
    with pytest.raises(DeviceError) as e:
        await g.set_calibration(calib(3, freq_hz=60))
    assert e.value.code == wire.E_OUT_OF_RANGE and "infeasible timing" in str(e.value), e.value
    assert (await g.get_calibration(3)).max_ua == 0
    await bench.calibrate(3)  # at 30 Hz it fits
    # a longer blank window would make the same four channels infeasible: refused
    before = await g.get_limits()
    with pytest.raises(DeviceError) as e:
        await g.set_limits(limits(before, blank_us=30000))
    assert "infeasible timing" in str(e.value)
    assert await g.get_limits() == before
    # and a test train whose bursts would leave no EMG between them
    async with heartbeat(g):
        await g.arm()
        with pytest.raises(DeviceError) as e:
            await g.stim_test(0, 12000, 500, 100, 1000)
        assert e.value.code == wire.E_OUT_OF_RANGE and "infeasible timing" in str(e.value), e.value


async def test_delivered_pulses_never_overlap(bench: StimBench) -> None:
    """Four channels at once: no pulse starts before the previous one (2 x width + gap) ended."""
    g = bench.g
    chans = list(range(min(bench.n, 4)))
    for ch in chans:
        await bench.calibrate(ch)
    await bench.set_limits(slew_ua_per_s=200000)
    async with heartbeat(g):
        await g.arm()
        for ch in chans:
            await g.stim_test(ch, 12000, 300, 30, 2000)
        await bench.wait_pulses(40, channel=chans[-1])
        await g.disarm()
    ps = sorted((p.pulse for p in bench.log.since()), key=lambda p: p.t_us)
    assert {p.channel for p in ps} == set(chans)
    for a, b in zip(ps, ps[1:]):
        assert b.t_us - a.t_us >= 2 * a.width_us + a.interphase_us, (a, b)
