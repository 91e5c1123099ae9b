"""Bit-exact numpy reference of the firmware's windowed EMG features.

The definitions (window alignment, MAV, WL, ZC, SSC, RMS, M2, M4, AR1..AR4, saturation, thresholds) are
the contract in ``firmware/lib/garmentfw/feature_spec.py``, loaded here from the
firmware tree itself. :func:`compute_features` evaluates them in batch with 64-bit
numpy arithmetic and returns exactly the integers that the device's incremental
32-bit viper code (``garmentfw/features.py``) emits for the same samples, so a decoder
trained on these features sees on the garment what it saw in training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from garment.contracts import load_contract

spec = load_contract("feature_spec")

__all__ = ["FeatureConfig", "compute_features", "window_ends", "spec"]

_KEYS = ("spec_version", "fs", "n_ch", "window", "increment", "features", "zc_thr", "ssc_thr")


@dataclass(frozen=True)
class FeatureConfig:
    """How features are computed: sampling rate, channels, windowing, features, thresholds.

    ``window`` and ``increment`` are in samples, thresholds in ADC codes. ``features`` is
    the per-channel order of the feature vector (names from ``spec.NAMES``). Invalid
    values raise ``ValueError`` naming the field. Serialises with :meth:`to_dict` /
    :meth:`from_dict` (the model file embeds that dict; the firmware reads the same keys).
    """

    fs: int
    n_ch: int
    window: int
    increment: int
    features: tuple[str, ...] = field(default=tuple(spec.DEFAULT_FEATURES))
    zc_thr: int = spec.DEFAULT_ZC_THR
    ssc_thr: int = spec.DEFAULT_SSC_THR

    def __post_init__(self) -> None:
        feats = self.features
        if isinstance(feats, (list, tuple)):
            object.__setattr__(self, "features", tuple(feats))
        spec.check_int("fs", self.fs, spec.FS_MIN, spec.FS_MAX)
        spec.check_config(self.n_ch, self.window, self.increment, self.zc_thr, self.ssc_thr, self.features)

    @classmethod
    def default(cls, fs: int, n_ch: int, **overrides: Any) -> "FeatureConfig":
        """Default config at ``fs``: 200 ms windows, 50 ms increments, all features."""
        spec.check_int("fs", fs, spec.FS_MIN, spec.FS_MAX)
        window, increment = spec.default_window(fs)
        kw: dict[str, Any] = dict(fs=fs, n_ch=n_ch, window=window, increment=increment)
        kw.update(overrides)
        return cls(**kw)

    @property
    def feature_ids(self) -> tuple[int, ...]:
        """Feature ids (``spec.MAV`` ...) in output order."""
        return tuple(spec.NAMES.index(n) for n in self.features)

    @property
    def n_feat(self) -> int:
        """Features per channel."""
        return len(self.features)

    @property
    def width(self) -> int:
        """Length of one feature vector (``n_ch * n_feat``)."""
        return self.n_ch * len(self.features)

    def column_names(self, channel_names: Sequence[str] | None = None) -> list[str]:
        """Names of the feature-vector columns, channel-major (``"ch0.MAV"``, ...)."""
        chans = list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(self.n_ch)]
        if len(chans) != self.n_ch:
            raise ValueError(f"{len(chans)} channel names for n_ch={self.n_ch}")
        return [f"{c}.{f}" for c in chans for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (includes the feature spec version)."""
        return {
            "spec_version": spec.SPEC_VERSION,
            "fs": self.fs,
            "n_ch": self.n_ch,
            "window": self.window,
            "increment": self.increment,
            "features": list(self.features),
            "zc_thr": self.zc_thr,
            "ssc_thr": self.ssc_thr,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FeatureConfig":
        """Inverse of :meth:`to_dict`; ValueError for missing/unknown keys or bad values."""
        if not isinstance(d, Mapping):
            raise ValueError(f"feature config must be a mapping, got {type(d).__name__}")
        missing = [k for k in _KEYS if k not in d]
        if missing:
            raise ValueError(f"feature config lacks {', '.join(missing)}")
        unknown = sorted(set(d) - set(_KEYS))
        if unknown:
            raise ValueError(f"feature config has unknown keys {', '.join(unknown)}")
        feats = d["features"]
        if not isinstance(feats, (list, tuple)) or not all(isinstance(f, str) for f in feats):
            raise ValueError(f"features must be a list of names, got {feats!r}")
        spec.check_version(d["spec_version"], feats)
        return cls(
            fs=d["fs"], n_ch=d["n_ch"], window=d["window"], increment=d["increment"],
            features=tuple(feats), zc_thr=d["zc_thr"], ssc_thr=d["ssc_thr"],
        )


def window_ends(n_samples: int, config: FeatureConfig) -> np.ndarray:
    """End sample index of every complete window in ``n_samples`` samples (int64)."""
    if n_samples < config.window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(config.window - 1, n_samples, config.increment, dtype=np.int64)


def _window_sums(c: np.ndarray, window: int, increment: int, n_win: int, dtype: type) -> np.ndarray:
    """Sum of every window of ``c`` (shape (n_ch, (n_win-1)*increment + window)) -> (n_win, n_ch).

    With window = q*increment + r, window k is increment-blocks k..k+q-1 plus the first
    r samples of block k+q: one reshape-sum over the blocks, prefix sums over the
    (few) block sums, and a strided sum for the partial blocks. uint64 prefix sums may
    wrap; their differences (< 2^63) are exact.
    """
    n_ch, n = c.shape
    q, r = divmod(window, increment)
    nb = n // increment  # n_win - 1 + q full blocks, then r samples
    blocks = c[:, : nb * increment].reshape(n_ch, nb, increment)
    pre = np.zeros((n_ch, nb + 1), dtype=dtype)
    np.cumsum(blocks.sum(axis=2, dtype=dtype), axis=1, out=pre[:, 1:])
    tot = pre[:, q : q + n_win] - pre[:, :n_win]
    if r:
        tot[:, : n_win - 1] += blocks[:, q : q + n_win - 1, :r].sum(axis=2, dtype=dtype)
        tot[:, n_win - 1] += c[:, nb * increment :].sum(axis=1, dtype=dtype)
    return tot.T.astype(np.int64)


def _isqrt(m: np.ndarray) -> np.ndarray:
    """Exact floor(sqrt(m)) for int64 0 <= m < 2^52."""
    r = np.floor(np.sqrt(m.astype(np.float64))).astype(np.int64)
    r -= (r * r > m).astype(np.int64)
    r += ((r + 1) * (r + 1) <= m).astype(np.int64)
    return r


def _lag_sums(xt: np.ndarray, w: int, inc: int, nw: int, starts: np.ndarray) -> list[np.ndarray]:
    """Exact R_k = sum_{n=s+k..e} x[n] x[n-k], k = 0..AR_ORDER, each (n_win, n_ch) int64.

    |x[n] x[n-k]| <= 2^46 and a window sums at most 1024 of them (< 2^56). The prefix
    sums may wrap in int64 over a long recording; their differences are exact.
    """
    out = []
    for k in range(spec.AR_ORDER + 1):
        p = np.zeros(xt.shape, dtype=np.int64)
        p[:, k:] = xt[:, k:].astype(np.int64) * xt[:, : xt.shape[1] - k]
        tot = _window_sums(p, w, inc, nw, np.int64)
        for j in range(k):  # products that reach back before the window's first sample
            tot -= p[:, starts + j].T
        out.append(tot)
    return out


def _bitlen(v: np.ndarray) -> np.ndarray:
    """Bit length of every int64 0 <= v < 2^62 (0 for 0), exact."""
    b = np.zeros(v.shape, dtype=np.int64)
    t = v.copy()
    for k in (32, 16, 8, 4, 2, 1):
        big = t >= (np.int64(1) << k)
        b += np.where(big, k, 0)
        t = np.where(big, t >> k, t)
    return b + (t > 0)


def _cross_correlations(xt: np.ndarray, r0: np.ndarray, kmax: int, w: int, inc: int, nw: int) -> list[np.ndarray]:
    """CR1..CR``kmax`` of every window (n_win, n_ch) int64, as the spec defines them.

    ``r0`` holds every channel's exact sum of squares (n_win, n_ch)."""
    n_ch = xt.shape[0]
    # normalise every R_0 to 2^28 <= V' < 2^30 by an even shift, then its square root
    b = _bitlen(r0)
    sh = b - (spec.CR_NORM_BITS)
    sh -= sh & 1
    vp = np.where(sh >= 0, r0 >> np.maximum(sh, 0), r0 << np.maximum(-sh, 0))
    rv = _isqrt(vp)
    out = []
    for k in range(1, kmax + 1):
        d = (np.arange(n_ch) + k) % n_ch
        p = xt.astype(np.int64) * xt[d]  # |.| <= 2^46
        s = _window_sums(p, w, inc, nw, np.int64)
        den = (rv * rv[:, d]) >> 14
        t = (sh + sh[:, d]) // 2
        mag = np.abs(s)
        m = np.where(t >= 0, mag >> np.maximum(t, 0), mag << np.maximum(-t, 0))
        ok = (r0 > 0) & (r0[:, d] > 0) & (den > 0)
        v = np.minimum(m // np.maximum(den, 1), 1 << spec.CR_Q)
        out.append(np.where(ok, np.sign(s) * v, 0))
    return out


def _rnd(v: np.ndarray) -> np.ndarray:
    return (v + (1 << (spec.AR_Q - 1))) >> spec.AR_Q


def _ar_coefficients(r: list[np.ndarray]) -> list[np.ndarray]:
    """The spec's integer Levinson-Durbin (AR1..AR4 in AR_Q fixed point) on exact lag sums."""
    one = 1 << spec.AR_Q
    r0 = r[0]
    live = r0 > 0
    safe = np.where(live, r0, 1)
    # sh = max(0, bit length - AR_NORM_BITS): the number of s with (R_0 >> s) >= 2^16
    sh = np.zeros_like(r0)
    for s_ in range(64 - spec.AR_NORM_BITS):
        sh += (safe >> s_) >= (1 << spec.AR_NORM_BITS)
    n0 = safe >> sh
    rho = []
    for k in range(1, spec.AR_ORDER + 1):
        rk = r[k] >> sh  # floor
        q = np.minimum((np.abs(rk) << spec.AR_Q) // n0, one)
        rho.append(np.where(live, np.sign(rk) * q, 0))
    e = np.full(r0.shape, one, dtype=np.int64)
    a = [np.zeros(r0.shape, dtype=np.int64) for _ in range(spec.AR_ORDER)]
    for m in range(1, spec.AR_ORDER + 1):
        acc = rho[m - 1].copy()
        for i in range(1, m):
            acc += _rnd(a[i - 1] * rho[m - i - 1])
        mag = np.abs(acc)
        q = np.where(mag >= e, one - 1, (mag << spec.AR_Q) // np.maximum(e, 1))
        kk = np.where(acc == 0, 0, -np.sign(acc) * q)
        old = [v.copy() for v in a]
        for i in range(1, m):
            a[i - 1] = old[i - 1] + _rnd(kk * old[m - i - 1])
        a[m - 1] = kk
        e = e - _rnd(e * _rnd(kk * kk))
    return a


def compute_features(x: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Features of every complete window of ``x`` (int samples, shape (n, n_ch)).

    Returns ``(features, ends)``: int64 ``(n_windows, n_ch * n_feat)`` channel-major
    feature vectors and the int64 end sample index of each window (first ``W-1``, then
    every ``increment``). Samples are saturated to the 24-bit range first, exactly as
    the firmware does.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != config.n_ch:
        raise ValueError(f"x must have shape (n, {config.n_ch}), got {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"x must hold integers, got {x.dtype}")
    n, nch = x.shape
    w = config.window
    ends = window_ends(n, config)
    nw = len(ends)
    out = np.zeros((nw, nch, config.n_feat), dtype=np.int64)
    if nw == 0:
        return out.reshape(0, config.width), ends
    # Only the samples that some window uses, saturated, channel-major (rows contiguous).
    n = int(ends[-1]) + 1
    info = np.iinfo(x.dtype)
    if info.min >= spec.SAMPLE_MIN and info.max <= spec.SAMPLE_MAX:
        xc = x[:n].astype(np.int32)
    elif info.min == 0:  # unsigned
        xc = np.minimum(x[:n], spec.SAMPLE_MAX).astype(np.int32)
    else:
        xc = np.clip(x[:n], spec.SAMPLE_MIN, spec.SAMPLE_MAX).astype(np.int32)
    xt = np.ascontiguousarray(xc.T)
    del xc
    starts = ends - (w - 1)
    ids = config.feature_ids
    inc = config.increment
    res: dict[int, np.ndarray] = {}
    if spec.MAV in ids:
        res[spec.MAV] = _window_sums(np.abs(xt), w, inc, nw, np.int64) // w
    kcr = spec.cr_offsets(ids)
    if spec.RMS in ids or kcr:
        sq = np.square(xt, dtype=np.int64)  # <= 2^46
        r0 = _window_sums(sq, w, inc, nw, np.uint64)
        res[spec.RMS] = _isqrt(r0 // w)
        del sq
        if kcr:
            for k, v in enumerate(_cross_correlations(xt, r0, kcr, w, inc, nw)):
                res[spec.CR1 + k] = v
    if any(i in ids for i in (spec.WL, spec.ZC, spec.SSC, spec.M2, spec.M4)):
        # Contributions of sample n: d[n] = |x[n]-x[n-1]|, z[n], q[n]; zero for n = 0 (and
        # q[1]). A window s..e uses d and z of n = s+1..e and q of n = s+2..e: the W-sums
        # minus the contributions of s (and s+1).
        dx = np.empty_like(xt)
        dx[:, 0] = 0
        np.subtract(xt[:, 1:], xt[:, :-1], out=dx[:, 1:])
        adx = np.abs(dx)  # < 2^24
        if spec.WL in ids:
            res[spec.WL] = (_window_sums(adx, w, inc, nw, np.int64) - adx[:, starts].T) // (w - 1)
        if spec.ZC in ids:
            pos, neg = xt > 0, xt < 0
            z = np.zeros(xt.shape, dtype=bool)
            z[:, 1:] = ((pos[:, :-1] & neg[:, 1:]) | (neg[:, :-1] & pos[:, 1:])) & (adx[:, 1:] >= config.zc_thr)
            res[spec.ZC] = _window_sums(z, w, inc, nw, np.int64) - z[:, starts].T
        if spec.SSC in ids:
            # slope sign change at m = n-1: (x[m]-x[m-1]) * (x[m]-x[m+1]) > 0  <=>  dx[n-1] * dx[n] < 0
            dp, dn, ge = dx > 0, dx < 0, adx >= config.ssc_thr
            q = np.zeros(xt.shape, dtype=bool)
            q[:, 1:] = ((dp[:, :-1] & dn[:, 1:]) | (dn[:, :-1] & dp[:, 1:])) & (ge[:, :-1] | ge[:, 1:])
            res[spec.SSC] = _window_sums(q, w, inc, nw, np.int64) - q[:, starts].T - q[:, starts + 1].T
        if spec.M2 in ids:
            d1 = np.minimum(adx, spec.SAMPLE_MAX).astype(np.int64) ** 2  # d1[0] = 0
            tot = _window_sums(d1, w, inc, nw, np.uint64) - d1[:, starts].T
            res[spec.M2] = _isqrt(tot // (w - 1))
            del d1
        if spec.M4 in ids:
            d2 = np.zeros(xt.shape, dtype=np.int64)  # D2[n], zero for n < 2
            d2[:, 2:] = np.minimum(np.abs(dx[:, 2:].astype(np.int64) - dx[:, 1:-1]), spec.SAMPLE_MAX) ** 2
            tot = _window_sums(d2, w, inc, nw, np.uint64) - d2[:, starts].T - d2[:, starts + 1].T
            res[spec.M4] = _isqrt(tot // (w - 2))
            del d2
    if any(spec.AR1 <= i <= spec.AR4 for i in ids):
        ar = _ar_coefficients(_lag_sums(xt, w, inc, nw, starts))
        for k in range(spec.AR_ORDER):
            res[spec.AR1 + k] = ar[k]
    for j, i in enumerate(ids):
        out[:, :, j] = res[i]
    return out.reshape(nw, config.width), ends
