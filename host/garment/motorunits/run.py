"""One live session: calibrate on a source's baseline, track its stream, score against truth if it has one."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from garment.decomposition import match_to_truth

from .calibrate import Calibration, calibrate
from .source import PhantomHDSource
from .tracker import MAX_BATCH_S, BatchResult, MotorUnitTracker, UnitEvent


def run_session(source: PhantomHDSource, batch_s: float = MAX_BATCH_S, adapt: bool = True,
                on_batch: Callable[[BatchResult], None] | None = None) -> dict[str, Any]:
    """Calibrate, apply batch by batch, and summarise (``units``, ``batch_ms``, ``roa``, events).

    ``roa`` pairs each tracked unit with the phantom unit it agrees with most (RoA, +-1 ms, best
    lag); a unit with no partner of RoA >= 0.3 has ``roa`` None.
    """
    cal = calibrate_source(source)
    tr = MotorUnitTracker(cal, adapt=adapt)
    nb = max(1, int(batch_s * cal.fs))
    col = _Collect(len(cal.units))
    while (x := source.read(nb)) is not None:
        res = tr.process(x)
        col(res)
        if on_batch is not None:
            on_batch(res)
    return summarise(cal, tr, col, source.truth(), nb)


def calibrate_source(source: PhantomHDSource) -> Calibration:
    """Decompose the source's guided baseline into the tracker's calibration."""
    base = source.baseline()
    return calibrate(base.emg_uV, base.fs, base.layout.labels())


class _Collect:
    """Every batch's discharges and lost/found events, for the summary."""

    def __init__(self, n_units: int) -> None:
        self.found: list[list[np.ndarray]] = [[] for _ in range(n_units)]
        self.events: list[UnitEvent] = []

    def __call__(self, res: BatchResult) -> None:
        for k, d in enumerate(res.discharges):
            self.found[k].append(d)
        self.events += res.events


def summarise(cal: Calibration, tr: MotorUnitTracker, col: _Collect, truth: list[np.ndarray], nb: int) -> dict[str, Any]:
    """The session's summary object (see :func:`run_session`); ``truth``: the phantom's discharges in the tracker's samples."""
    trains = [np.concatenate(f) if f else np.zeros(0, np.int64) for f in col.found]
    events = col.events
    pairs = {i: (j, roa) for i, j, roa in match_to_truth(trains, truth, cal.fs)}
    units = []
    for k, u in enumerate(cal.units):
        j, roa = pairs.get(k, (None, None))
        units.append({"unit": k, "sil": round(u.sil, 3), "discharges": int(trains[k].size),
                      "kept": bool(tr.kept[k]), "reported": not bool(tr.lost[k]), "dropped": tr.why[k] if tr.dropped[k] else None,
                      "baseline_sil": round(u.baseline_sil, 3), "baseline_cov_isi": round(u.baseline_cov, 3),
                      "truth_unit": j, "roa": None if roa is None else round(roa, 4)})
    kept = [u["roa"] for u in units if u["kept"]]
    return {"units": units, "batch_ms": {k: round(v, 3) for k, v in tr.batch_ms().items()},
            "roa": [u["roa"] for u in units], "kept": sum(u["kept"] for u in units),
            "dropped": sum(u["dropped"] is not None for u in units),
            "roa_kept_median": None if not kept else float(np.median([r or 0.0 for r in kept])),
            "roa_kept_min": None if not kept else float(min(r or 0.0 for r in kept)),
            "events": [{"t_s": round(e.t_s, 3), "unit": e.unit, "kind": e.kind, "reason": e.reason, "detail": e.detail}
                       for e in events],
            "calibration": {"seconds": round(cal.decomposition.seconds, 2), "units": len(cal.units)},
            "batches": len(tr.batch_seconds), "batch_samples": nb, "fs": cal.fs}


async def drive_session(client: Any, source: PhantomHDSource, cal: Calibration, *, batch_s: float = 0.025,
                        adapt: bool = True, output: int = 0, n_outputs: int = 1) -> dict[str, Any]:
    """Track ``source`` as it streams (at its own rate) and send the neural drive to ``client``,
    armed for the session and disarmed after it (:func:`garment.stimcontrol.armed`).

    Returns :func:`run_session`'s summary with ``drive``: frames sent, the activation's peak and mean,
    the full scale (discharges/s of the calibration's hold) and the pulses the garment reported.
    """
    from garment.stimcontrol import armed

    from .drive import NeuralDrive, full_scale_hz
    from .drive_link import stream_drive, wall_clock_batches
    from .quality import kept_baseline_trains

    tr = MotorUnitTracker(cal, adapt=adapt)
    nb = max(1, int(batch_s * cal.fs))
    n_base = int(source.baseline().emg_uV.shape[0])
    full = full_scale_hz(kept_baseline_trains(cal, tr.rules), cal.fs, n_base)
    nd = NeuralDrive(cal.fs, full_scale_hz=full)
    col = _Collect(len(cal.units))
    _ = source.live  # generate the task before arming: the stream then starts at once
    while not client.pulses.empty():
        client.pulses.get_nowait()
    async with armed(client, heartbeat_s=0.1):
        log = await stream_drive(client, wall_clock_batches(source.read, cal.fs, nb), tr, nd,
                                 output=output, n_outputs=n_outputs, on_batch=lambda res, _a: col(res))
    pulses = []
    while not client.pulses.empty():
        pulses.append(client.pulses.get_nowait())
    out = summarise(cal, tr, col, source.truth(), nb)
    out["drive"] = {**log.summary(), "full_scale_hz": round(full, 2), "output": output,
                    "pulses": len(pulses), "peak_ua": max((p.amplitude_ua for p in pulses), default=0)}
    return out
