"""Motor-unit decomposition on the HD phantom's truth, side by side with an open convolutive BSS.

For each recording (isometric trapezoids at 10/20/30 %MVC and pedalling, 13 x 5 grid = 64 ch,
2048 Hz, 30 s): our decomposition (one core), then MUniverse's FastIcaCBSS (Negro et al. 2016,
the algorithm of openhdemg 0.2's ``convolutive_bss``; openhdemg's newest release on PyPI, 0.1.2,
has no BSS), installed into its own venv by this script and run on the same band-passed
signals.  Both outputs get the same post-processing (SIL >= 0.9, duplicates removed) and the
same scoring against truth: RoA (+-1 ms, best lag) per unit, units found / recruited, false
units (SIL >= 0.9 with no true match), CPU seconds per 30 s x 64 ch.

    .venv/bin/python benchmarks/bench_decompose.py [--seconds 30] [--no-comparator] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from garment.decomposition import decompose, match_to_truth, rate_of_agreement
from garment.decomposition.duplicates import unique_units
from garment.decomposition.preprocess import bandpass
from garment.decomposition.properties import estimate_properties
from garment.decomposition.spikes import cov_isi
from garment.phantom.hd_phantom import HDResult, generate_hd

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".cache" / "muniverse-venv"
COMPARATOR = "muniverse-emg==0.1.4"


def comparator_python() -> Path:
    """The comparator's interpreter, installed on first use (its own venv, its own numpy)."""
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "numpy", "scipy", "pandas", "scikit-learn"], check=True)
        # --no-deps: its torch/container dependencies serve other algorithms, not FastIcaCBSS.
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", COMPARATOR], check=True)
    return py


def score(found: list[np.ndarray], sil: list[float], r: HDResult) -> dict:
    """Agreement of found trains with the truth."""
    rec = r.recruited()
    pairs = match_to_truth(found, [r.spikes[i] for i in rec], r.fs)
    roa = {f: v for f, _, v in pairs}
    good = [k for k in range(len(found)) if sil[k] >= 0.9]
    ptp = (r.muaps.max(axis=1) - r.muaps.min(axis=1)).max(axis=1)
    detectable = [i for i in rec if ptp[i] >= 20 * r.noise_uV]
    found_true = {int(rec[t]) for _, t, v in pairs if v >= 0.9}
    return {
        "units": len(good),
        "roa_min": round(min((roa.get(k, 0.0) for k in good), default=float("nan")), 4),
        "roa_median": round(float(np.median([roa.get(k, 0.0) for k in good])) if good else float("nan"), 4),
        "units_roa_ge_0.9": sum(1 for k in good if roa.get(k, 0.0) >= 0.9),
        "false_units": sum(1 for k in good if k not in roa),
        "recruited": int(rec.size),
        "found_share_recruited": round(len(found_true) / max(rec.size, 1), 3),
        "detectable": len(detectable),
        "found_share_detectable": round(len(found_true & set(detectable)) / max(len(detectable), 1), 3),
        "pairs": pairs,
    }


def per_cycle_roa(found: np.ndarray, truth: np.ndarray, r: HDResult) -> float:
    """Median over pedal cycles of the RoA within each cycle (lag fixed over the recording)."""
    crank = np.unwrap(np.deg2rad(r.extra["crank_deg"].astype(np.float64)))
    cycle = np.floor(crank / (2 * np.pi)).astype(np.int64)
    _, lag = rate_of_agreement(truth, found, r.fs)
    vals = []
    for c in np.unique(cycle)[1:-1]:
        lo, hi = np.flatnonzero(cycle == c)[[0, -1]]
        t = truth[(truth >= lo) & (truth <= hi)]
        f = found[(found - lag >= lo) & (found - lag <= hi)]
        if t.size >= 3:
            vals.append(rate_of_agreement(t, f - lag, r.fs, max_lag_s=0.002)[0] if f.size else 0.0)
    return float(np.median(vals)) if vals else float("nan")


