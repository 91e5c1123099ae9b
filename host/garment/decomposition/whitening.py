"""Whitening of the extended observations (eigen-decomposition with a noise-floor cut)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .extension import apply_extended, extended_covariance


@dataclass
class Whitened:
    """Whitened extended observations.

    Attributes:
        z: (n, D) float32, unit covariance; samples are rows, so gathering the samples at a
            unit's discharges (refinement, peel-off) reads contiguous memory.
        w: (D, C*R) whitening matrix (``z = w @ extended(x)``).
        r: extension factor.
    """

    z: np.ndarray
    w: np.ndarray
    r: int


def whiten(x: np.ndarray, r: int) -> Whitened:
    """Whiten the R-times extended channels ``x`` (C, n).

    Components whose eigenvalue is below the mean of the lower half of the spectrum are noise
    (Negro et al. 2016's regularisation); they are dropped, which also shrinks every later
    product.
    """
    cov = extended_covariance(x, r)
    ev, vec = np.linalg.eigh(cov)
    floor = float(np.mean(ev[: ev.size // 2]))
    keep = ev > floor
    w = (vec[:, keep] / np.sqrt(ev[keep])).T  # (D, C*R)
    z = np.ascontiguousarray(apply_extended(w, x, r).T)
    return Whitened(z, w, r)
