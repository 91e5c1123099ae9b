"""Decoder accuracy on real recordings: the UCI lower-limb set (subjects 1-7 of each group).

Task 1, exercise classification (mar / pie / sen) within subject, time split: for every
subject the first 70 % of each recording's windows train, the last 30 % test (windows
that overlap the split are dropped). Task 2, knee-angle regression within subject, same
split. Windows: 200 ms, 50 ms increments, computed by the firmware's integer pipeline
(fixed-point filters + integer features, bit-exact host reference).

Compared on the same windows:
  baseline  LDA on Hudgins time-domain features (MAV, ZC, SSC, WL), float, standardised;
  float     our decoder before quantisation;
  int8      our decoder as the garment runs it (host integer reference == device).

Usage: python benchmarks/bench_decoder_uci.py [--data ../shared/data/uci-lower-limb] [--kind mlp]
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from garment.dataset import recording_windows
from garment.features.reference import FeatureConfig
from garment.models.report import agreement_report, r2_score
from garment.models.train import train
from garment.recordings import load_uci
from garment.recordings.importer import find_uci_files

EMG = ["RF", "BF", "VM", "ST"]
HUDGINS = ["MAV", "ZC", "SSC", "WL"]


def split(n: int, frac: float, gap: int) -> tuple[np.ndarray, np.ndarray]:
    cut = int(n * frac)
    return np.arange(0, max(cut - gap, 0)), np.arange(cut, n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/uci-lower-limb"))
    ap.add_argument("--kind", default="lda", choices=("lda", "logreg", "mlp"))
    ap.add_argument("--train-frac", type=float, default=0.7)
    a = ap.parse_args()

    cfg = FeatureConfig.default(1000, 4)  # 200 ms / 50 ms at 1 kHz; MAV WL ZC SSC RMS
    cols = cfg.column_names(EMG)
    hud = [i for i, c in enumerate(cols) if c.split(".")[-1] in HUDGINS]
    gap = cfg.window // cfg.increment

    subjects: dict[str, list] = defaultdict(list)
    t0 = time.time()
    for p in find_uci_files(a.data):
        rec = load_uci(p)
        subj = p.stem[:-3]  # e.g. "1N"
        X, y, ends = recording_windows(rec, cfg, EMG, mains_hz=60)
        angle = rec.channel("FX")[ends]
        subjects[subj].append((X, y, angle))
    t_feat = time.time() - t0

    res = defaultdict(list)
    t_train = 0.0
    for subj, recs in sorted(subjects.items()):
        tr, te = [], []
        for X, y, ang in recs:
            i_tr, i_te = split(len(X), a.train_frac, gap)
            tr.append((X[i_tr], y[i_tr], ang[i_tr]))
            te.append((X[i_te], y[i_te], ang[i_te]))
        Xtr = np.vstack([t[0] for t in tr]); ytr = np.concatenate([t[1] for t in tr]); atr = np.concatenate([t[2] for t in tr])
        Xte = np.vstack([t[0] for t in te]); yte = np.concatenate([t[1] for t in te]); ate = np.concatenate([t[2] for t in te])

        base = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis()).fit(Xtr[:, hud].astype(float), ytr)
        res["baseline"].append(np.mean(base.predict(Xte[:, hud].astype(float)) == yte))

        t1 = time.time()
        tm = train(Xtr, ytr, np.zeros(len(ytr)), kind=a.kind, feature_config=cfg, cv=False, seed=0)
        t_train += time.time() - t1
        idx = {c: i for i, c in enumerate(tm.labels)}
        rep = agreement_report(tm.float_net, tm.qmodel, Xte, np.array([idx.get(c, -1) for c in yte]))
        res["float"].append(rep.float_score)
        res["int8"].append(rep.int8_score)
        res["agree"].append(rep.agreement)

        rbase = make_pipeline(StandardScaler(), __import__("sklearn.linear_model", fromlist=["Ridge"]).Ridge(1.0)).fit(Xtr[:, hud].astype(float), atr)
        res["r2_baseline"].append(r2_score(ate, rbase.predict(Xte[:, hud].astype(float))))
        rm = train(Xtr, atr, np.zeros(len(atr)), kind="mlp", task="regression", feature_config=cfg, cv=False, seed=0)
        rr = agreement_report(rm.float_net, rm.qmodel, Xte, ate)
        res["r2_float"].append(rr.float_score)
        res["r2_int8"].append(rr.int8_score)

    n = len(subjects)
    print(f"UCI lower-limb, {n} subjects (1-7, N and A), within-subject time split {a.train_frac:.0%}/{1 - a.train_frac:.0%}, "
          f"200 ms / 50 ms windows (features {t_feat:.1f} s, training {t_train:.1f} s)")
    print(f"exercise classification accuracy (mean over subjects):")
    print(f"  baseline LDA on Hudgins TD (float): {100 * np.mean(res['baseline']):.2f}%")
    print(f"  {a.kind} float:                      {100 * np.nanmean(res['float']):.2f}%")
    print(f"  {a.kind} int8 (device):              {100 * np.mean(res['int8']):.2f}%  "
          f"(int8 - float {100 * (np.mean(res['int8']) - np.nanmean(res['float'])):+.2f} pp; "
          f"int8 - baseline {100 * (np.mean(res['int8']) - np.mean(res['baseline'])):+.2f} pp; "
          f"float/int8 decision agreement {100 * np.mean(res['agree']):.2f}%)")
    print(f"knee-angle regression R^2 (mean over subjects): baseline ridge on Hudgins {np.mean(res['r2_baseline']):.3f}, "
          f"mlp float {np.nanmean(res['r2_float']):.3f}, int8 {np.mean(res['r2_int8']):.3f}")


if __name__ == "__main__":
    main()
