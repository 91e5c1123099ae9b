"""Live motor units on the HD phantom's truth: batch time, RoA, units kept over a long ride.

Each task is calibrated on its own baseline, decomposed by ``garment.decomposition`` (13 x 5
grid, 64 ch, 2048 Hz), and the same person (same seed, so the same muscle and units) then streams
the task in batches of 100 ms through ``garment.motorunits.MotorUnitTracker`` on one core (BLAS
limited to one thread):

- ``isometric``: a 12 s guided baseline (rest, ramp, hold at 20 %MVC), then a 30 s trapezoid at
  20 %MVC;
- ``cycling``: the first ``--calibrate-ride`` s of a ride at 60 rpm (the muscle sliding +-4 mm
  under the grid, and fatiguing with its drive under the phantoms' fatigue law,
  ``garment.phantom.fatigue.FatigueLaw()``: conduction velocity slows, every unit's potential
  lengthens on every electrode; ``--no-fatigue`` for the fresh muscle) are the baseline, the next
  ``--minutes`` are tracked and scored (no scored sample was calibrated on);
- ``cycling_isometric_baseline``: the same ride tracked from the isometric baseline's units (the
  adaptive tracker only): the units a 20 %MVC hold finds are small, low-threshold ones that do not
  separate while the muscle moves and the burst (35 %MVC) recruits larger units; their filters
  drift onto those larger units, so this row's RoA is against whichever true unit a filter ends on,
  and ``roa_same_unit`` (against the true unit it was calibrated on) shows the switch.

Side by side, in the same run, on the same data: the same tracker without the drift check
(``quality=None``: lost only by silence), the same tracker with its filters fixed
(``--no-adapt`` of ``garment motorunits``), and the decomposition package's own offline
calibrate-then-apply (``decomposition.apply.apply_decomposition``: the zero-phase filtered
whole recording, filters fixed; what a user of an offline tool would do, not possible live).
Per task: batch ms (median, p99) per 100 ms of 64-ch data (wall clock, and the thread's CPU time:
the cost on one core whatever else the machine runs), RoA (+-1 ms, best lag) per unit,
``roa_same_unit`` per unit (against the true unit its baseline discharges matched), units kept (not
lost at the end), the lowest RoA of the kept units, the units dropped at the end with why (the
figures that failed: the field's SIL / CoV criteria or the size principle, see ``garment.motorunits.quality``), lost (by
reason) and found events and, for cycling, per minute: units kept,
RoA of the units matched over the ride, and what was reported (the units that emitted discharges
in that minute, matched one-to-one within it).

    .venv/bin/python benchmarks/bench_motorunits.py [--minutes 10] [--calibrate-ride 30] [--no-fatigue] [--json out.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from garment.decomposition import match_to_truth, rate_of_agreement
from garment.decomposition.apply import apply_decomposition
from garment.motorunits import MotorUnitTracker, calibrate
from garment.motorunits.source import split_ride
from garment.phantom.fatigue import FatigueLaw
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
            kept_per_min.append(int(np.count_nonzero(tr.kept)))
    trains = [np.concatenate(f) for f in found]
    reasons = {r: sum(e.kind == "lost" and e.reason == r for e in events) for r in ("silent", "drift", "duplicate", "quality")}
    # Not kept at the end, why: the last drop's reason and figures (quality: the field's SIL / CoV criteria).
    dropped = {k: tr.why[k] for k in range(tr.n_units) if tr.dropped[k]}
    return {"trains": trains, "kept": tr.kept.tolist(), "batch_ms": tr.batch_ms(), "dropped": dropped,
            "batch_cpu_ms": tr.batch_ms(cpu=True), "kept_per_minute": kept_per_min,
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


def same_unit(trains: list[np.ndarray], identity: dict[int, int], truth: list[np.ndarray], fs: float) -> list[float]:
    """RoA of each unit with the true unit it was calibrated on (0 without one)."""
    return [rate_of_agreement(truth[identity[k]], t, fs)[0] if k in identity else 0.0 for k, t in enumerate(trains)]


def summary(roa: list[float | None], kept: list[bool], same: list[float] | None = None) -> dict:
    """Median RoA and share >= 90 % over the kept units (and against the unit each was calibrated on)."""
    k = [r or 0.0 for r, ok in zip(roa, kept) if ok]
    out = {"units": len(roa), "kept": len(k), "roa_kept_median": float(np.median(k)) if k else 0.0,
           "roa_kept_min": float(min(k)) if k else 0.0,
           "kept_with_roa_ge_90": int(sum(r >= 0.9 for r in k)),
           "roa": [None if r is None else round(r, 4) for r in roa]}
    if same is not None:
        ks = [r for r, ok in zip(same, kept) if ok]
        out.update({"roa_same_unit_kept_median": float(np.median(ks)) if ks else 0.0,
                    "kept_with_roa_same_unit_ge_90": int(sum(r >= 0.9 for r in ks)),
                    "roa_same_unit": [round(r, 4) for r in same]})
    return out


def calibrated(emg: np.ndarray, fs: float, labels: list[str], truth: list[np.ndarray]):
    """Calibration of a baseline, and each unit's true partner on it (unit -> phantom unit)."""
    t1 = time.perf_counter()
    cal = calibrate(emg, fs, labels)
    info = {"units": len(cal.units), "decompose_s": round(cal.decomposition.seconds, 2),
            "calibrate_s": round(time.perf_counter() - t1, 2), "baseline_s": emg.shape[0] / fs}
    identity = {i: j for i, j, _ in match_to_truth(cal.baseline_discharges, truth, fs)}
    return cal, identity, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the tracked cycling ride")
    ap.add_argument("--calibrate-ride", type=float, default=30.0, help="seconds of pedalling the cycling baseline is")
    ap.add_argument("--no-fatigue", action="store_true", help="the ride's muscle stays fresh (no conduction-velocity drop)")
    ap.add_argument("--json", default=None, help="write the figures here too")
    a = ap.parse_args()
    law = None if a.no_fatigue else FatigueLaw()
    out: dict = {"minutes": a.minutes, "fatigue": None if law is None else dataclasses.asdict(law)}
    with threadpool_limits(1):
        base = generate_hd("trapezoid", 12.0, seed=SEED, level=0.2, ramp_s=3.0)
        fs = base.fs
        iso_cal = calibrated(base.emg_uV, fs, base.layout.labels(), base.spikes)
        out["calibration"] = iso_cal[2]
        print(f"isometric calibration: {iso_cal[2]}", flush=True)
        t0 = time.perf_counter()
        ride = generate_hd("cycling", a.calibrate_ride + 60.0 * a.minutes, seed=SEED, cadence_rpm=60.0, fatigue=law)
        gen_s = time.perf_counter() - t0
        print(f"ride: phantom {ride.n_samples / fs:.0f} s generated in {gen_s:.0f} s", flush=True)
        out["ride_generate_s"] = round(gen_s, 1)
        if law is not None:
            cv = ride.extra["cv_factor"]
            nb = int(round(a.calibrate_ride * fs))
            out["cv_factor"] = {"baseline_end": float(cv[nb - 1]), "ride_end": float(cv[-1]),
                                "per_minute": [float(cv[min(nb + int(60 * fs * m), cv.size - 1)]) for m in range(int(a.minutes) + 1)]}
            print(f"fatigue {out['fatigue']}: conduction-velocity factor {out['cv_factor']}", flush=True)
        ride_base, ride_live = split_ride(ride, int(round(a.calibrate_ride * fs)))
        del ride
        cyc_cal = calibrated(ride_base.emg_uV, fs, ride_base.layout.labels(), ride_base.spikes)
        out["calibration_cycling"] = cyc_cal[2]
        print(f"cycling calibration (first {a.calibrate_ride:g} s of the ride): {cyc_cal[2]}", flush=True)
        tasks = {"isometric": (iso_cal, lambda: generate_hd("trapezoid", 30.0, seed=SEED, level=0.2, ramp_s=2.0), True),
                 "cycling": (cyc_cal, lambda: ride_live, True),
                 "cycling_isometric_baseline": (iso_cal, lambda: ride_live, False)}
        for name, ((cal, identity, _), make, all_variants) in tasks.items():
            live = make()
            row: dict = {"seconds": live.n_samples / fs}
            cycling = name.startswith("cycling")
            variants = (("adaptive", True, True), ("adaptive_no_drift_check", True, False), ("fixed", False, True))
            for label, adapt, quality in variants if all_variants else variants[:1]:
                r = track(cal, live.emg_uV, fs, adapt, cycling, quality)
                row[label] = {"batch_ms": {k: round(v, 3) for k, v in r["batch_ms"].items()},
                              "batch_cpu_ms": {k: round(v, 3) for k, v in r["batch_cpu_ms"].items()},
                              **summary(score(r["trains"], live.spikes, fs), r["kept"],
                                        same_unit(r["trains"], identity, live.spikes, fs)),
                              "lost": r["lost"], "found": r["found"],
                              "dropped_at_end": {str(k): why for k, why in r["dropped"].items()}}
                if cycling:
                    row[label]["kept_per_minute"] = r["kept_per_minute"]
                    row[label]["roa_per_minute"] = [round(x, 4) for x in per_minute_roa(r["trains"], live.spikes, fs, live.n_samples)]
                    row[label]["reported_per_minute"] = reported_per_minute(r["trains"], live.spikes, fs, live.n_samples)
                x = row[label]
                print(f"{name} {label}: batch {x['batch_ms']} (CPU {x['batch_cpu_ms']}), kept {x['kept']}/{x['units']}, RoA kept median "
                      f"{x['roa_kept_median']:.3f}, lowest {x['roa_kept_min']:.3f} (>= 90 %: {x['kept_with_roa_ge_90']}), "
                      f"dropped {x['dropped_at_end']}, against the calibrated unit "
                      f"{x['roa_same_unit_kept_median']:.3f} (>= 90 %: {x['kept_with_roa_same_unit_ge_90']}), "
                      f"lost {x['lost']}, found {x['found']}", flush=True)
            if all_variants:
                t0 = time.perf_counter()
                trains = apply_decomposition(cal.decomposition, live.emg_uV, fs)
                dt = time.perf_counter() - t0
                row["offline_apply"] = {"ms_per_100ms": round(1000 * dt / (live.n_samples / fs / 0.1), 3),
                                        **summary(score(trains, live.spikes, fs), [True] * len(trains),
                                                  same_unit(trains, identity, live.spikes, fs))}
                print(f"{name} offline apply (zero-phase, whole recording): {row['offline_apply']['ms_per_100ms']} ms per 100 ms, "
                      f"RoA median {row['offline_apply']['roa_kept_median']:.3f}", flush=True)
            out[name] = row
    print(json.dumps(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
