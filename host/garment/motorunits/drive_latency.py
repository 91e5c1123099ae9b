"""Onset to the first stimulation pulse through the wire and the firmware: neural drive vs EMG amplitude.

On the simulated garment with its rig, one person (an HD phantom seed) rests, then contracts
to 25 %MVC in 0.3 s.  The garment's AFE gets eight bipolar pairs of the same grid (16 mm along
the fibres; the garment's own electrodes over the muscle), played by :class:`GridFeed`, so the
garment's sample clock keeps the time of both paths:

- *neural drive*: the host reads the 64 monopolar channels of that phantom batch by batch as the
  AFE converts them (:func:`afe_paced_batches`), tracks the motor units calibrated on a baseline
  of the same person, and sends the drive as ``T_ACTIVATION`` (:func:`.drive_link.stream_drive`);
- *EMG amplitude*: no host stream; the garment's own decoder
  (:func:`garment.models.presets.envelope_model`, MAV of the VL pair over 100 ms windows every
  20 ms) drives the same proportional policy.

Both are scaled to the calibration's hold (activation 1.0) and reach the same policy (deadband
0.1, calibrated range, slew), the same supervisor and stimulator.  Latency = AFE index of the
first pulse the garment reports on the channel (``RIG_PULSE``) minus the AFE index of the
drive's onset in the phantom.  Pulses before the onset are counted (``false_pulses``).
"""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator

import numpy as np

from garment.phantom.hd_phantom import HDResult, generate_hd

from .calibrate import Calibration, calibrate
from .drive import NeuralDrive, full_scale_hz
from .drive_link import DriveLog, stream_drive
from .playback import GridFeed
from .quality import kept_baseline_trains
from .tracker import MotorUnitTracker

FS = 2000  # the garment's 8-channel rate; the phantom is generated at it, so one clock serves both
REST_S, HOLD_S, LEVEL_TASK = 3.0, 2.0, "hold-mid"
IDLE_S = 1.0  # the part of the rest the feeder plays (back and forth) until a trial starts
COUNTER_MOD = 1 << 30
TAU_S = 0.15
STIM_CHANNEL = 0


