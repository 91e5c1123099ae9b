"""The closed-loop latency measurement: EMG onset -> first stimulation pulse.

End to end on a garment with a rig (the simulated one): the rig steps the drive of a
muscle of the EMG phantom at a known feeder sample, the AFE converts it at a known
conversion index, the on-device decoder (:func:`garment.models.presets.envelope_model`)
and its proportional policy turn it into a target amplitude, and the stimulator reports
its first pulse (``RIG_PULSE``, with the AFE index at that moment). Latency = (pulse AFE
index - onset AFE index) / fs. The first pulse of a start comes at most
``FIRST_PULSE_US`` (10 ms) after the target changes, so the figure includes that
scheduling delay, as a user would feel it.

Used by ``garment bench latency`` and ``benchmarks/bench_latency.py``; the arming,
heartbeat and disarming are :mod:`garment.stimcontrol`'s.
"""
from __future__ import annotations

import asyncio
import contextlib
import statistics
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import numpy as np

from garment.client import GarmentClient, StreamConfig
from garment.models.presets import envelope_model
from garment.protocol import wire
from garment.sim import SimGarment
from garment.stimcontrol import armed
from garment.stimulation import Calibration

__all__ = ["LatencyError", "LatencyResult", "latency_garment", "measure_latency"]


class LatencyError(RuntimeError):
    """The measurement cannot run (no rig, the simulated AFE stopped)."""


@dataclass
class LatencyResult:
    latencies_ms: list[float]
    trials: int
    failed: int
    notes: list[str]

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        med = statistics.median(lat) if lat else float("nan")
        p99 = float(np.percentile(lat, 99)) if lat else float("nan")
        return {"median_ms": round(med, 1), "p99_ms": round(p99, 1), "trials": len(lat)}


@contextlib.asynccontextmanager
async def latency_garment(device: str = "sim") -> AsyncIterator[tuple[GarmentClient, SimGarment]]:
    """A garment with a rig: ``sim``, started here on a quiet phantom (a hardware rig
    that injects onsets does not exist: anything else is refused)."""
    from garment.devices import open_device

    if device != "sim":
        raise LatencyError("the latency benchmark needs the HIL rig to inject EMG onsets: use --device sim")

    def quiet(fs: int) -> Any:
        from garment.phantom import PhantomStream

        return PhantomStream("rest", fs=fs, channels=8, seed=7)

    async with open_device("sim", timeout=5.0, sim=SimGarment(source_factory=quiet)) as conn:
        assert conn.sim is not None
        yield conn.client, conn.sim


async def measure_latency(g: GarmentClient, sim: SimGarment, trials: int, channel: int = 0,
                          level: float = 0.5, progress: Callable[[str], None] | None = None) -> LatencyResult:
    """Onset -> first pulse latency over ``trials`` onsets on ``channel`` (see the module doc)."""
    from garment.auth import ensure_authenticated

    feeder = sim.feeder
    if feeder is None:
        raise LatencyError("the simulated garment runs without its EMG feeder")
    await ensure_authenticated(g)
    fs = 2000
    await g.set_config(StreamConfig(fs=fs, channels=8))
    await g.upload_model(envelope_model(fs=fs, n_ch=8))
    await g.set_calibration(Calibration(channel, 5000, 10000, 20000, 2500, 300, 30))
    # The device's own limits: its blank window keeps the decoder from reading the
    # muscle's evoked M-waves as effort, so the loop falls quiet between trials; it does
    # not touch the measurement (a trial's first pulse has no blank window before it).
    notes: list[str] = []
    lat: list[float] = []
    failed = 0
    loop = asyncio.get_running_loop()
    feeder.inject_onset(channel, 0.0)  # hold the muscle quiet
    await _afe_wait(feeder, int(0.3 * fs))
    untimed = 0  # trials the rig could not time (the AFE ran dry meanwhile): run again, up to `trials` more
    k = -1
    async with armed(g, heartbeat_s=0.1) as a:
        while len(lat) + failed < trials and untimed <= trials:
            k += 1
            await _afe_wait(feeder, int(0.4 * fs))  # rest: the envelope window empties
            if not await _quiet(feeder, channel, fs):
                notes.append(f"trial {k}: still stimulating after the rest; re-armed")
                await a.rearm()
                await _afe_wait(feeder, int(0.2 * fs))
            mark = len(feeder.pulses_since(0))
            sample = feeder.inject_onset(channel, level, delay_s=0.002)
            off0 = feeder.afe_offset
            got = await loop.run_in_executor(
                None, feeder.wait_pulses,
                lambda ps, m=mark: any(p.channel == channel for p in ps[m:]), 2.0)
            off1 = feeder.afe_offset
            onset_idx = None if off0 is None else sample + off0
            # the feeder->AFE mapping is read from the sim's reports (+-1 sample of jitter);
            # a bigger move means the AFE ran dry in between: the trial cannot be timed
            moved = off0 is None or off1 is None or abs(off1 - off0) > 2
            if not got:
                failed += 1
                notes.append(f"trial {k}: no pulse within 2 s")
            elif onset_idx is None or moved:
                untimed += 1
                notes.append(f"trial {k}: not timed, run again (AFE/feeder mapping moved: {off0} -> {off1})")
            else:
                first = next(p for p in feeder.pulses_since(mark) if p.channel == channel)
                d = (first.afe_index - onset_idx) & (wire.COUNTER_MOD - 1)
                lat.append(d * 1000.0 / fs)
            feeder.inject_onset(channel, 0.0)  # release: the loop must stop on its own
            await _afe_wait(feeder, int(0.1 * fs))
            if progress is not None and lat:
                progress(f"trial {len(lat) + failed}/{trials}: {lat[-1]:.1f} ms")
            st = await g.stim_state()
            if st.state == "fault":
                notes.append(f"trial {k}: fault {st.fault}; re-armed")
                await a.rearm()
    if len(lat) + failed < trials:  # the rig could not time enough trials: those count as failed
        failed = trials - len(lat)
    return LatencyResult(lat, trials, failed, notes)


async def _quiet(feeder: Any, channel: int, fs: int) -> bool:
    """True if no pulse on ``channel`` during the next 0.1 s of AFE time."""
    mark = len(feeder.pulses_since(0))
    await _afe_wait(feeder, fs // 10)
    return not any(p.channel == channel for p in feeder.pulses_since(mark))


async def _afe_wait(feeder: Any, samples: int, timeout: float = 10.0) -> None:
    """Let ``samples`` AFE conversions pass (waits on the feeder's AFE reports)."""
    def wait() -> bool:
        with feeder.progress:
            start = feeder.afe_total
            return bool(feeder.progress.wait_for(lambda: feeder.afe_total - start >= samples, timeout))

    if not await asyncio.get_running_loop().run_in_executor(None, wait):
        raise LatencyError("the simulated AFE stopped converting")
