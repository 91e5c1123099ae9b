"""Motor-unit action potentials on every electrode by spike-triggered averaging."""
from __future__ import annotations

import numpy as np

#: Window of the averaged potential around a discharge (s): before, after.
WINDOW_S = (0.010, 0.025)


def spike_triggered_average(emg: np.ndarray, spikes: np.ndarray, fs: float,
                            window_s: tuple[float, float] = WINDOW_S) -> np.ndarray:
    """Average of ``emg`` (C, n) around ``spikes``: (L, C), sample ``round(window_s[0] * fs)`` = discharge."""
    before, after = int(round(window_s[0] * fs)), int(round(window_s[1] * fs))
    c, n = emg.shape
    s = spikes[(spikes >= before) & (spikes < n - after)]
    if s.size == 0:
        return np.zeros((before + after, c), np.float32)
    idx = s[:, None] + np.arange(-before, after)[None, :]
    return emg[:, idx].mean(axis=1).T.astype(np.float32)
