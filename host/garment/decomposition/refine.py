"""Refinement of a separation vector by the regularity of its discharges (Negro et al. 2016).

The vector is replaced by the mean whitened observation at its detected discharges (a
matched filter for that unit) for as long as the coefficient of variation of the inter-spike
intervals keeps falling: a real motor unit fires regularly, a mixture of units does not.
"""
from __future__ import annotations

import numpy as np

from .spikes import cov_isi, detect


def refine(z: np.ndarray, w: np.ndarray, fs: float, max_iter: int = 10) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Refine the columns of ``w`` (D, K) on the whitened samples ``z`` (n, D).

    Returns ``(w, spikes, sil, cov)`` per column: ``spikes`` an object array of discharge samples.
    """
    k = w.shape[1]
    w = w.copy()
    best_w = w.copy()
    best_cov = np.full(k, np.inf)
    best_spk = np.empty(k, dtype=object)
    best_sil = np.zeros(k)
    for i in range(k):
        best_spk[i] = np.zeros(0, np.int64)
    active = np.ones(k, bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        s = np.ascontiguousarray((z @ w[:, idx]).T)
        for row, i in enumerate(idx):
            spk, sil = detect(s[row], fs)
            cv = cov_isi(spk, fs)
            if spk.size < 10 or cv >= best_cov[i]:
                active[i] = False  # no better: keep the previous vector
                continue
            best_cov[i], best_spk[i], best_sil[i] = cv, spk, sil
            best_w[:, i] = w[:, i]
            new = z[spk].mean(axis=0)
            w[:, i] = new / max(float(np.linalg.norm(new)), 1e-12)
    return best_w, best_spk, best_sil, best_cov
