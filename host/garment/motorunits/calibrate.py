"""Calibration: decompose a baseline contraction, then build each unit's causal separation filter.

The offline decomposition (:func:`garment.decomposition.decompose`) finds the units and their
discharges on the baseline.  A live stream is band-passed causally, so the filters are rebuilt
on the causally filtered baseline the way convolution kernel compensation does it: a unit's
filter is ``P a`` where ``a`` is the mean extended observation at its discharges (its spatio-
temporal potential) and ``P`` the inverse of the extended covariance restricted above the noise
floor (the whitening of the decomposition, ``P = W'W``).  :mod:`.tracker` adapts ``P`` and ``a``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from garment.decomposition import Decomposition, DecompositionOptions, decompose
from garment.decomposition.extension import apply_extended, extended_covariance
from garment.decomposition.spikes import cov_isi, detect, detect_above, peak_threshold

from .causal import CausalBandpass
from .quality import split_sil
from .stretch import sta

#: Delays per channel of the online filters (64 channels x 8 = 512 extended rows: cheap to re-whiten).
ONLINE_DELAYS = 8
#: Latest sample after a discharge the filter may read (s): the reported discharge lags by this at most.
MAX_LOOKAHEAD_S = 0.008


class CalibrationError(ValueError):
    """A baseline that gives no usable unit, with the reason."""


@dataclass
class OnlineUnit:
    """One unit as the tracker applies it.

    Attributes:
        index: the unit's number (stable for the session).
        a: (C*R,) mean extended observation at its discharges (its spatio-temporal potential).
        lag: samples from the discharge to the extended observation ``a`` was taken at.
        sil: silhouette on the baseline (offline decomposition).
        spike_height, noise_height: centres of the ``s|s|`` peaks of discharges and of noise.
        baseline_rate: mean discharge rate on the baseline (Hz).
        muscle: muscle the grid is over.
        baseline_sil, baseline_cov, baseline_discharges: quality of this causal filter on the
            baseline (its peaks split at its threshold; what the tracker will apply), truth-free.
    """

    index: int
    a: np.ndarray
    lag: int
    sil: float
    spike_height: float
    noise_height: float
    baseline_rate: float
    muscle: str = "VL"
    baseline_sil: float = 1.0
    baseline_cov: float = 0.0
    baseline_discharges: int = 0


@dataclass
class Calibration:
    """What :func:`calibrate` hands the tracker."""

    fs: float
    n_channels: int
    delays: int
    cov: np.ndarray
    units: list[OnlineUnit]
    decomposition: Decomposition
    baseline_discharges: list[np.ndarray] = field(default_factory=list)
    filter_state: CausalBandpass | None = None
    #: per unit, the band-passed channels around its baseline discharges (:func:`.stretch.sta`)
    stas: list[np.ndarray | None] = field(default_factory=list)


def precision(cov: np.ndarray) -> np.ndarray:
    """Inverse of the extended covariance above the noise floor (``W'W`` of the decomposition's whitening)."""
    ev, vec = np.linalg.eigh(cov)
    floor = float(np.mean(ev[: ev.size // 2]))
    keep = ev > floor
    v = vec[:, keep]
    return ((v / ev[keep]) @ v.T).astype(np.float32)


def toeplitz_covariance(lags: list[np.ndarray]) -> np.ndarray:
    """Extended covariance (C*R, C*R) from its lagged blocks ``lags[k] = E[x(t-k) x(t)']`` (C, C)."""
    c, r = lags[0].shape[0], len(lags)
    cov = np.empty((c, r, c, r), np.float32)
    for i in range(r):
        for j in range(r):
            cov[:, i, :, j] = lags[i - j] if i >= j else lags[j - i].T
    return cov.reshape(c * r, c * r)


def extended_at(x: np.ndarray, samples: np.ndarray, r: int) -> np.ndarray:
    """Extended observations (len(samples), C*R) of ``x`` (C, n) at ``samples`` (row ``c*R + k`` = x[c, t-k])."""
    idx = samples[:, None] - np.arange(r)[None, :]  # (m, R)
    return np.ascontiguousarray(x[:, idx].transpose(1, 0, 2).reshape(samples.size, -1))


def _unit_from_train(x: np.ndarray, spikes: np.ndarray, p: np.ndarray, r: int, fs: float,
                     index: int, sil: float, rate: float) -> OnlineUnit | None:
    """Best-lag potential and detection levels of one unit on the causally filtered baseline."""
    n = x.shape[1]
    best: tuple[float, int, np.ndarray] | None = None
    for lag in range(int(round(MAX_LOOKAHEAD_S * fs)) + r):
        t = spikes + lag
        t = t[(t >= r) & (t < n)]
        if t.size < 10:
            continue
        a = extended_at(x, t, r).mean(axis=0)
        score = float(a @ p @ a)  # the unit's energy in the whitened space
        if best is None or score > best[0]:
            best = (score, lag, a)
    if best is None:
        return None
    _, lag, a = best
    src = apply_extended((p @ a)[None, :], x, r)[0]
    src = np.concatenate([src[lag:], np.zeros(lag, np.float32)])  # aligned to the discharge
    scale = max(float(np.abs(src).max()), 1e-12)
    a = a / scale  # so the source is ~1 at the largest discharge
    found, _ = detect(src / scale, fs)
    thr = peak_threshold(src / scale, found if found.size else spikes, fs)
    s = src / scale
    heights = (s * np.abs(s))[spikes[spikes < n]]
    hi = float(np.median(heights)) if heights.size else thr
    lo = max(2.0 * thr - hi, 0.0)
    if hi <= lo:
        return None
    s2 = s * np.abs(s)
    own = detect_above(s, fs, 0.5 * (hi + lo))
    return OnlineUnit(index, a.astype(np.float32), lag, sil, hi, lo, rate,
                      baseline_sil=split_sil(s2, 0.5 * (hi + lo), fs), baseline_cov=cov_isi(own, fs),
                      baseline_discharges=int(own.size))


def calibrate(emg: np.ndarray, fs: float, labels: list[str] | None = None,
              options: DecompositionOptions | None = None, delays: int = ONLINE_DELAYS) -> Calibration:
    """Decompose ``emg`` (n, C) microvolts and prepare every accepted unit for the live stream.

    Raises:
        garment.decomposition.DecompositionInputError: the baseline cannot be decomposed.
        CalibrationError: the baseline gave no motor unit (no contraction, or a poor contact).
    """
    dec = decompose(emg, fs, labels, options)
    if not dec.units:
        raise CalibrationError("the baseline gave no motor unit: hold a steady contraction (10-30 % of maximum)")
    bp = CausalBandpass(emg.shape[1], fs)
    x = bp(emg)
    cov = extended_covariance(x, delays).astype(np.float32)
    p = precision(cov)
    units: list[OnlineUnit] = []
    trains: list[np.ndarray] = []
    for u in dec.units:
        ou = _unit_from_train(x, u.discharges, p, delays, fs, len(units), u.sil, u.mean_rate)
        if ou is not None:
            units.append(ou)
            trains.append(u.discharges)
    if not units:
        raise CalibrationError("no decomposed unit could be applied causally")
    stas = [sta(x, t) for t in trains]
    return Calibration(float(fs), int(emg.shape[1]), delays, cov, units, dec, trains, bp, stas)
