"""Live motor units on the HD phantom's truth: batch time, RoA, units kept over a long ride.

Calibration: a 12 s guided baseline (rest, ramp, hold at 20 %MVC; 13 x 5 grid, 64 ch,
2048 Hz) decomposed by ``garment.decomposition``; then the same person (same seed, so the
same muscle and units) streams a task in batches of 100 ms through
``garment.motorunits.MotorUnitTracker`` on one core (BLAS limited to one thread):

- ``isometric``: a 30 s trapezoid at 20 %MVC;
- ``cycling``: ``--minutes`` of pedalling at 60 rpm, the muscle sliding +-4 mm under the grid.

Side by side, in the same run, on the same data: the same tracker without the drift check
(``quality=None``: lost only by silence), the same tracker with its filters fixed
(``--no-adapt`` of ``garment motorunits``), and the decomposition package's own offline
calibrate-then-apply (``decomposition.apply.apply_decomposition``: the zero-phase filtered
whole recording, filters fixed; what a user of an offline tool would do, not possible live).
Per task: batch ms (median, p99) per 100 ms of 64-ch data, RoA (+-1 ms, best lag) per unit,
units kept (not lost at the end), lost (by reason) and found events and, for cycling, per
minute: units kept, RoA of the units matched over the ride, and what was reported (the units
that emitted discharges in that minute, matched one-to-one within it).

    .venv/bin/python benchmarks/bench_motorunits.py [--minutes 10] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from garment.decomposition import match_to_truth, rate_of_agreement
from garment.decomposition.apply import apply_decomposition
from garment.motorunits import MotorUnitTracker, calibrate
from garment.phantom.hd_phantom import generate_hd

SEED = 1


def track(cal, emg: np.ndarray, fs: float, adapt: bool, minute_marks: bool, quality: bool = True) -> dict:
    """Stream ``emg`` through a tracker in 100 ms batches; per unit trains, kept flags, per-minute kept."""
    tr = MotorUnitTracker(cal, adapt=adapt, **({} if quality else {"quality": None}))
    nb = int(0.1 * fs)
    found: list[list[np.ndarray]] = [[] for _ in cal.units]
    kept_per_min: list[int] = []
    events = []
    for s in range(0, emg.shape[0], nb):
        res = tr.process(emg[s : s + nb])
        for k, d in enumerate(res.discharges):
            found[k].append(d)
        events += res.events
        if minute_marks and (s + nb) % int(60 * fs) < nb:
            kept_per_min.append(int(np.count_nonzero(~tr.lost)))
    trains = [np.concatenate(f) for f in found]
    reasons = {r: sum(e.kind == "lost" and e.reason == r for e in events) for r in ("silent", "drift", "duplicate")}
    return {"trains": trains, "kept": (~tr.lost).tolist(), "batch_ms": tr.batch_ms(), "kept_per_minute": kept_per_min,
            "lost": reasons, "found": sum(e.kind == "found" for e in events)}


def score(trains: list[np.ndarray], truth: list[np.ndarray], fs: float) -> list[float | None]:
    """RoA of each found unit with its one-to-one partner in the truth (None: no partner at RoA >= 0.3)."""
    pairs = {i: r for i, _, r in match_to_truth(trains, truth, fs)}
    return [pairs.get(i) for i in range(len(trains))]


def per_minute_roa(trains: list[np.ndarray], truth: list[np.ndarray], fs: float, n: int) -> list[float]:
    """Median RoA of the matched units in each minute (matching from the whole ride)."""
    pairs = match_to_truth(trains, truth, fs)
    out = []
    m = int(60 * fs)
    for a in range(0, n - m + 1, m):
        r = []
        for i, j, _ in pairs:
            t, f = truth[j], trains[i]
            t, f = t[(t >= a) & (t < a + m)], f[(f >= a) & (f < a + m)]
            if t.size >= 10:
                r.append(rate_of_agreement(t, f, fs)[0])
        out.append(float(np.median(r)) if r else 0.0)
    return out


def reported_per_minute(trains: list[np.ndarray], truth: list[np.ndarray], fs: float, n: int) -> list[dict]:
    """Per minute, what the tracker reported: the units that emitted >= 10 discharges in it (a lost
    or dropped unit emits none), matched one-to-one with the truth within that minute."""
    out = []
    m = int(60 * fs)
    for a in range(0, n - m + 1, m):
        tw = [t[(t >= a) & (t < a + m)] for t in truth]
        fw = [f[(f >= a) & (f < a + m)] for f in trains]
        act = [i for i, f in enumerate(fw) if f.size >= 10]
        pairs = {i: r for i, _, r in match_to_truth([fw[i] for i in act], tw, fs)}
        r = [pairs.get(i, 0.0) for i in range(len(act))]
        out.append({"units": len(act), "roa_median": round(float(np.median(r)), 4) if r else None,
                    "roa_ge_90": int(sum(x >= 0.9 for x in r)), "no_partner": int(sum(x == 0.0 for x in r))})
    return out


def summary(roa: list[float | None], kept: list[bool]) -> dict:
    """Median RoA and share >= 90 % over the kept units."""
    k = [r or 0.0 for r, ok in zip(roa, kept) if ok]
    return {"units": len(roa), "kept": len(k), "roa_kept_median": float(np.median(k)) if k else 0.0,
            "kept_with_roa_ge_90": int(sum(r >= 0.9 for r in k)),
            "roa": [None if r is None else round(r, 4) for r in roa]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the cycling ride")
    ap.add_argument("--json", default=None, help="write the figures here too")
    a = ap.parse_args()
    out: dict = {"minutes": a.minutes}
    with threadpool_limits(1):
        t0 = time.perf_counter()
        base = generate_hd("trapezoid", 12.0, seed=SEED, level=0.2, ramp_s=3.0)
        fs = base.fs
        t1 = time.perf_counter()
        cal = calibrate(base.emg_uV, fs, base.layout.labels())
        out["calibration"] = {"units": len(cal.units), "decompose_s": round(cal.decomposition.seconds, 2),
                              "calibrate_s": round(time.perf_counter() - t1, 2)}
        print(f"calibration: {len(cal.units)} units ({out['calibration']['calibrate_s']} s; phantom {t1 - t0:.0f} s)", flush=True)
        tasks = {"isometric": lambda: generate_hd("trapezoid", 30.0, seed=SEED, level=0.2, ramp_s=2.0),
                 "cycling": lambda: generate_hd("cycling", 60.0 * a.minutes, seed=SEED, cadence_rpm=60.0)}
        for name, make in tasks.items():
            t0 = time.perf_counter()
            live = make()
            print(f"{name}: phantom {live.n_samples / fs:.0f} s generated in {time.perf_counter() - t0:.0f} s", flush=True)
            row: dict = {"seconds": live.n_samples / fs}
            for label, adapt, quality in (("adaptive", True, True), ("adaptive_no_drift_check", True, False),
                                          ("fixed", False, True)):
                r = track(cal, live.emg_uV, fs, adapt, name == "cycling", quality)
                row[label] = {"batch_ms": {k: round(v, 3) for k, v in r["batch_ms"].items()},
                              **summary(score(r["trains"], live.spikes, fs), r["kept"]),
                              "lost": r["lost"], "found": r["found"]}
                if name == "cycling":
                    row[label]["kept_per_minute"] = r["kept_per_minute"]
                    row[label]["roa_per_minute"] = [round(x, 4) for x in per_minute_roa(r["trains"], live.spikes, fs, live.n_samples)]
                    row[label]["reported_per_minute"] = reported_per_minute(r["trains"], live.spikes, fs, live.n_samples)
                print(f"  {label}: batch {row[label]['batch_ms']}, kept {row[label]['kept']}/{row[label]['units']}, "
                      f"RoA kept median {row[label]['roa_kept_median']:.3f}, >= 90 %: {row[label]['kept_with_roa_ge_90']}", flush=True)
            t0 = time.perf_counter()
            trains = apply_decomposition(cal.decomposition, live.emg_uV, fs)
            dt = time.perf_counter() - t0
            row["offline_apply"] = {"ms_per_100ms": round(1000 * dt / (live.n_samples / fs / 0.1), 3),
                                    **summary(score(trains, live.spikes, fs), [True] * len(trains))}
            print(f"  offline apply (zero-phase, whole recording): {row['offline_apply']['ms_per_100ms']} ms per 100 ms, "
                  f"RoA median {row['offline_apply']['roa_kept_median']:.3f}", flush=True)
            out[name] = row
            del live
    print(json.dumps(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
