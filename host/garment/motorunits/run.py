"""One live session: calibrate on a source's baseline, track its stream, score against truth if it has one."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from garment.decomposition import match_to_truth

from .calibrate import calibrate
from .source import PhantomHDSource
from .tracker import MAX_BATCH_S, BatchResult, MotorUnitTracker


def run_session(source: PhantomHDSource, batch_s: float = MAX_BATCH_S, adapt: bool = True,
                on_batch: Callable[[BatchResult], None] | None = None) -> dict[str, Any]:
    """Calibrate, apply batch by batch, and summarise (``units``, ``batch_ms``, ``roa``, events).

    ``roa`` pairs each tracked unit with the phantom unit it agrees with most (RoA, +-1 ms, best
    lag); a unit with no partner of RoA >= 0.3 has ``roa`` None.
    """
    base = source.baseline()
    cal = calibrate(base.emg_uV, base.fs, base.layout.labels())
    tr = MotorUnitTracker(cal, adapt=adapt)
    nb = max(1, int(batch_s * cal.fs))
    found: list[list[np.ndarray]] = [[] for _ in cal.units]
    events = []
    while (x := source.read(nb)) is not None:
        res = tr.process(x)
        for k, d in enumerate(res.discharges):
            found[k].append(d)
        events += res.events
        if on_batch is not None:
            on_batch(res)
    trains = [np.concatenate(f) if f else np.zeros(0, np.int64) for f in found]
    pairs = {i: (j, roa) for i, j, roa in match_to_truth(trains, source.truth(), cal.fs)}
    units = []
    for k, u in enumerate(cal.units):
        j, roa = pairs.get(k, (None, None))
        units.append({"unit": k, "sil": round(u.sil, 3), "discharges": int(trains[k].size),
                      "kept": not bool(tr.lost[k]), "truth_unit": j,
                      "roa": None if roa is None else round(roa, 4)})
    kept = [u["roa"] for u in units if u["kept"]]
    return {"units": units, "batch_ms": {k: round(v, 3) for k, v in tr.batch_ms().items()},
            "roa": [u["roa"] for u in units], "kept": sum(u["kept"] for u in units),
            "roa_kept_median": None if not kept else float(np.median([r or 0.0 for r in kept])),
            "events": [{"t_s": round(e.t_s, 3), "unit": e.unit, "kind": e.kind} for e in events],
            "calibration": {"seconds": round(cal.decomposition.seconds, 2), "units": len(cal.units)},
            "batches": len(tr.batch_seconds), "batch_samples": nb, "fs": cal.fs}
