"""Decoder accuracy on real recordings: the UCI lower-limb set (subjects 1-7 of each group).

Task 1, exercise classification (mar / pie / sen).
  Within subject, time split: for every subject the first 70 % of each recording's
  windows train, the last 30 % test (training windows that overlap the test part, with
  their temporal context, are dropped).
  Model selection by leave-one-subject-out: every candidate decoder (features, temporal
  context, LDA or MLP: garment.models.selection.default_candidates) is trained and
  scored per subject; each subject is then scored with the candidate that did best on
  the *other* subjects (subjects sharing recordings - the published 2N repeats two of
  1N's files - are kept out of each other's selection). Nothing is tuned on the subject
  it is scored on.
  Cross subject: the default decoder (the candidate best over all subjects) trained on
  every other subject, scored on all of this subject's windows.
Task 2, knee-angle regression within subject, same split.
Windows: 200 ms, 50 ms increments, computed by the firmware's integer pipeline
(fixed-point filters + integer features, bit-exact host reference).

Compared on the same windows:
  baseline  LDA on Hudgins time-domain features (MAV, ZC, SSC, WL), float, standardised;
  float     our decoder before quantisation;
  int8      our decoder as the garment runs it (host integer reference == device),
  with LibEMG's offline metrics (CA, active error with "sen" - sitting - as no-motion,
  instability) of the int8 decisions.

Usage: python benchmarks/bench_decoder_uci.py [--data ../shared/data/uci-lower-limb] [--json]
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from garment.dataset import recording_windows
from garment.features.reference import FeatureConfig
from garment.models.metrics import offline_metrics
from garment.models.report import r2_score
from garment.models.selection import ALL_FEATURES, VOTES, Candidate, columns, default_candidates, loso_select, \
    overall_best, stream_rows, voted
from garment.models.train import train
from garment.recordings import load_uci
from garment.recordings.importer import find_uci_files

EMG = ["RF", "BF", "VM", "ST"]
HUDGINS = ["MAV", "ZC", "SSC", "WL"]


def split(n: int, frac: float, gap: int) -> tuple[np.ndarray, np.ndarray]:
    cut = int(n * frac)
    return np.arange(0, max(cut - gap, 0)), np.arange(cut, n)


def load(data: str) -> tuple[dict[str, list], FeatureConfig, dict[str, set]]:
    cfg = FeatureConfig.default(1000, 4, features=ALL_FEATURES)  # 200 ms / 50 ms at 1 kHz
    subjects: dict[str, list] = defaultdict(list)
    hashes: dict[str, set] = defaultdict(set)
    for p in find_uci_files(data):
        rec = load_uci(p)
        subj = p.stem[:-3]  # e.g. "1N"
        X, y, ends = recording_windows(rec, cfg, EMG, mains_hz=60)
        subjects[subj].append((X, y, rec.channel("FX")[ends]))
        hashes[subj].add(rec.meta["content_sha256"])
    return subjects, cfg, hashes


def subset_config(cfg: FeatureConfig, feats: tuple[str, ...]) -> FeatureConfig:
    return FeatureConfig(fs=cfg.fs, n_ch=cfg.n_ch, window=cfg.window, increment=cfg.increment, features=feats,
                         zc_thr=cfg.zc_thr, ssc_thr=cfg.ssc_thr)


def within(recs: list, cand: Candidate, cfg: FeatureConfig, frac: float) -> dict[int, dict[str, float]]:
    """Train on the first part of each recording, score the rest (one subject), per vote length."""
    cols = columns(cfg.features, cfg.n_ch, cand.features)
    skip = (cand.context - 1) * cand.step
    gap = cfg.window // cfg.increment + skip
    tr, te = [], []
    for X, y, _ in recs:
        R = stream_rows(X, cols, cand)
        i_tr, i_te = split(len(R), frac, gap)
        i_tr = i_tr[i_tr >= skip]  # full context only (a fresh decoder repeats its first window)
        tr.append((R[i_tr], y[i_tr]))
        te.append((R[i_te], y[i_te]))
    Xtr = np.vstack([t[0] for t in tr]); ytr = np.concatenate([t[1] for t in tr])
    tm = train(Xtr, ytr, np.zeros(len(ytr)), kind=cand.kind, hidden=cand.hidden, cv=False, seed=0,
               estimator_params=cand.estimator_params,
               feature_config=subset_config(cfg, cand.features), context=(cand.context, cand.step))
    lab = np.array(tm.labels)
    qs = [(tm.predict_int8(X), tm.float_net.predict(X), y) for X, y in te]
    out = {}
    for v in VOTES:
        truth = np.concatenate([y for _, _, y in qs])
        dec = np.concatenate([lab[voted(q, v)] for q, _, _ in qs])
        fl = np.concatenate([lab[voted(f, v)] for _, f, _ in qs])
        stream = np.concatenate([np.full(len(y), k) for k, (_, _, y) in enumerate(qs)])
        m = offline_metrics(truth, dec, "sen", stream)
        out[v] = {"int8": float(m["CA"] or 0.0), "float": float(np.mean(fl == truth)), "AER": m["AER"], "INS": m["INS"]}
    return out


def baseline_within(recs: list, cfg: FeatureConfig, frac: float) -> float:
    cols = columns(cfg.features, cfg.n_ch, HUDGINS)
    gap = cfg.window // cfg.increment
    tr, te = [], []
    for X, y, _ in recs:
        i_tr, i_te = split(len(X), frac, gap)
        tr.append((X[i_tr][:, cols], y[i_tr])); te.append((X[i_te][:, cols], y[i_te]))
    m = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis())
    m.fit(np.vstack([t[0] for t in tr]).astype(float), np.concatenate([t[1] for t in tr]))
    return float(np.mean(m.predict(np.vstack([t[0] for t in te]).astype(float)) == np.concatenate([t[1] for t in te])))


def cross(subjects: dict[str, list], cand: Candidate | None, cfg: FeatureConfig, held: str,
          related: set[str]) -> float:
    """Train on every other (unrelated) subject, score all of ``held``'s windows."""
    feats = cand.features if cand else tuple(HUDGINS)
    cols = columns(cfg.features, cfg.n_ch, feats)
    ctx = (cand.context, cand.step) if cand else (1, 1)
    Xtr, ytr = [], []
    for s, recs in subjects.items():
        if s == held or s in related:
            continue
        for X, y, _ in recs:
            Xtr.append(stream_rows(X, cols, cand) if cand else X[:, cols]); ytr.append(y)
    Xte = [stream_rows(X, cols, cand) if cand else X[:, cols] for X, _, _ in subjects[held]]
    yte = np.concatenate([y for _, y, _ in subjects[held]])
    if cand is None:
        m = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis()).fit(np.vstack(Xtr).astype(float),
                                                                            np.concatenate(ytr))
        return float(np.mean(m.predict(np.vstack(Xte).astype(float)) == yte))
    tm = train(np.vstack(Xtr), np.concatenate(ytr), np.zeros(sum(len(y) for y in ytr)), kind=cand.kind,
               hidden=cand.hidden, cv=False, seed=0, feature_config=subset_config(cfg, feats), context=ctx,
               estimator_params=cand.estimator_params)
    dec = np.concatenate([voted(tm.predict_int8(X), cand.vote) for X in Xte])  # one stream per recording
    return float(np.mean(np.array(tm.labels)[dec] == yte))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/uci-lower-limb"))
    ap.add_argument("--train-frac", type=float, default=0.7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    t0 = time.time()
    subjects, cfg, hashes = load(a.data)
    t_feat = time.time() - t0
    names = sorted(subjects)
    related = {s: {t for t in names if t != s and hashes[s] & hashes[t]} for s in names}

    t1 = time.time()
    cands = default_candidates()
    fits = {c: {s: within(subjects[s], c, cfg, a.train_frac) for s in names} for c in {c.trained for c in cands}}
    res = {c: {s: fits[c.trained][s][c.vote] for s in names} for c in cands}
    scores = {c: {s: r["int8"] for s, r in res[c].items()} for c in cands}
    picks = loso_select(scores, exclude=lambda s, t: t in related[s])
    base = {s: baseline_within(subjects[s], cfg, a.train_frac) for s in names}
    t_train = time.time() - t1
    best = overall_best(scores)
    sel_int8 = np.mean([picks[s][1] for s in names])
    sel_float = np.mean([res[picks[s][0]][s]["float"] for s in names])
    sel_aer = np.mean([res[picks[s][0]][s]["AER"] for s in names])
    sel_ins = np.mean([res[picks[s][0]][s]["INS"] for s in names])
    lda_td5 = Candidate("lda", ("MAV", "WL", "ZC", "SSC", "RMS"))

    t2 = time.time()
    cross_best = {s: cross(subjects, best, cfg, s, related[s]) for s in names}
    cross_base = {s: cross(subjects, None, cfg, s, related[s]) for s in names}
    t_cross = time.time() - t2

    # knee angle: MLP on every feature vs ridge on Hudgins, within subject
    r2b, r2q = [], []
    hud = columns(cfg.features, cfg.n_ch, HUDGINS)
    gap = cfg.window // cfg.increment
    for s in names:
        tr, te = [], []
        for X, y, ang in subjects[s]:
            i_tr, i_te = split(len(X), a.train_frac, gap)
            tr.append((X[i_tr], ang[i_tr])); te.append((X[i_te], ang[i_te]))
        Xtr = np.vstack([t[0] for t in tr]); atr = np.concatenate([t[1] for t in tr])
        Xte = np.vstack([t[0] for t in te]); ate = np.concatenate([t[1] for t in te])
        rb = make_pipeline(StandardScaler(), Ridge(1.0)).fit(Xtr[:, hud].astype(float), atr)
        r2b.append(r2_score(ate, rb.predict(Xte[:, hud].astype(float))))
        rm = train(Xtr, atr, np.zeros(len(atr)), kind="mlp", task="regression", feature_config=cfg, cv=False, seed=0)
        r2q.append(r2_score(ate, rm.predict_int8(Xte)))

    out = {
        "subjects": names,
        "within_subject": {
            "baseline_lda_hudgins": float(np.mean(list(base.values()))),
            "loso_selected_int8": float(sel_int8), "loso_selected_float": float(sel_float),
            "loso_selected_AER": float(sel_aer), "loso_selected_INS": float(sel_ins),
            "lda_td5_int8": float(np.mean(list(scores[lda_td5].values()))),
            "picks": {s: picks[s][0].name for s in names},
            "per_candidate_int8": {c.name: float(np.mean(list(scores[c].values()))) for c in cands},
            "per_candidate_float": {c.name: float(np.mean([r["float"] for r in res[c].values()])) for c in cands},
        },
        "default_decoder": best.name,
        "cross_subject": {"baseline_lda_hudgins": float(np.mean(list(cross_base.values()))),
                          "default_int8": float(np.mean(list(cross_best.values())))},
        "knee_r2": {"ridge_hudgins": float(np.mean(r2b)), "mlp_int8": float(np.mean(r2q))},
        "seconds": {"features": round(t_feat, 1), "within": round(t_train, 1), "cross": round(t_cross, 1)},
    }
    if a.json:
        print(json.dumps(out, indent=1))
        return
    w = out["within_subject"]
    print(f"UCI lower-limb, {len(names)} subjects ({', '.join(names)}), 200 ms / 50 ms windows "
          f"(features {t_feat:.1f} s, {len(cands)} candidates x {len(names)} subjects {t_train:.1f} s, "
          f"cross-subject {t_cross:.1f} s)")
    print(f"exercise classification, within subject (time split {a.train_frac:.0%}/{1 - a.train_frac:.0%}), "
          "mean over subjects:")
    print(f"  baseline LDA on Hudgins TD (float):          {100 * w['baseline_lda_hudgins']:.2f}%")
    print(f"  int8 LDA on MAV WL ZC SSC RMS (old default): {100 * w['lda_td5_int8']:.2f}%")
    print(f"  int8, decoder chosen leave-one-subject-out:  {100 * sel_int8:.2f}%  (its float model "
          f"{100 * sel_float:.2f}%, int8 - float {100 * (sel_int8 - sel_float):+.2f} pp; active error "
          f"{100 * sel_aer:.2f}%, instability {100 * sel_ins:.2f}%)")
    print("  picks: " + ", ".join(f"{s}: {picks[s][0].name}" for s in names))
    print("  every candidate (int8 / float, mean over subjects):")
    for c in cands:
        print(f"    {c.name:24s} {100 * w['per_candidate_int8'][c.name]:.2f}% / {100 * w['per_candidate_float'][c.name]:.2f}%")
    print(f"default decoder (best over all subjects): {best.name}")
    print(f"exercise classification, cross subject (train on the other subjects): baseline "
          f"{100 * out['cross_subject']['baseline_lda_hudgins']:.2f}%, default decoder int8 "
          f"{100 * out['cross_subject']['default_int8']:.2f}%")
    print(f"knee-angle R^2 within subject: ridge on Hudgins {np.mean(r2b):.3f}, int8 MLP (all features) {np.mean(r2q):.3f}")


if __name__ == "__main__":
    main()
