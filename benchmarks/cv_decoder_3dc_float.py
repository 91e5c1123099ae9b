"""Quick float screening of decoder ideas on the 3DC participants' ``train/`` files only.

Before a new feature is built into the firmware (viper code, golden vectors, spec bump,
instruction cost), its gain is checked here in float: per participant, leave one of the
four training repetitions out, a shrinkage LDA (Ledoit-Wolf, standardised inputs) trained
on the other three scores the held-out one; the figure is the mean over the five
participants. ``test/`` is never read. Features are the garment's integer features
(``garment.features.reference``, through the device's fixed-point filters) with float
log2 of the amplitude features and AR / CR over 2^14, as the decoder's input stage takes
them. With the default arguments this reproduces the README's float CV figure of the
chosen decoder (amp+ar+cr, context 3x2: 90.50 %).

Every row prints two figures: ``all`` scores every window of the held-out repetition (as
``bench_decoder_3dc.py --train-cv`` does); ``same`` scores only windows ending at sample
299 or later, the windows every window length in the table has, so that a longer window
is not credited for skipping the hard first windows of each elicitation.

Ideas screened: window length (250 / 300 ms, same 50 ms increment); spatial features of
neighbouring-channel differences (x_c - x_(c+k) mod 8: a bipolar re-reference round the
armband; Khushaba et al.'s temporal-spatial descriptors use such pairs); LDA with uniform
class priors; a regularised discriminant between LDA and QDA (per-class Ledoit-Wolf
covariance blended with the pooled one).

Usage: python benchmarks/cv_decoder_3dc_float.py [--data ../shared/data/3dc-gestures] [--only NAME...]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.covariance import ledoit_wolf
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import StandardScaler

from garment.dataset import device_filter, emg_channels, to_codes
from garment.features.reference import FeatureConfig, compute_features
from garment.models.reference import stack_context
from garment.models.selection import AMP_AR_CR, AMP_CR
from garment.models.train import AMPLITUDE_FEATURES as AMP  # the ones the decoder takes the log2 of
from garment.recordings.threedc import find_3dc_files, load_3dc

CHANNELS = [f"ch{i}" for i in range(1, 9)]
SAME_FROM = 299  # first window end of the longest window screened (300 samples)


def load_train(data: str) -> list[dict]:
    out = []
    for f in find_3dc_files(data):
        if f.split != "train":
            continue
        rec = load_3dc(f)
        codes = device_filter(to_codes(emg_channels(rec, CHANNELS)), 1000, 60)
        out.append({"p": f.participant, "rep": f.repetition, "codes": codes, "lab": rec.labels_per_sample(default="")})
    return out


def inputs(X: np.ndarray, feats: tuple[str, ...]) -> np.ndarray:
    """Integer features -> the decoder's input scale (log2 of amplitudes, AR/CR / 2^14)."""
    X = X.astype(float).reshape(len(X), -1, len(feats))
    for j, f in enumerate(feats):
        X[:, :, j] = np.log2(np.maximum(X[:, :, j], 1)) if f in AMP else X[:, :, j] / 2**14
    return X.reshape(len(X), -1)


