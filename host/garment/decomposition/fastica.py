"""Fixed-point ICA with a sparse (skewness) contrast, many separation vectors at once.

Each column of ``W`` is one separation vector in the whitened space.  One iteration is
``w <- E[z g(w'z)] - E[g'(w'z)] w`` with ``g(s) = s^2`` (contrast ``G(s) = s^3 / 3``, which
rewards the sparse, one-signed pulse trains of motor-unit discharges), followed by deflation
against the accepted vectors ``B`` and normalisation.  Iterating a block of vectors turns the
work into matrix-matrix products (BLAS level 3) instead of one pass over the data per vector.
"""
from __future__ import annotations

import numpy as np


def orthogonalise(w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Remove from the columns of ``w`` their projection on the accepted vectors ``b`` (D, k)."""
    if b is not None and b.shape[1]:
        w = w - b @ (b.T @ w)
    return w / np.maximum(np.linalg.norm(w, axis=0, keepdims=True), 1e-12)


def fixed_point(z: np.ndarray, w: np.ndarray, b: np.ndarray | None, max_iter: int = 40,
                tol: float = 1e-4) -> np.ndarray:
    """Run the fixed-point iteration on every column of ``w`` (D, K) over ``z`` (n, D) until each converges.

    Converged columns stop being updated (and computed), so the cost falls as columns settle.
    ``z`` may be a subset of the samples: the contrast's expectations need far fewer samples
    than the discharge detection that follows.
    """
    w = orthogonalise(np.asarray(w, np.float32), b)
    n = z.shape[0]
    fixed_point.iterations = 0  # type: ignore[attr-defined]
    active = np.ones(w.shape[1], bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        fixed_point.iterations += idx.size  # type: ignore[attr-defined]
        wa = w[:, idx]
        s = z @ wa  # (n, k)
        gp_mean = 2.0 * s.mean(axis=0)
        new = (z.T @ (s * s)) / n - wa * gp_mean[None, :]
        new = orthogonalise(new.astype(np.float32), b)
        done = np.abs(1.0 - np.abs(np.sum(new * wa, axis=0))) < tol
        w[:, idx] = new
        active[idx[done]] = False
    return w