def run_ours(r: HDResult) -> dict:
    with threadpool_limits(1):
        c0, w0 = time.process_time(), time.perf_counter()
        dec = decompose(r.emg_uV, r.fs, r.layout.labels())
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        c1 = time.process_time()
        estimate_properties(dec, r.layout)
        prop_cpu = time.process_time() - c1
    trains = [u.discharges for u in dec.units]
    out = score(trains, [u.sil for u in dec.units], r)
    out.update({"cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "properties_cpu_s": round(prop_cpu, 2)})
    # Forward-model check: units whose potential the model does not explain (r2 < 0.6).
    keep = [k for k, u in enumerate(dec.units) if u.properties["r2"] >= 0.6]
    checked = score([trains[k] for k in keep], [dec.units[k].sil for k in keep], r)
    out["model_check"] = {k: checked[k] for k in ("units", "false_units", "found_share_recruited")}
    # Properties against truth (units the model explains).
    rec = r.recruited()
    errs = {"depth_mm": [], "iz_mm": [], "cv": [], "lateral_mm": []}
    truth_of = {"depth_mm": r.units.depth_mm, "iz_mm": r.units.iz_mm, "cv": r.units.cv, "lateral_mm": r.units.lateral_mm}
    for f, t, v in out["pairs"]:
        p = dec.units[f].properties
        if v >= 0.9 and p["r2"] >= 0.6:
            for key in errs:
                errs[key].append(abs(p[key] - truth_of[key][rec[t]]))
    out["property_abs_error_median"] = {k: round(float(np.median(v)), 3) if v else None for k, v in errs.items()}
    out["property_units"] = len(errs["cv"])
    if r.scenario == "cycling":
        out["cycle_roa_per_unit"] = [round(per_cycle_roa(trains[f], r.spikes[rec[t]], r), 3) for f, t, _ in out["pairs"]]
    out.pop("pairs")
    return out


def run_comparator(r: HDResult, py: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "emg.npy"
        np.save(path, bandpass(r.emg_uV, r.fs).astype(np.float64))
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        res = subprocess.run([str(py), str(ROOT / "muniverse_runner.py"), str(path), str(r.fs)], env=env,
                             capture_output=True, text=True, check=True)
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    units = [u for u in doc["units"] if u["sil"] >= 0.9 and len(u["discharges"]) >= 10]
    trains = [np.asarray(u["discharges"], np.int64) for u in units]
    keep = unique_units(trains, np.array([cov_isi(t, r.fs) for t in trains]), r.fs)
    out = score([trains[k] for k in keep], [units[k]["sil"] for k in keep], r)
    out.pop("pairs")
    out.update({"cpu_s": round(doc["cpu_s"], 2), "wall_s": round(doc["wall_s"], 2)})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--levels", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    ap.add_argument("--no-cycling", action="store_true")
    ap.add_argument("--no-comparator", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    recs = [(f"isometric {int(lv * 100)} %MVC", generate_hd("trapezoid", args.seconds, seed=10 + i, level=lv,
                                                                ramp_s=min(5.0, args.seconds / 5)))
            for i, lv in enumerate(args.levels)]
    if not args.no_cycling:
        recs.append(("cycling 60 rpm", generate_hd("cycling", args.seconds, seed=20)))
    results = []
    for name, r in recs:  # ours first: its figures are out in minutes, the comparator's take far longer
        row = {"recording": name, "channels": r.layout.n_channels, "seconds": args.seconds, "ours": run_ours(r)}
        results.append(row)
        print(json.dumps(row), flush=True)
    if not args.no_comparator:
        py = comparator_python()
        for row, (_, r) in zip(results, recs):
            if r.scenario == "cycling":
                continue
            row["comparator"] = run_comparator(r, py)
            row["speedup_cpu"] = round(row["comparator"]["cpu_s"] / row["ours"]["cpu_s"], 1)
            print(json.dumps({"recording": row["recording"], "comparator": row["comparator"],
                              "speedup_cpu": row["speedup_cpu"]}), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
