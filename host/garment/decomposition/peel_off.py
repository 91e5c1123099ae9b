"""Peel-off: subtract an accepted unit's contribution from the whitened observations.

A unit's contribution to ``z`` is its spike-triggered average repeated at each discharge;
once it is gone, the activity index that seeds new vectors points at the remaining units.
"""
from __future__ import annotations

import numpy as np


def peel_off(z: np.ndarray, spikes: np.ndarray, half_window: int) -> None:
    """Subtract (in place) the spike-triggered average of ``z`` (D, n) around ``spikes``."""
    n = z.shape[1]
    s = spikes[(spikes >= half_window) & (spikes < n - half_window)]
    if s.size < 5:
        return
    lags = np.arange(-half_window, half_window + 1)
    idx = s[:, None] + lags[None, :]  # (S, W)
    sta = z[:, idx].mean(axis=1)  # (D, W)
    for j, lag in enumerate(lags):
        z[:, s + lag] -= sta[:, j : j + 1]
