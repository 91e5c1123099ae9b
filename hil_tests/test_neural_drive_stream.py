"""The muscle's neural drive from the live motor-unit tracker, streamed to the simulated garment as its
activation: it stimulates only after the phantom's contraction starts, ramped and within the
calibration, stops when the stream stops, and the E-STOP ends it as it ends any stimulation.

The person is an HD phantom (calibrated on a baseline, then resting and contracting); the garment's
AFE gets eight bipolar pairs of the same grid, so its sample clock times the drive's onset and the
pulses it reports (``garment.motorunits.drive_latency``)."""
from __future__ import annotations

import asyncio

import pytest

from garment.client import DeviceError
from garment.contracts import load_contract
from garment.motorunits import drive_latency as dl
from garment.protocol import wire
from garment.stimcontrol import armed
from rig import US_MOD

PERIOD_S = load_contract("budget").PERIOD_MS / 1000  # the stimulation service's control period


@pytest.fixture(scope="module")
def person():
    return dl.make_person(seed=2, calibrate_seconds=6.0)


async def test_neural_drive_stream_stimulates_from_the_contraction_only_and_stops_with_it(device_spec, person):
    if device_spec != "sim":
        pytest.skip("needs the simulated garment's rig (its AFE is fed the phantom the drive is tracked on)")
    p = person
    async with dl.drive_garment() as (g, feeder, feed):
        await dl.meet(g, feeder, feed, p)
        async with armed(g, heartbeat_s=0.1):
            t = await dl.neural_drive_trial(g, feeder, feed, p, batch_ms=25.0)
            assert t.false_pulses == 0  # nothing during the rest: nobody asked
            assert t.latency_ms is not None and t.latency_ms > 0
            assert t.log is not None and t.log.summary()["activation_max"] > 0.5
            ps = [q for q in feeder.pulses_since(0) if q.channel == dl.STIM_CHANNEL]
            max_ua = dl.STIM_CAL[2]
            assert ps and all(q.amplitude_ua <= max_ua for q in ps)
            # Ramped from zero by the slew: no pulse rises above the one before by more than the slew
            # allows in between (plus one control period). A drive that went stale on a loaded host
            # zeroes the output and ramps again: CI once saw the last pulse at 215 uA after 271 at first.
            slew = (await g.get_limits()).slew_ua_per_s
            assert ps[0].amplitude_ua < max(q.amplitude_ua for q in ps)
            for a, b in zip(ps, ps[1:]):
                dt_s = ((b.t_us - a.t_us) % US_MOD) / 1e6
                assert b.amplitude_ua - a.amplitude_ua <= slew * (dt_s + PERIOD_S), (a, b, slew)
            # The stream ended with the trial: stale after ACTIVATION_STALE_MS, then quiet (still armed).
            n = len(feeder.pulses_since(0))
            await dl.wait_afe(feeder, dl.FS // 2)
            assert len(feeder.pulses_since(0)) == n
            st = await g.stim_state()
            assert st.state == "armed" and st.fault == "none" and not any(st.amplitude_ua)

        # E-STOP while the drive streams: the pulses end and the stream is refused from then on.
        async with armed(g, heartbeat_s=0.1):
            stopped: list[int] = []

            async def estop_on_hold(res, act) -> None:
                if not stopped and res.end_sample > p.onset + dl.FS:
                    await g.estop()
                    stopped.append(feeder.conversions)

            with pytest.raises(DeviceError) as e:
                await _trial_with(g, feeder, feed, p, estop_on_hold)
            assert e.value.code == wire.E_BAD_STATE and stopped
            await dl.wait_afe(feeder, dl.FS // 4)
            late = [q for q in feeder.pulses_since(0)
                    if q.channel == dl.STIM_CHANNEL and ((q.afe_index - stopped[0]) & (dl.COUNTER_MOD - 1)) < dl.COUNTER_MOD // 2
                    and ((q.afe_index - stopped[0]) & (dl.COUNTER_MOD - 1)) > dl.FS // 100]
            assert late == []  # none later than 10 ms after the E-STOP was acknowledged
            assert (await g.stim_state()).state == "fault"
            await g.fault_reset()


async def _trial_with(g, feeder, feed, p, on_batch) -> None:
    from garment.motorunits import MotorUnitTracker, NeuralDrive
    from garment.motorunits.drive_link import stream_drive

    tr = await asyncio.to_thread(MotorUnitTracker, p.cal)  # in a worker: the heartbeat keeps running
    afe0, _ = await dl.start_trial(feeder, feed, p)
    nd = NeuralDrive(dl.FS, dl.TAU_S, full_scale_hz=p.drive_full_scale_hz)
    await stream_drive(g, dl.afe_paced_batches(feeder, p.trial.emg_uV, afe0, dl.FS // 40), tr, nd, on_batch=on_batch)
