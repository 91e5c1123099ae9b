"""Live motor units on the simulated HD garment: its 64-channel stream over the link, scored on the phantom's truth.

The ``sim-hd`` garment (8 daisy-chained ADS1299 models, the 13 x 5 grid at 2048 Hz) is fed by a
:class:`.playback.GridFeed` that plays, on request, the person's guided baseline and then the
task (:class:`.source.PhantomHDSource`: same seed, same muscle and units).  The host records the
baseline from the garment's stream, decomposes it, then tracks the task as the stream delivers
it, in batches of at most 100 ms.  Every streamed sample carries the AFE's conversion index;
the feeder maps it to the recording's sample (:meth:`Playback.trial_index`), so each tracked
unit is scored against the phantom's discharges of exactly the samples the garment streamed.
"""
from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np

from .playback import GridFeed
from .source import PhantomHDSource

HD_INPUTS = 64


#: Channels whose values find a streamed sample in the recording (a raw sample matches to the AFE's LSB).
KEY_CHANNELS = (5, 30, 55)
MATCH_UV = 0.1  # 3 channels within 0.1 uV: the recording's sample (its LSB is ~0.02 uV; neighbours differ by uV)
#: The share of a baseline the link may lose (interpolated) before it is refused: interpolated
#: stretches carry no discharges, so a lossy baseline calibrates units on a signal that was not there.
MAX_BASELINE_LOSS = 0.01


def check_baseline_loss(dropped: int, n: int) -> None:
    """Refuse a baseline recording the link lost more than :data:`MAX_BASELINE_LOSS` of.

    Raises:
        CalibrationError: with the loss, so the user records again rather than reading
            "no motor unit" as a contraction or contact problem.
    """
    from .calibrate import CalibrationError

    if n <= 0 or dropped > MAX_BASELINE_LOSS * n:
        raise CalibrationError(
            f"the garment delivered the baseline with {dropped} of {n} samples lost on the link "
            f"({100.0 * dropped / max(n, 1):.1f} %, at most {100 * MAX_BASELINE_LOSS:.0f} % allowed): "
            "record the baseline again (a busy host or a weak link)")


async def stream_recording(g: Any, feeder: Any, feed: GridFeed, emg_uV: np.ndarray, lsb_uV: float, perm: np.ndarray,
                           on_chunk: Any = None) -> tuple[np.ndarray, int, int]:
    """Play ``emg_uV`` (n, 64) into the garment and collect what it streams of it (raw, in microvolts).

    Each streamed sample is found in the recording by its values (:data:`KEY_CHANNELS`), so the
    mapping holds whatever the link or the simulated AFE did meanwhile.  Returns ``(x, first,
    dropped)``: the recording's samples from ``first`` (where the playback started) as streamed,
    in the recording's channel order (``perm[c]``: the streamed column of recording channel ``c``),
    and how many the garment did not deliver (interpolated, so the batches stay in time).  ``on_chunk(x_chunk)`` gets every run of samples as it is accepted (the live path).
    """
    from scipy.spatial import cKDTree

    n = emg_uV.shape[0]
    key = list(KEY_CHANNELS)
    tree = cKDTree(np.asarray(emg_uV[:, key], np.float64))
    parts: list[np.ndarray] = []
    nxt = -1  # the recording's next sample (-1: not started)
    first = 0
    dropped = 0
    strays = 0  # samples since the start that are not the recording's (the playback is over)
    await g.start_stream()
    try:
        with feeder.source_lock:
            feed.play(emg_uV)
        while nxt < n and strays < n // 4 + 2048:
            b = await g.next_block(timeout=5.0)
            x = b.data[:, perm].astype(np.float32) * lsb_uV
            d, j = tree.query(np.asarray(x[:, key], np.float64))
            take: list[np.ndarray] = []
            for s in range(x.shape[0]):
                jj = int(j[s])
                if d[s] > MATCH_UV:
                    strays += nxt >= 0
                    continue
                if nxt < 0:
                    if not feed.started.is_set() or jj != feed.trial_first:
                        continue  # the rest segment before the switch
                    first = nxt = jj
                if jj < nxt:
                    continue  # a repeat (the AFE held a sample) or the rest segment
                if jj > nxt:  # lost on the way: interpolated, so the batches stay in time and no step is made
                    gap = min(jj, n) - nxt
                    dropped += gap
                    prev = take[-1] if take else (parts[-1][-1:] if parts else x[s : s + 1])
                    w = (np.arange(1, gap + 1, dtype=np.float32) / (gap + 1))[:, None]
                    take.append(prev[-1:] * (1 - w) + x[s : s + 1] * w)
                    nxt += gap
                take.append(x[s : s + 1])
                nxt += 1
                strays = 0
            if take:
                chunk = np.concatenate(take)
                parts.append(chunk)
                if on_chunk is not None:
                    await on_chunk(chunk)
    finally:
        await g.stop_stream()
    if 0 <= nxt < n:
        dropped += n - nxt  # the end never came
    if nxt < 0:
        raise RuntimeError("the garment streamed none of the recording")
    return np.concatenate(parts), first, dropped