def pair_features(codes: np.ndarray, window: int, ks: tuple[int, ...], feats: tuple[str, ...],
                  half_last: bool = True) -> np.ndarray:
    """``feats`` of the differences x_c - x_(c+k) mod n_ch for every k in ``ks`` (the integer
    features of the difference signal, log2). With 8 channels, k = 4 pairs each channel with
    the opposite one twice; ``half_last`` keeps those 4 distinct pairs once (k 1..4: all 28)."""
    n_ch = codes.shape[1]
    cfg = FeatureConfig(fs=1000, n_ch=n_ch, window=window, increment=50, features=feats)
    cols = []
    for k in ks:
        d = np.clip(codes.astype(np.int64) - np.roll(codes, -k, axis=1), -(2**23), 2**23 - 1).astype(np.int32)
        X, _ = compute_features(d, cfg)
        X = np.log2(np.maximum(X.astype(float), 1))
        if half_last and 2 * k == n_ch:
            X = X[:, : (n_ch // 2) * len(feats)]
        cols.append(X)
    return np.hstack(cols)


def rows(D: list[dict], window: int = 200, feats: tuple[str, ...] = AMP_AR_CR, pairs=None) -> list[tuple]:
    cfg = FeatureConfig(fs=1000, n_ch=8, window=window, increment=50, features=feats)
    out = []
    for d in D:
        X, e = compute_features(d["codes"], cfg)
        X = inputs(X, feats)
        if pairs is not None:
            X = np.hstack([X, pair_features(d["codes"], window, *pairs)])
        out.append((X, e, d["lab"][e]))
    return out


class RDA:
    """Regularised discriminant (Friedman): class covariance a * S_k + (1 - a) * S_pooled,
    both Ledoit-Wolf; a = 0 is the shrinkage LDA, a = 1 a shrinkage QDA (host-only)."""

    def __init__(self, a: float):
        self.a = a

    def fit(self, X, y):
        from scipy.linalg import cholesky

        self.classes_ = np.unique(y)
        P = ledoit_wolf(np.vstack([X[y == c] - X[y == c].mean(0) for c in self.classes_]), assume_centered=True)[0]
        self.p = []
        for c in self.classes_:
            Z = X[y == c]
            m = Z.mean(0)
            L = cholesky(self.a * ledoit_wolf(Z - m, assume_centered=True)[0] + (1 - self.a) * P, lower=True)
            self.p.append((m, L, 2 * np.log(np.diag(L)).sum()))
        return self

    def predict(self, X):
        from scipy.linalg import solve_triangular

        s = np.stack([-(solve_triangular(L, (X - m).T, lower=True) ** 2).sum(0) - ld for m, L, ld in self.p], 1)
        return self.classes_[s.argmax(1)]


def lda():
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")


def cv(D: list[dict], R: list[tuple], ctx: int = 3, step: int = 2, model=lda) -> tuple[float, float, dict]:
    """(same-window %, all-window %, per participant all-window %), leave one repetition out."""
    skip = (ctx - 1) * step
    same, allw, per = [], [], {}
    for p in sorted({d["p"] for d in D}):
        idx = [i for i, d in enumerate(D) if d["p"] == p]
        pa = []
        for r in sorted({D[i]["rep"] for i in idx}):
            tr = [i for i in idx if D[i]["rep"] != r]
            te = [i for i in idx if D[i]["rep"] == r]
            Xtr = np.vstack([stack_context(R[i][0], ctx, step)[skip:] for i in tr])
            ytr = np.concatenate([R[i][2][skip:] for i in tr])
            sc = StandardScaler().fit(Xtr)
            m = model().fit(sc.transform(Xtr), ytr)
            ok = m.predict(sc.transform(np.vstack([stack_context(R[i][0], ctx, step) for i in te]))) == \
                np.concatenate([R[i][2] for i in te])
            ends = np.concatenate([R[i][1] for i in te])
            same.append(ok[ends >= SAME_FROM].mean())
            allw.append(ok.mean())
            pa.append(ok.mean())
        per[p] = 100 * float(np.mean(pa))
    return 100 * float(np.mean(same)), 100 * float(np.mean(allw)), per


def experiments():
    """(name, rows kwargs, cv kwargs)"""
    w = [(f"amp+ar+cr, {W} ms windows, context {c}x{s}", dict(window=W), dict(ctx=c, step=s))
         for W in (200, 250, 300) for c, s in ((3, 2), (4, 1), (1, 1))]
    p = [(f"amp+ar+cr 3x2 + pair differences k={','.join(map(str, ks))} {' '.join(f)}", dict(pairs=(ks, f)), {})
         for ks, f in (((1,), ("MAV", "WL")), ((1,), AMP), ((1, 2, 3), ("RMS",)), ((1, 2, 3), ("WL",)),
                       ((1, 2, 3), ("MAV", "WL")), ((1, 2, 3), ("MAV", "WL", "M2")), ((1, 2, 3, 4), ("MAV", "WL")))]
    p.append(("amp+cr 3x2 + pair differences k=1,2,3,4 MAV WL", dict(feats=AMP_CR, pairs=((1, 2, 3, 4), ("MAV", "WL"))), {}))
    p.append(("amp+ar+cr 4x1 + pair differences k=1,2,3,4 MAV WL", dict(pairs=((1, 2, 3, 4), ("MAV", "WL"))),
              dict(ctx=4, step=1)))
    m = [("amp+ar+cr 3x2, LDA with uniform class priors", {},
          dict(model=lambda: LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=np.full(11, 1 / 11))))]
    m += [(f"amp+ar+cr 3x2, regularised discriminant a={a} (host-only)", {}, dict(model=lambda a=a: RDA(a)))
          for a in (0.1, 0.3)]
    return w + p + m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/3dc-gestures"))
    ap.add_argument("--only", nargs="*", help="run only experiments whose name contains one of these")
    a = ap.parse_args()
    t0 = time.time()
    D = load_train(a.data)
    print(f"3DC train/ only, {len(D)} files, leave one repetition out, float; loaded in {time.time() - t0:.0f} s")
    cache: dict = {}
    for name, rk, ck in experiments():
        if a.only and not any(s in name for s in a.only):
            continue
        key = repr(sorted(rk.items()))
        if key not in cache:
            cache[key] = rows(D, **rk)
        same, allw, per = cv(D, cache[key], **ck)
        print(f"  {name:62s} same {same:.2f} %  all {allw:.2f} %  (" +
              " / ".join(f"P{k} {v:.1f}" for k, v in per.items()) + ")", flush=True)


if __name__ == "__main__":
    main()