def bipolar_pairs(r: HDResult, n: int = 8) -> np.ndarray:
    """(n, 2) channel pairs 16 mm apart along the fibres, the first over the middle column."""
    lay = r.layout
    ch = {int(s): i for i, s in enumerate(lay.sites)}
    mid = lay.cols // 2
    cols = [mid] + [c for c in range(lay.cols) if c != mid]
    out: list[tuple[int, int]] = []
    for r0 in (lay.rows // 2 - 2, lay.rows // 2 + 2, 1):
        for c in cols:
            a, b = r0 * lay.cols + c, (r0 + 2) * lay.cols + c
            if a in ch and b in ch and len(out) < n:
                out.append((ch[a], ch[b]))
    if len(out) < n:
        raise ValueError(f"grid {lay.name} has fewer than {n} bipolar pairs")
    return np.asarray(out)


def bipolar(emg_uV: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(n, len(pairs)) differences of the monopolar channels."""
    return (emg_uV[:, pairs[:, 0]] - emg_uV[:, pairs[:, 1]]).astype(np.float32)


@dataclass
class Person:
    """One phantom person: the baseline and its calibration, the onset trial, the scales."""

    seed: int
    cal: Calibration
    trial: HDResult
    onset: int  # trial sample of the drive's onset
    pairs: np.ndarray
    drive_full_scale_hz: float
    envelope_full_scale: int


def make_person(seed: int, calibrate_seconds: float = 8.0) -> Person:
    """Calibrate on a guided baseline (trapezoid at 20 %MVC) and make the onset trial of ``seed``."""
    from garment.dataset import UV_PER_CODE_G24, device_filter
    from garment.features.reference import FeatureConfig, compute_features

    base = generate_hd("trapezoid", calibrate_seconds, fs=FS, seed=seed, level=0.2, ramp_s=min(2.0, calibrate_seconds / 4))
    cal = calibrate(base.emg_uV, base.fs, base.layout.labels())
    trial = generate_hd("multitask", REST_S + HOLD_S, fs=FS, seed=seed, tasks=["rest", LEVEL_TASK], task_s=REST_S, rest_s=0.0)
    onset = int(np.argmax(trial.drive > 0))
    pairs = bipolar_pairs(base)
    fs_hz = full_scale_hz(kept_baseline_trains(cal), FS, base.emg_uV.shape[0], TAU_S)
    # The garment's MAV of the VL pair (its filters, its integer features) on the baseline's hold.
    codes = np.clip(np.rint(bipolar(base.emg_uV, pairs)[:, :1] / UV_PER_CODE_G24), -(2**23), 2**23 - 1).astype(np.int32)
    filt = device_filter(codes, FS)
    mav, ends = compute_features(filt, FeatureConfig(fs=FS, n_ch=1, window=FS // 10, increment=FS // 50, features=("MAV",)))
    hold = (base.drive[ends] >= 0.999 * 0.2)
    env = int(max(1, round(float(np.median(mav[hold, 0])))))
    return Person(seed, cal, trial, onset, pairs, fs_hz, env)


async def afe_paced_batches(feeder: Any, emg_uV: np.ndarray, afe_start: int, batch: int) -> AsyncIterator[np.ndarray]:
    """Batches of ``emg_uV`` (trial samples from 0), each handed out once the garment's AFE has
    converted its last sample (trial sample ``i`` is AFE conversion ``afe_start + i``)."""
    n = emg_uV.shape[0]
    for s in range(0, n, batch):
        e = min(n, s + batch)
        target = afe_start + e

        def ready(t: int = target) -> bool:
            with feeder.progress:
                return bool(feeder.progress.wait_for(
                    lambda: ((feeder.conversions - t) & (COUNTER_MOD - 1)) < COUNTER_MOD // 2, 10.0))

        if not await asyncio.to_thread(ready):
            raise RuntimeError("the simulated AFE stopped converting")
        yield emg_uV[s:e]


@dataclass
class Trial:
    """One trial's outcome (ms in the AFE's clock)."""

    path: str
    latency_ms: float | None
    false_pulses: int
    pulses: int
    amplitude_ua_max: int
    log: DriveLog | None = None
    state_after: str = ""  # the garment's stimulation state and fault after the trial


    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "latency_ms": self.latency_ms, "false_pulses": self.false_pulses,
                "pulses": self.pulses, "amplitude_ua_max": self.amplitude_ua_max, "state_after": self.state_after,
                **({"drive": self.log.summary()} if self.log is not None else {})}


async def start_trial(feeder: Any, feed: GridFeed, p: Person) -> tuple[int, int]:
    """Play the trial; returns (AFE index of trial sample 0, pulses so far)."""
    mark = len(feeder.pulses_since(0))
    with feeder.source_lock:
        feed.play(bipolar(p.trial.emg_uV, p.pairs))
    if not await asyncio.to_thread(feed.started.wait, 10.0):
        raise RuntimeError("the feeder did not start the trial")
    off = feeder.afe_offset
    if off is None or feed.trial_start is None:
        raise RuntimeError("the AFE's sample mapping is not known yet")
    return (feeder.source_base + feed.trial_start + off) & (COUNTER_MOD - 1), mark


async def _score(path: str, g: Any, feeder: Any, mark: int, afe0: int, p: Person, log: DriveLog | None) -> Trial:
    ps = [q for q in feeder.pulses_since(mark) if q.channel == STIM_CHANNEL]
    rel = [((q.afe_index - afe0) & (COUNTER_MOD - 1)) for q in ps]
    n = p.trial.emg_uV.shape[0]
    rel_in = [r for r in rel if r < n + FS]
    false = sum(r < p.onset for r in rel_in)
    after = [r for r in rel_in if r >= p.onset]
    lat = None if not after else round(1000.0 * (after[0] - p.onset) / FS, 1)
    st = await g.stim_state()
    return Trial(path, lat, false, len(rel_in), max((q.amplitude_ua for q in ps), default=0), log,
                 f"{st.state}/{st.fault}")


async def neural_drive_trial(g: Any, feeder: Any, feed: GridFeed, p: Person, batch_ms: float = 25.0,
                             adapt: bool = True) -> Trial:
    """One trial of the neural-drive path (the garment armed by the caller)."""
    # Built in a worker (its whitening is an eigendecomposition): the heartbeat keeps running.
    tr = await asyncio.to_thread(MotorUnitTracker, p.cal, adapt=adapt)
    afe0, mark = await start_trial(feeder, feed, p)
    nd = NeuralDrive(FS, TAU_S, full_scale_hz=p.drive_full_scale_hz)
    batch = max(1, int(batch_ms * FS / 1000))
    log = await stream_drive(g, afe_paced_batches(feeder, p.trial.emg_uV, afe0, batch), tr, nd)
    await wait_afe(feeder, FS // 2)
    return await _score("neural_drive", g, feeder, mark, afe0, p, log)


async def emg_amplitude_trial(g: Any, feeder: Any, feed: GridFeed, p: Person) -> Trial:
    """One trial of the garment's own EMG-amplitude decoder (its model uploaded by the caller)."""
    afe0, mark = await start_trial(feeder, feed, p)
    await wait_afe(feeder, p.trial.emg_uV.shape[0] + FS // 2)
    return await _score("emg_amplitude", g, feeder, mark, afe0, p, None)


async def wait_afe(feeder: Any, samples: int) -> None:
    def wait() -> bool:
        with feeder.progress:
            start = feeder.afe_total
            return bool(feeder.progress.wait_for(lambda: feeder.afe_total - start >= samples, 10.0 + samples / FS))

    if not await asyncio.to_thread(wait):
        raise RuntimeError("the simulated AFE stopped converting")


#: The garment's policy in both paths: input 0 (the VL drive, or the VL pair's envelope) -> channel 0.
POLICY = {"preset": "proportional", "params": {"gain": 1.0, "deadband": 0.1, "inputs": [0]}}
#: Channel 0's calibration (uA: sensory, motor, max comfortable; slew uA/s, width us, rate Hz).
STIM_CAL = (5000, 10000, 20000, 2500, 300, 30)


@contextlib.asynccontextmanager
async def drive_garment() -> AsyncIterator[tuple[Any, Any, GridFeed]]:
    """The simulated garment fed by a :class:`GridFeed`, authenticated, at 8 ch x ``FS``, channel 0 calibrated."""
    from garment.auth import ensure_authenticated
    from garment.client import StreamConfig
    from garment.devices import open_device
    from garment.sim import SimGarment
    from garment.stimulation import Calibration as StimCalibration

    feed = GridFeed(FS)
    async with open_device("sim", timeout=5.0, sim=SimGarment(source_factory=lambda fs: feed)) as conn:
        g, feeder = conn.client, conn.sim.feeder  # type: ignore[union-attr]
        await ensure_authenticated(g)
        await g.set_config(StreamConfig(fs=FS, channels=8))
        await g.set_calibration(StimCalibration(STIM_CHANNEL, *STIM_CAL))
        yield g, feeder, feed


async def meet(g: Any, feeder: Any, feed: GridFeed, p: Person) -> None:
    """Put ``p`` under the garment's electrodes (resting) and load the EMG-amplitude decoder scaled to them."""
    from garment.models.presets import envelope_model

    with feeder.source_lock:
        feed.set_idle(bipolar(p.trial.emg_uV[: int(IDLE_S * FS)], p.pairs))
    await g.upload_model(envelope_model(fs=FS, n_ch=8, outputs=1, full_scale=p.envelope_full_scale, stim=POLICY))
