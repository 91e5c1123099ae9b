"""Calibrate, then apply: run the separation filters of a decomposition on new EMG.

The filters found on a calibration recording are applied to later data of the same grid
placement (a live stream, the rest of a session) with each unit's stored scale and threshold:
one pass of the extended filters, then a peak detection per unit; no ICA.
"""
from __future__ import annotations

import numpy as np

from .decompose import Decomposition
from .extension import apply_extended
from .preprocess import bandpass
from .spikes import detect_above


def apply_decomposition(dec: Decomposition, emg: np.ndarray, fs: float) -> list[np.ndarray]:
    """Discharge samples of every unit of ``dec`` in ``emg`` (n, C), same channels and rate.

    Raises:
        ValueError: a different channel count or rate than the calibration.
    """
    if not dec.units:
        return []
    c, r = dec.units[0].filter.shape
    if emg.shape[1] != c or abs(fs - dec.fs) > 1e-6:
        raise ValueError(f"calibrated on {c} channels at {dec.fs:g} Hz, got {emg.shape[1]} at {fs:g} Hz")
    x = bandpass(emg, fs)
    filters = np.stack([u.filter.reshape(-1) for u in dec.units])
    sources = apply_extended(filters, x, r)
    return [detect_above(sources[k] / u.scale, fs, u.threshold) for k, u in enumerate(dec.units)]
