"""Decoder accuracy on the 3DC gestures dataset: 11 forearm motions, 8 of the armband's 10 channels.

Data: Côté-Allard et al., "A Low-Cost, Wireless, 3-D-Printed Custom Armband for sEMG Hand
Gesture Recognition", IEEE TNSRE 27(4):760-771, 2019 (participants 1, 3, 4, 5 and 6 as
held in shared/data; the others are kept out on purpose).

Protocol (the dataset's own): per participant, train on ``train/`` (the first four
cycles), score on ``test/`` (the last four, after a 5-minute break); channels 1-8 (the
garment's AFE has 8); 200 ms windows at 50 ms increments through the garment's integer
pipeline (fixed-point high-pass + 60 Hz notch, integer features, bit-exact host
reference). Every test file is one stream (the decoder restarts per file).

Model selection by leave-one-participant-out: every candidate decoder
(garment.models.selection.extended_candidates: the shared grid plus the LDA cells that
led a cross-validation on train/ only) is trained and scored per participant;
each participant is scored with the candidate that did best on the other participants.

Compared on the same windows: LDA on Hudgins TD (MAV, ZC, SSC, WL; float, standardised:
the standard baseline); the int8 decoders as the garment runs them, with LibEMG's
offline metrics (CA, active error with no_motion as the null class, instability).

``--train-cv``: also choose among the LDA candidates by cross-validation on ``train/``
alone (per participant: leave one of its four training repetitions out, score the
held-out one; ``test/`` unread), then score that choice on ``test/``.

Usage: python benchmarks/bench_decoder_3dc.py [--data ../shared/data/3dc-gestures] [--train-cv] [--json]
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from garment.dataset import recording_windows
from garment.features.reference import FeatureConfig
from garment.models.metrics import offline_metrics
from garment.models.selection import SPEC_FEATURES, VOTES, Candidate, columns, extended_candidates, loso_select, \
    overall_best, stream_rows, voted
from garment.models.train import train
from garment.recordings.threedc import find_3dc_files, load_3dc

CHANNELS = [f"ch{i}" for i in range(1, 9)]
HUDGINS = ["MAV", "ZC", "SSC", "WL"]


def load(data: str) -> tuple[dict[int, dict[str, list]], FeatureConfig]:
    cfg = FeatureConfig.default(1000, 8, features=SPEC_FEATURES)
    parts: dict[int, dict[str, list]] = defaultdict(lambda: {"train": [], "test": [], "train_rep": [], "test_rep": []})
    for f in find_3dc_files(data):
        X, y, _ = recording_windows(load_3dc(f), cfg, CHANNELS, mains_hz=60)
        parts[f.participant][f.split].append((X, y))
        parts[f.participant][f.split + "_rep"].append(f.repetition)
    return dict(parts), cfg


def subset(cfg: FeatureConfig, feats: tuple[str, ...]) -> FeatureConfig:
    return FeatureConfig(fs=cfg.fs, n_ch=cfg.n_ch, window=cfg.window, increment=cfg.increment, features=feats,
                         zc_thr=cfg.zc_thr, ssc_thr=cfg.ssc_thr)


def score(p: dict[str, list], cand: Candidate, cfg: FeatureConfig) -> dict[int, dict[str, float]]:
    """The candidate trained on ``p["train"]``, scored on ``p["test"]``, for every vote length."""
    cols = columns(cfg.features, cfg.n_ch, cand.features)
    # training rows whose context reaches back before their file's start are left out
    # (a fresh decoder repeats its first window there: not what a running one sees)
    skip = (cand.context - 1) * cand.step
    Xtr = np.vstack([stream_rows(X, cols, cand)[skip:] for X, _ in p["train"]])
    ytr = np.concatenate([y[skip:] for _, y in p["train"]])
    tm = train(Xtr, ytr, np.zeros(len(ytr)), kind=cand.kind, hidden=cand.hidden, cv=False, seed=0,
               estimator_params=cand.estimator_params,
               feature_config=subset(cfg, cand.features), context=(cand.context, cand.step))
    lab = np.array(tm.labels)
    qs = []
    for X, y in p["test"]:
        R = stream_rows(X, cols, cand)
        qs.append((tm.predict_int8(R), tm.float_net.predict(R), y))
    out = {}
    t = np.concatenate([y for _, _, y in qs])
    stream = np.concatenate([np.full(len(y), k) for k, (_, _, y) in enumerate(qs)])
    for v in VOTES:
        dec = np.concatenate([lab[voted(q, v)] for q, _, _ in qs])
        fl = np.concatenate([lab[voted(f, v)] for _, f, _ in qs])
        m = offline_metrics(t, dec, "no_motion", stream)
        out[v] = {"int8": float(m["CA"] or 0.0), "float": float(np.mean(fl == t)), "AER": m["AER"], "INS": m["INS"]}
    return out


def train_cv(p: dict[str, list], cand: Candidate, cfg: FeatureConfig) -> dict[int, float]:
    """Int8 accuracy per vote length, leave one training repetition out (``train/`` only)."""
    reps = sorted(set(p["train_rep"]))
    folds = []
    for r in reps:
        fold = {"train": [w for w, k in zip(p["train"], p["train_rep"]) if k != r],
                "test": [w for w, k in zip(p["train"], p["train_rep"]) if k == r]}
        folds.append(score(fold, cand, cfg))
    return {v: float(np.mean([f[v]["int8"] for f in folds])) for v in VOTES}


def baseline(p: dict[str, list], cfg: FeatureConfig) -> float:
    cols = columns(cfg.features, cfg.n_ch, HUDGINS)
    m = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis())
    m.fit(np.vstack([X[:, cols] for X, _ in p["train"]]).astype(float), np.concatenate([y for _, y in p["train"]]))
    Xte = np.vstack([X[:, cols] for X, _ in p["test"]]).astype(float)
    return float(np.mean(m.predict(Xte) == np.concatenate([y for _, y in p["test"]])))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/3dc-gestures"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--train-cv", action="store_true", help="also select among the LDA candidates on train/ alone")
    a = ap.parse_args()
    t0 = time.time()
    parts, cfg = load(a.data)
    t_feat = time.time() - t0
    names = sorted(parts)
    t1 = time.time()
    cands = extended_candidates()
    fits = {c: {str(n): score(parts[n], c, cfg) for n in names} for c in {c.trained for c in cands}}
    res = {c: {s: fits[c.trained][s][c.vote] for s in fits[c.trained]} for c in cands}
    scores = {c: {s: r["int8"] for s, r in res[c].items()} for c in cands}
    picks = loso_select(scores)
    base = {str(n): baseline(parts[n], cfg) for n in names}
    t_train = time.time() - t1
    best = overall_best(scores)
    subj = [str(n) for n in names]
    sel = {k: float(np.mean([res[picks[s][0]][s][k] for s in subj])) for k in ("int8", "float", "AER", "INS")}
    lda_td5 = Candidate("lda", ("MAV", "WL", "ZC", "SSC", "RMS"))
    best_lda = max((c for c in cands if c.kind == "lda"), key=lambda c: np.mean(list(scores[c].values())))
    best_mlp = max((c for c in cands if c.kind == "mlp"), key=lambda c: np.mean(list(scores[c].values())))
    out = {
        "participants": names,
        "baseline_lda_hudgins": float(np.mean(list(base.values()))),
        "baseline_per_participant": base,
        "lda_td5_int8": float(np.mean(list(scores[lda_td5].values()))),
        "loso_selected": sel,
        "loso_per_participant": {s: round(picks[s][1], 4) for s in subj},
        "picks": {s: picks[s][0].name for s in subj},
        "best_lda": [best_lda.name, float(np.mean(list(scores[best_lda].values())))],
        "best_mlp": [best_mlp.name, float(np.mean(list(scores[best_mlp].values())))],
        "per_candidate_int8": {c.name: float(np.mean(list(scores[c].values()))) for c in cands},
        "per_candidate_float": {c.name: float(np.mean([r["float"] for r in res[c].values()])) for c in cands},
        "default_decoder": best.name,
        "seconds": {"features": round(t_feat, 1), "train_and_score": round(t_train, 1)},
    }
    if a.train_cv:
        t2 = time.time()
        ldas = [c for c in cands if c.kind == "lda"]
        cvs = {c: {str(n): train_cv(parts[n], c, cfg) for n in names} for c in {c.trained for c in ldas}}
        cv_mean = {c: float(np.mean([cvs[c.trained][s][c.vote] for s in subj])) for c in ldas}
        # one decoder for everyone, the best mean over the participants' own train/ CV
        pick = max(ldas, key=lambda c: (cv_mean[c], -ldas.index(c)))
        out["train_cv"] = {
            "pick": pick.name, "cv_int8": cv_mean[pick], "test_int8": float(np.mean(list(scores[pick].values()))),
            "test_per_participant": {s: round(scores[pick][s], 4) for s in subj},
            "per_candidate_cv": {c.name: cv_mean[c] for c in ldas}, "seconds": round(time.time() - t2, 1)}
    if a.json:
        print(json.dumps(out, indent=1))
        return
    print(f"3DC gestures (Cote-Allard et al. 2019), participants {names}, 8 channels, 11 classes, "
          f"train/ -> test/ (features {t_feat:.1f} s, {len(cands)} candidates {t_train:.1f} s)")
    print(f"  baseline LDA on Hudgins TD (float):          {100 * out['baseline_lda_hudgins']:.2f}%")
    print(f"  int8 LDA on MAV WL ZC SSC RMS (old default): {100 * out['lda_td5_int8']:.2f}%")
    print(f"  int8, decoder chosen leave-one-participant-out: {100 * sel['int8']:.2f}% (float {100 * sel['float']:.2f}%, "
          f"int8 - float {100 * (sel['int8'] - sel['float']):+.2f} pp; active error {100 * sel['AER']:.2f}%, "
          f"instability {100 * sel['INS']:.2f}%)")
    print("  per participant: " + ", ".join(f"P{s} {100 * out['loso_per_participant'][s]:.1f}% ({picks[s][0].name})"
                                          for s in subj))
    print(f"  best LDA {best_lda.name} {100 * out['best_lda'][1]:.2f}%, best MLP {best_mlp.name} {100 * out['best_mlp'][1]:.2f}%")
    print("  every candidate (int8 / float, mean over participants):")
    for c in cands:
        print(f"    {c.name:24s} {100 * out['per_candidate_int8'][c.name]:.2f}% / {100 * out['per_candidate_float'][c.name]:.2f}%")
    if a.train_cv:
        tc = out["train_cv"]
        print(f"  chosen on train/ alone (leave one repetition out, LDA candidates, {tc['seconds']} s): {tc['pick']}: "
              f"CV {100 * tc['cv_int8']:.2f}%, test/ {100 * tc['test_int8']:.2f}% ("
              + ", ".join(f"P{s} {100 * v:.1f}%" for s, v in tc["test_per_participant"].items()) + ")")
        for c in sorted(tc["per_candidate_cv"], key=tc["per_candidate_cv"].get, reverse=True)[:8]:
            print(f"    CV {c:24s} {100 * tc['per_candidate_cv'][c]:.2f}%")
    print(f"default decoder (best over all participants): {best.name}")


if __name__ == "__main__":
    main()
