"""Neural drive to a garment: the live tracker's smoothed cumulative discharge rate, sent as activations.

Per batch of the HD stream: :class:`.tracker.MotorUnitTracker` finds the discharges (in a
worker thread, so the heartbeat and the link keep running), :class:`.drive.NeuralDrive` turns
them into the muscle's drive 0..1, and :meth:`garment.client.GarmentClient.activation` sends it
as the signed ``T_ACTIVATION`` frame.  The garment treats it exactly as its decoder's output:
the stimulation policy within the calibrated range, the calibration clip, the slew from zero,
every supervisor check; it refuses it unarmed, without a verified model or an authenticated
session, and zeroes the output when no frame arrives for ``wire.ACTIVATION_STALE_MS``.  A batch
is at most 100 ms, so a healthy loop sends at least every 100 ms, twice as often as the stale
limit; a loop that falls behind lets the garment stop on its own.

The stream's pacing is the caller's: ``batches`` yields each batch when it exists (a garment's
samples as they arrive, a phantom played at the wall clock, or the simulated AFE's conversions).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from .drive import NeuralDrive
from .tracker import BatchResult, MotorUnitTracker


@dataclass
class DriveLog:
    """What a drive session sent: per batch the stream sample it ends at and the activation."""

    end_sample: list[int] = field(default_factory=list)
    activation: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # time.monotonic() after the garment's ACK

    def summary(self) -> dict[str, float | int]:
        """Frames sent and the activation's peak and mean."""
        a = np.asarray(self.activation)
        return {"frames": int(a.size), "activation_max": round(float(a.max()), 4) if a.size else 0.0,
                "activation_mean": round(float(a.mean()), 4) if a.size else 0.0}


def activation_vector(value: float, output: int, n_outputs: int) -> list[float]:
    """The ``T_ACTIVATION`` values: ``value`` on policy input ``output``, 0 on the others."""
    if not 0 <= output < n_outputs <= 64:
        raise ValueError(f"policy input {output} of {n_outputs} (1..64 inputs)")
    v = [0.0] * n_outputs
    v[output] = float(value)
    return v


async def stream_drive(client: object, batches: AsyncIterator[np.ndarray], tracker: MotorUnitTracker,
                       drive: NeuralDrive, *, output: int = 0, n_outputs: int = 1,
                       on_batch: Callable[[BatchResult, float], Awaitable[None] | None] | None = None) -> DriveLog:
    """Track every batch of ``batches`` and send the muscle's neural drive to ``client`` (a
    :class:`garment.client.GarmentClient`, armed by the caller, e.g. :func:`garment.stimcontrol.armed`).

    Returns the log of what was sent.  A refusal of the garment (``DeviceError``) ends the
    session with that error; the caller's disarm then zeroes the output.
    """
    log = DriveLog()
    send = client.activation  # type: ignore[attr-defined]
    # One BLAS thread: a multithreaded eigendecomposition (the 5 s re-whitening) spins every core
    # and starves the link and the heartbeat that the stream is bound to.
    with threadpool_limits(1):
        async for x in batches:
            res = await asyncio.to_thread(tracker.process, x)
            act = drive.update(res.discharges, res.end_sample)
            await send(activation_vector(act, output, n_outputs))
            log.end_sample.append(res.end_sample)
            log.activation.append(act)
            log.sent_at.append(time.monotonic())
            if on_batch is not None:
                r = on_batch(res, act)
                if r is not None:
                    await r
    return log


async def wall_clock_batches(read: Callable[[int], np.ndarray | None], fs: float, batch: int,
                             clock: Callable[[], float] = time.monotonic) -> AsyncIterator[np.ndarray]:
    """Batches of ``batch`` samples from ``read`` (a recorded or simulated stream), each handed
    out once the wall clock has reached its last sample: the stream as it would arrive live."""
    t0 = clock()
    n = 0
    while (x := read(batch)) is not None:
        n += x.shape[0]
        wait = t0 + n / fs - clock()
        if wait > 0:
            await asyncio.sleep(wait)  # pacing a played stream at its own rate
        yield x
