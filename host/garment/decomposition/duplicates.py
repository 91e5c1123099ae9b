"""Removal of units found more than once (the same discharges at some lag)."""
from __future__ import annotations

import numpy as np

from .agreement import rate_of_agreement


def unique_units(trains: list[np.ndarray], score: np.ndarray, fs: float, threshold: float = 0.3) -> list[int]:
    """Indices of the trains to keep: of every group with RoA >= ``threshold`` (+-0.5 ms, best lag
    within 25 ms), only the one with the lowest ``score`` (e.g. CoV of ISI) survives."""
    order = np.argsort(score)
    kept: list[int] = []
    for i in order:
        if all(rate_of_agreement(trains[j], trains[i], fs, tol_s=0.0005)[0] < threshold for j in kept):
            kept.append(int(i))
    return sorted(kept)