async def garment_session(source: PhantomHDSource, *, batch_s: float = 0.1, adapt: bool = True) -> dict[str, Any]:
    """``garment motorunits --device sim-hd``: the session through the simulated HD garment (see the module doc)."""
    from garment.auth import ensure_authenticated
    from garment.devices import open_device
    from garment.protocol import wire
    from garment.sim import SimGarment

    from .calibrate import calibrate
    from .run import _Collect, summarise
    from .tracker import MotorUnitTracker

    base = source.baseline()
    live = source.live
    fs = int(base.fs)
    feed = GridFeed(fs, HD_INPUTS)
    feed.set_idle(base.emg_uV[: fs // 2])  # the start of the baseline's ramp: the person at rest
    async with open_device("sim-hd", timeout=5.0, sim=SimGarment(hd=True, source_factory=lambda _fs: feed)) as conn:
        g, feeder = conn.client, conn.sim.feeder  # type: ignore[union-attr]
        info = await g.info()
        if int(info.get("channels", 0)) != HD_INPUTS or int(info.get("fs", 0)) != fs:
            raise RuntimeError(f"the HD garment streams {info.get('channels')} ch at {info.get('fs')} Hz, "
                               f"the phantom is {HD_INPUTS} ch at {fs} Hz")
        lsb_uV = float(info["lsb_fv"]) / 1e9
        labels = base.layout.labels()
        montage = list(info.get("montage") or labels)
        if sorted(montage) != sorted(labels):
            raise RuntimeError("the HD garment's montage is not the phantom's grid")
        perm = np.array([montage.index(lb) for lb in labels])  # streamed column of each grid electrode
        await ensure_authenticated(g)
        cfg = await g.get_config()
        # Raw samples: the tracker band-passes them itself (as the calibration did).
        await g.set_config(dataclasses.replace(cfg, kind=wire.STREAM_RAW, highpass=False, notch=False))
        xb, _, dropped_b = await stream_recording(g, feeder, feed, base.emg_uV, lsb_uV, perm)
        check_baseline_loss(dropped_b, base.emg_uV.shape[0])
        cal = await asyncio.to_thread(calibrate, xb, float(fs), labels)
        tr = await asyncio.to_thread(MotorUnitTracker, cal, adapt=adapt)
        nb = max(1, int(batch_s * fs))
        col = _Collect(len(cal.units))
        pending: list[np.ndarray] = []
        have = 0

        async def on_chunk(x: np.ndarray) -> None:
            nonlocal have
            pending.append(x)
            have += x.shape[0]
            while have >= nb:
                buf = np.concatenate(pending)
                col(await asyncio.to_thread(tr.process, buf[:nb]))
                rest = buf[nb:]
                pending[:] = [rest] if rest.shape[0] else []
                have = rest.shape[0]

        xl, first, dropped = await stream_recording(g, feeder, feed, live.emg_uV, lsb_uV, perm, on_chunk)
        xl_n = xl.shape[0]
        if have:
            col(await asyncio.to_thread(tr.process, np.concatenate(pending)))
    # Tracked sample k is the recording's sample first + k: the truth, shifted to the tracker's samples.
    out = summarise(cal, tr, col, [t[t >= first] - first for t in source.truth()], nb)
    out["stream"] = {"baseline_samples": int(xb.shape[0]), "samples": int(xl_n),
                     "dropped": int(dropped + dropped_b), "first_sample": int(first), "board": info.get("board")}
    return out
