"""Discharge detection on an estimated source and the quality of that source (SIL, PNR, CoV of ISI)."""
from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

#: Shortest interval between two discharges of one motor unit (s): rates stay below 100 Hz.
MIN_ISI_S = 0.01


def _two_means(v: np.ndarray, iters: int = 20) -> tuple[np.ndarray, float, float]:
    """1-D k-means with two classes; returns (is_high, centre_low, centre_high)."""
    lo, hi = float(np.percentile(v, 10)), float(v.max())
    high = v > 0.5 * (lo + hi)
    for _ in range(iters):
        if high.all() or not high.any():
            break
        lo, hi = float(v[~high].mean()), float(v[high].mean())
        new = v > 0.5 * (lo + hi)
        if np.array_equal(new, high):
            break
        high = new
    return high, lo, hi


def detect(source: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
    """Discharges of a source: peaks of ``s|s|`` split into spikes and noise by two-class k-means.

    Returns ``(samples, sil)``: the discharge samples (sorted) and the silhouette of the split,
    ``(between - within) / max(within, between)`` with the sums of squared point-to-centroid
    distances of the spike class (k-means' ``sumd``, as in Negro et al. 2016 and openhdemg).
    """
    s = source * np.abs(source)
    peaks, _ = find_peaks(s, distance=max(1, int(round(MIN_ISI_S * fs))))
    if peaks.size < 4:
        return np.zeros(0, np.int64), 0.0
    h = s[peaks]
    high, lo, hi = _two_means(h)
    if not high.any() or high.all():
        return np.zeros(0, np.int64), 0.0
    within = float(((h[high] - hi) ** 2).sum())
    between = float(((h[high] - lo) ** 2).sum())
    sil = (between - within) / max(within, between, 1e-12)
    return peaks[high].astype(np.int64), sil


def cov_isi(spikes: np.ndarray, fs: float, max_isi_s: float = 0.4) -> float:
    """Coefficient of variation of the inter-spike intervals (pauses longer than ``max_isi_s`` left out)."""
    isi = np.diff(spikes) / fs
    isi = isi[isi < max_isi_s]
    if isi.size < 2:
        return float("inf")
    return float(isi.std() / isi.mean())


def pnr(source: np.ndarray, spikes: np.ndarray) -> float:
    """Pulse-to-noise ratio (dB): source power at the discharges over its power elsewhere (Holobar 2014)."""
    if spikes.size == 0:
        return 0.0
    p = source**2
    on = np.zeros(p.size, bool)
    on[spikes] = True
    return float(10.0 * np.log10(p[on].mean() / max(float(p[~on].mean()), 1e-30)))


def mean_rate(spikes: np.ndarray, fs: float, max_isi_s: float = 0.4) -> float:
    """Mean discharge rate (Hz) over the intervals shorter than ``max_isi_s``."""
    isi = np.diff(spikes) / fs
    isi = isi[isi < max_isi_s]
    return float(1.0 / isi.mean()) if isi.size else 0.0


def peak_threshold(source: np.ndarray, spikes: np.ndarray, fs: float) -> float:
    """The spike/noise boundary of ``s|s|`` peaks (mid-way between the two classes' centres).

    Stored with a unit so that its filter can be applied to new data (calibrate, then apply).
    """
    s = source * np.abs(source)
    peaks, _ = find_peaks(s, distance=max(1, int(round(MIN_ISI_S * fs))))
    noise = np.setdiff1d(peaks, spikes)
    hi = float(s[spikes].mean()) if spikes.size else float(s.max())
    lo = float(s[noise].mean()) if noise.size else 0.0
    return 0.5 * (lo + hi)


def detect_above(source: np.ndarray, fs: float, threshold: float) -> np.ndarray:
    """Discharges of a source with a fixed ``s|s|`` threshold (a unit applied to new data)."""
    s = source * np.abs(source)
    peaks, _ = find_peaks(s, height=threshold, distance=max(1, int(round(MIN_ISI_S * fs))))
    return peaks.astype(np.int64)
