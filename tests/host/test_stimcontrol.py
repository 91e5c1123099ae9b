"""The arm/test/disarm core (garment.stimcontrol) against the simulated garment, without
any interface: what reached the electrodes is read from the sim's stimulator (rig)."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator, Iterator

import pytest

from garment.auth import ensure_authenticated
from garment.client import DeviceError, GarmentClient
from garment.devices import open_device
from garment.protocol import wire
from garment.sim import SimGarment
from garment.sim.feeder import EmgFeeder
from garment.stimcontrol import Ramp, StimRefused, StimSettings, armed, finish, search_thresholds
from garment.stimulation import Calibration

PREVIOUS = Calibration(2, 4000, 9000, 15000, 2500, 300, 30)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimGarment]:
    s = SimGarment()
    s.start()
    yield s
    s.stop()


@pytest.fixture
async def g(sim: SimGarment) -> AsyncIterator[GarmentClient]:
    async with open_device("sim", timeout=5.0, sim=sim) as conn:
        await ensure_authenticated(conn.client)
        await conn.client.set_calibration(PREVIOUS)  # a channel with a calibration of its own
        yield conn.client
        await conn.client.disarm()
        await conn.client.set_calibration(Calibration(2, 0, 0, 0, 0, 0, 0))


def feeder(sim: SimGarment) -> EmgFeeder:
    assert sim.feeder is not None
    return sim.feeder


def afe_wait(sim: SimGarment, samples: int) -> None:
    f = feeder(sim)
    with f.progress:
        start = f.afe_total
        assert f.progress.wait_for(lambda: f.afe_total - start >= samples, 10)


async def test_threshold_search_ramps_stops_at_the_contraction_and_restores(sim: SimGarment, g: GarmentClient) -> None:
    mark = len(feeder(sim).pulses)
    steps: list[int] = []
    ramp = Ramp(StimSettings(start_ua=2000, step_ua=1000, ceiling_ua=20000, step_s=0.05), on_step=steps.append)
    # after the third step's train reached its amplitude (the rig saw it), the user feels a contraction
    loop = asyncio.get_running_loop()

    async def user() -> None:
        while len(steps) < 3:
            await asyncio.sleep(0.01)
        ok = await loop.run_in_executor(None, feeder(sim).wait_pulses,
                                        lambda ps: any(p.channel == 2 and p.amplitude_ua >= steps[2] for p in ps[mark:]), 10)
        assert ok, "the third step never reached its amplitude"
        ramp.contraction()

    res, _ = await asyncio.gather(search_thresholds(g, 2, ramp), user())
    assert (res.reason, res.motor_ua, res.sensory_ua) == ("motor", steps[2], steps[2]), res
    assert steps[:3] == [2000, 3000, 4000]
    st = await g.stim_state()
    assert st.state in ("idle", "calibrated") and st.armed_mask == 0, st  # disarmed after
    assert await g.get_calibration(2) == PREVIOUS  # the provisional calibration is gone
    afe_wait(sim, 400)
    pulses = [p for p in feeder(sim).pulses_since(mark) if p.channel == 2]
    assert pulses and max(p.amplitude_ua for p in pulses) <= steps[-1] <= 20000
    after = len(feeder(sim).pulses)
    afe_wait(sim, 400)
    assert len(feeder(sim).pulses) == after, "pulses went on after the search"


async def test_cancelled_search_disarms_then_restores_the_calibration(sim: SimGarment, g: GarmentClient) -> None:
    ramp = Ramp(StimSettings(start_ua=2000, step_ua=500, ceiling_ua=20000, step_s=1.0))
    task = asyncio.create_task(search_thresholds(g, 2, ramp))
    mark = len(feeder(sim).pulses)
    ok = await asyncio.get_running_loop().run_in_executor(
        None, feeder(sim).wait_pulses, lambda ps: any(p.channel == 2 for p in ps[mark:]), 10)
    assert ok, "the search never stimulated"
    task.cancel()
    task.cancel()  # a second cancel during the clean-up must not cut it short
    with pytest.raises(asyncio.CancelledError):
        await task
    st = await g.stim_state()
    assert st.armed_mask == 0 and st.state in ("idle", "calibrated"), st
    assert await g.get_calibration(2) == PREVIOUS
    after = len(feeder(sim).pulses)
    afe_wait(sim, 400)
    assert len(feeder(sim).pulses) == after


async def test_ceiling_above_the_limits_is_refused_before_anything_is_sent(sim: SimGarment, g: GarmentClient) -> None:
    lim = await g.get_limits()
    ramp = Ramp(StimSettings(ceiling_ua=lim.max_ua + 1))
    with pytest.raises(StimRefused, match="max_ua"):
        await search_thresholds(g, 2, ramp)
    assert await g.get_calibration(2) == PREVIOUS and ramp.amplitude_ua == 0
    assert (await g.stim_state()).armed_mask == 0


async def test_an_error_inside_armed_disarms_and_raises(sim: SimGarment, g: GarmentClient) -> None:
    with pytest.raises(DeviceError) as e:
        async with armed(g) as a:
            assert a.state is not None and a.state.state == "armed"
            await a.test(2, PREVIOUS.max_ua + 1, 300, 30, 1000)  # above the calibration: refused
    assert e.value.code == wire.E_OUT_OF_RANGE
    assert (await g.stim_state()).armed_mask == 0


async def test_finish_runs_the_clean_up_to_its_end_through_cancellations() -> None:
    done = asyncio.Event()
    release = asyncio.Event()

    async def clean_up() -> str:
        await release.wait()
        done.set()
        return "ok"

    async def worker() -> None:
        await finish(clean_up())

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    for _ in range(3):
        task.cancel()
        await asyncio.sleep(0)
    assert not task.done() and not done.is_set()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done.is_set()
