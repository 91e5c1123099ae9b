"""Window features for task decoding: motor-unit activity and, for comparison, EMG amplitude.

Both use the same windows (default 200 ms every 50 ms, as the garment's decoder), so a
classifier trained on either can be compared window for window.
"""
from __future__ import annotations

import numpy as np


def window_starts(n: int, fs: float, window_s: float = 0.2, step_s: float = 0.05) -> tuple[np.ndarray, int]:
    """Start samples of every full window and the window length in samples."""
    w = int(round(window_s * fs))
    return np.arange(0, n - w + 1, int(round(step_s * fs))), w


def motor_unit_features(trains: list[np.ndarray], n: int, fs: float, window_s: float = 0.2,
                        step_s: float = 0.05, drive_s: float = 0.5) -> np.ndarray:
    """Per window: each unit's discharge rate in the window and over the last ``drive_s``
    (its smoothed neural drive), and the number of units active: (windows, 2 K + 1)."""
    starts, w = window_starts(n, fs, window_s, step_s)
    end = starts + w
    long = int(round(drive_s * fs))
    cols = []
    for t in trains:
        t = np.sort(t)
        c_end = np.searchsorted(t, end)
        cols.append((c_end - np.searchsorted(t, starts)) * fs / w)
        cols.append((c_end - np.searchsorted(t, end - long)) * fs / long)
    f = np.stack(cols, axis=1) if cols else np.zeros((starts.size, 0))
    active = (f[:, 0::2] > 0).sum(axis=1, keepdims=True) if cols else np.zeros((starts.size, 1))
    return np.hstack([f, active])


def emg_features(emg: np.ndarray, fs: float, window_s: float = 0.2, step_s: float = 0.05) -> np.ndarray:
    """The garment's features (MAV, WL, ZC, SSC, RMS) of every channel per window: (windows, 5 C).

    Float versions of the firmware's feature set on band-passed EMG; ZC/SSC use a 10 uV
    dead band against noise.
    """
    x = np.asarray(emg, dtype=np.float64)
    starts, w = window_starts(x.shape[0], fs, window_s, step_s)
    idx = starts[:, None] + np.arange(w)[None, :]
    seg = x[idx]  # (W, w, C)
    d = np.diff(seg, axis=1)
    mav = np.abs(seg).mean(axis=1)
    wl = np.abs(d).sum(axis=1)
    zc = ((seg[:, :-1] * seg[:, 1:] < 0) & (np.abs(d) > 10.0)).sum(axis=1)
    ssc = ((d[:, :-1] * d[:, 1:] < 0) & ((np.abs(d[:, :-1]) > 10.0) | (np.abs(d[:, 1:]) > 10.0))).sum(axis=1)
    rms = np.sqrt((seg**2).mean(axis=1))
    return np.hstack([mav, wl, zc, ssc, rms])


def window_labels(class_index: np.ndarray, fs: float, window_s: float = 0.2, step_s: float = 0.05) -> np.ndarray:
    """Label of each window: the class at its last sample (what a live decoder must say then)."""
    starts, w = window_starts(class_index.size, fs, window_s, step_s)
    return class_index[starts + w - 1]
