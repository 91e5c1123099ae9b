"""Signal measures used to validate the phantom against physiology (numpy only)."""
from __future__ import annotations

import numpy as np


def welch_psd(x: np.ndarray, fs: float, nperseg: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density (Hann, 50 % overlap, mean removed per segment).

    Args:
        x: (n,) or (n, ch) samples.
        fs: sampling rate.
        nperseg: segment length (shortened to ``n`` if needed).

    Returns:
        ``(f, psd)`` with psd shaped (F,) or (F, ch), units^2/Hz.
    """
    x = np.asarray(x, dtype=float)
    one = x.ndim == 1
    if one:
        x = x[:, None]
    n = x.shape[0]
    nper = int(min(nperseg, n))
    if nper < 2:
        raise ValueError("need at least 2 samples")
    step = max(nper // 2, 1)
    win = np.hanning(nper)
    starts = np.arange(0, n - nper + 1, step)
    segs = np.stack([x[s : s + nper] for s in starts])  # (S, nper, ch)
    segs = segs - segs.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.rfft(segs * win[None, :, None], axis=1)) ** 2
    psd = spec.mean(axis=0) / (fs * np.sum(win**2))
    psd[1:-1] *= 2.0  # one-sided
    f = np.fft.rfftfreq(nper, 1.0 / fs)
    return f, psd[:, 0] if one else psd


def median_frequency(
    x: np.ndarray, fs: float, band: tuple[float, float] = (20.0, 450.0), nperseg: int = 512
) -> np.ndarray | float:
    """Frequency splitting the power in ``band`` into two halves (per channel).

    The band excludes wander/motion (< 20 Hz) as an EMG high-pass would; mains is left in
    (it is small next to active EMG).
    """
    f, p = welch_psd(x, fs, nperseg)
    hi = min(band[1], fs / 2)
    sel = (f >= band[0]) & (f <= hi)
    f, p = f[sel], p[sel]
    c = np.cumsum(p, axis=0)
    if p.ndim == 1:
        return float(np.interp(c[-1] / 2, c, f))
    return np.array([np.interp(c[-1, i] / 2, c[:, i], f) for i in range(p.shape[1])])


def highpass(x: np.ndarray, fs: float, fc: float = 20.0) -> np.ndarray:
    """Zero-phase FFT high-pass (brick wall with a short cosine edge), per column."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    spec = np.fft.rfft(x, axis=0)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    edge = np.clip((f - 0.5 * fc) / (0.5 * fc), 0.0, 1.0)
    g = 0.5 - 0.5 * np.cos(np.pi * edge)
    return np.fft.irfft(spec * (g[:, None] if x.ndim > 1 else g), n, axis=0)


def rms_envelope(x: np.ndarray, fs: float, window_s: float = 0.05, hp_hz: float | None = 20.0) -> np.ndarray:
    """Moving RMS (centred window) after an optional high-pass, same shape as ``x``."""
    y = highpass(x, fs, hp_hz) if hp_hz else np.asarray(x, dtype=float)
    w = max(int(round(window_s * fs)), 1)
    k = np.ones(w) / w
    sq = y**2
    if sq.ndim == 1:
        return np.sqrt(np.convolve(sq, k, mode="same"))
    return np.sqrt(np.stack([np.convolve(sq[:, i], k, mode="same") for i in range(sq.shape[1])], axis=1))


def fold_by_angle(env: np.ndarray, angle_deg: np.ndarray, bins: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """Average an envelope (n,) or (n, ch) over bins of a cyclic angle; ``(centres, mean)``.

    Bins with no samples are NaN.
    """
    idx = np.clip((np.mod(angle_deg, 360.0) / 360.0 * bins).astype(int), 0, bins - 1)
    env = np.asarray(env, dtype=float)
    if env.ndim == 1:
        env = env[:, None]
    cnt = np.bincount(idx, minlength=bins).astype(float)
    out = np.stack([np.bincount(idx, env[:, i], minlength=bins) for i in range(env.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = out / cnt[:, None]  # empty bins -> NaN (nothing observed there)
    centres = (np.arange(bins) + 0.5) * 360.0 / bins
    return centres, out
