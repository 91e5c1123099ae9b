"""What the Live screen's spectrum panel shows: per channel, the median frequency and the
share of power in the EMG bands and at the mains frequency (numpy only, no interface)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the bands shown (Hz): low (motion, tremor), the EMG core, high EMG
BANDS = ((20.0, 60.0), (60.0, 150.0), (150.0, 450.0))


@dataclass(frozen=True)
class ChannelSpectrum:
    median_hz: float
    band_share: tuple[float, ...]  # share of the 20..450 Hz power in each of BANDS
    mains_share: float  # share of the 20..450 Hz power at the mains frequency and its 2nd harmonic
    rms_uV: float


def spectra(uV: np.ndarray, fs: float, mains_hz: float = 50.0) -> list[ChannelSpectrum]:
    """Welch-style spectrum (Hann, 50 % overlap, 0.25 s segments) of each column of ``uV``."""
    x = np.asarray(uV, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n = len(x)
    seg = int(min(n, max(32, 2 ** int(np.log2(max(fs / 4, 32))))))
    if n < 32:
        return [ChannelSpectrum(float("nan"), tuple(0.0 for _ in BANDS), 0.0, 0.0) for _ in range(x.shape[1])]
    win = np.hanning(seg)
    starts = range(0, n - seg + 1, seg // 2)
    f = np.fft.rfftfreq(seg, 1.0 / fs)
    out = []
    for ch in range(x.shape[1]):
        col = x[:, ch] - x[:, ch].mean()
        p = np.zeros(len(f))
        for s0 in starts:
            p += np.abs(np.fft.rfft(col[s0:s0 + seg] * win)) ** 2
        emg = (f >= BANDS[0][0]) & (f <= min(BANDS[-1][1], fs / 2))
        total = float(p[emg].sum())
        if total <= 0:
            out.append(ChannelSpectrum(float("nan"), tuple(0.0 for _ in BANDS), 0.0, float(np.sqrt(np.mean(col ** 2)))))
            continue
        cum = np.cumsum(p[emg])
        median = float(f[emg][int(np.searchsorted(cum, total / 2))])
        shares = tuple(float(p[(f >= lo) & (f < hi)].sum() / total) for lo, hi in BANDS)
        tol = max(2.0, fs / seg)  # at least one frequency bin either side
        mains = (np.abs(f - mains_hz) <= tol) | (np.abs(f - 2 * mains_hz) <= tol)
        out.append(ChannelSpectrum(median, shares, float(p[mains & emg].sum() / total),
                                   float(np.sqrt(np.mean(col ** 2)))))
    return out
