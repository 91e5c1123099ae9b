"""Peel-off: subtract an accepted unit's contribution from the whitened observations.

A unit's contribution to ``z`` is its spike-triggered average repeated at each discharge;
once it is gone, the activity index that seeds new vectors points at the remaining units.
"""
from __future__ import annotations

import numpy as np


def peel_off(z: np.ndarray, spikes: np.ndarray, half_window: int) -> None:
    """Subtract (in place) the spike-triggered average of ``z`` (n, D) around ``spikes``."""
    n = z.shape[0]
    s = spikes[(spikes >= half_window) & (spikes < n - half_window)]
    if s.size < 5:
        return
    lags = np.arange(-half_window, half_window + 1)
    sta = np.stack([z[s + lag].mean(axis=0) for lag in lags])  # (W, D)
    for j, lag in enumerate(lags):  # one lag at a time: windows of close discharges may overlap
        z[s + lag] -= sta[j]
