"""Task decoding from motor-unit activity vs from EMG features, on the same windows.

Phantom multi-task scenario on the 13 x 5 grid (rest, three isometric holds, a 2 Hz pulsing
contraction, a ramp; each task 4 s, repeated in shuffled rounds).  Calibrate, then apply: the
first half is decomposed and LDA classifiers are trained there; the second half is decoded by
applying the calibration's separation filters (no new ICA) and scored window by window
(200 ms windows every 50 ms) against (a) LDA on motor-unit features (per-unit rates in the
window and over 0.5 s, units active) and (b) LDA on the garment's EMG features (MAV, WL, ZC,
SSC, RMS of all 64 channels).

    .venv/bin/python benchmarks/bench_neural_drive.py [--rounds 4] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from garment.decomposition import decompose
from garment.decomposition.apply import apply_decomposition
from garment.decomposition.neural_drive import emg_features, motor_unit_features, window_labels
from garment.decomposition.preprocess import bandpass
from garment.phantom.hd_phantom import TASKS, generate_hd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    order = [t for _ in range(args.rounds) for t in rng.permutation(list(TASKS))]
    task_s, rest_s = 4.0, 1.0
    r = generate_hd("multitask", len(order) * (task_s + rest_s), seed=args.seed, tasks=order, task_s=task_s, rest_s=rest_s)
    assert r.class_index is not None
    half = (len(order) // 2) * int(round((task_s + rest_s) * r.fs))
    with threadpool_limits(1):
        t0 = time.process_time()
        dec = decompose(r.emg_uV[:half], r.fs, r.layout.labels())
        calib_s = time.process_time() - t0
        t1 = time.process_time()
        trains = apply_decomposition(dec, r.emg_uV, r.fs)
        apply_s = time.process_time() - t1
    n = r.n_samples
    y = window_labels(r.class_index, r.fs)
    mu = motor_unit_features(trains, n, r.fs)
    emg = emg_features(bandpass(r.emg_uV, r.fs).T, r.fs)
    starts = np.arange(y.size) * int(round(0.05 * r.fs))
    train = starts + int(round(0.2 * r.fs)) <= half
    test = starts >= half
    out = {"tasks": list(TASKS), "trials": len(order), "units": len(dec.units), "calibration_cpu_s": round(calib_s, 2),
           "apply_cpu_s_per_s": round(apply_s / (n / r.fs), 4), "test_windows": int(test.sum())}
    for name, x in (("motor_units", mu), ("emg_features", emg)):
        clf = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis()).fit(x[train], y[train])
        pred = clf.predict(x[test])
        out[f"accuracy_{name}"] = round(float(np.mean(pred == y[test])), 4)
        per = {TASKS_NAME: round(float(np.mean(pred[y[test] == k] == k)), 3)
               for k, TASKS_NAME in enumerate(TASKS) if np.any(y[test] == k)}
        out[f"per_task_{name}"] = per
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
