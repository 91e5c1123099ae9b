"""Channel extension: delayed copies of every channel, so a convolutive mixture becomes instantaneous.

Row ``c * R + k`` of the extended observations is channel ``c`` delayed by ``k`` samples.  The
extended matrix is never built: its covariance and its products with separation vectors are
computed lag by lag from the channels themselves (a block-Toeplitz structure), which keeps
memory at the size of the recording and the work in matrix-matrix products.
"""
from __future__ import annotations

import numpy as np


def extension_factor(n_channels: int, target: int = 1000) -> int:
    """Delays per channel so that channels x delays reaches ``target`` (Negro et al. 2016: ~1000)."""
    return max(4, int(np.ceil(target / max(n_channels, 1))))


def extended_covariance(x: np.ndarray, r: int) -> np.ndarray:
    """Covariance of the extended observations of ``x`` (C, n), (C*R, C*R), in float64.

    ``E[x_c(t - i) x_d(t - j)]`` depends only on ``i - j``: R lagged cross-covariances suffice.
    """
    c, n = x.shape
    xd = x.astype(np.float64)
    lags = [xd[:, : n - k] @ xd[:, k:].T / n for k in range(r)]  # lags[k][c, d] = E[x_c(t-k) x_d(t)]
    cov = np.empty((c, r, c, r))
    for i in range(r):
        for j in range(r):
            cov[:, i, :, j] = lags[i - j] if i >= j else lags[j - i].T
    return cov.reshape(c * r, c * r)


def apply_extended(m: np.ndarray, x: np.ndarray, r: int) -> np.ndarray:
    """``m @ extended(x)`` for ``m`` (K, C*R): (K, n), without building the extended matrix."""
    c, n = x.shape
    mk = m.reshape(m.shape[0], c, r)
    out = np.zeros((m.shape[0], n), dtype=np.float32)
    for k in range(r):
        out[:, k:] += mk[:, :, k].astype(np.float32) @ x[:, : n - k]
    return out
