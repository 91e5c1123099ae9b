"""Rate of agreement between discharge trains (best lag, tolerance) and matching to ground truth."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> int:
    """Lag (samples) that best aligns train ``b`` to ``a``: the most common difference within +-max_lag."""
    if a.size == 0 or b.size == 0:
        return 0
    lo = np.searchsorted(b, a - max_lag, side="left")
    hi = np.searchsorted(b, a + max_lag, side="right")
    counts = np.zeros(2 * max_lag + 1, np.int64)
    for off in range(int((hi - lo).max(initial=0))):
        ok = lo + off < hi
        d = b[(lo + off)[ok]] - a[ok]
        counts += np.bincount(d + max_lag, minlength=counts.size)
    # Spread by +-1 so a lag between two samples still wins.
    smooth = counts + np.concatenate([[0], counts[:-1]]) + np.concatenate([counts[1:], [0]])
    k = int(np.argmax(smooth))
    lo, hi = max(0, k - 1), min(counts.size, k + 2)
    return lo + int(np.argmax(counts[lo:hi])) - max_lag


def matched(a: np.ndarray, b: np.ndarray, tol: int) -> int:
    """Number of discharges of ``a`` with one of ``b`` within ``tol`` samples (both sorted).

    Discharges of one unit are >= 10 ms apart and ``tol`` is ~1 ms, so each pair is one-to-one.
    """
    if a.size == 0 or b.size == 0:
        return 0
    j = np.clip(np.searchsorted(b, a), 1, b.size - 1) if b.size > 1 else np.zeros(a.size, np.int64)
    near = np.minimum(np.abs(b[j] - a), np.abs(b[np.maximum(j - 1, 0)] - a))
    return int(np.count_nonzero(near <= tol))


def rate_of_agreement(a: np.ndarray, b: np.ndarray, fs: float, tol_s: float = 0.001,
                      max_lag_s: float = 0.025) -> tuple[float, int]:
    """RoA = common / (common + only in a + only in b), after shifting ``b`` by its best lag.

    Returns ``(roa, lag_samples)``; ``tol_s`` is the tolerance for a common discharge (+-1 ms).
    """
    a = np.sort(np.asarray(a, np.int64))
    b = np.sort(np.asarray(b, np.int64))
    if a.size == 0 or b.size == 0:
        return 0.0, 0
    lag = best_lag(a, b, int(round(max_lag_s * fs)))
    c = matched(a, b - lag, max(0, int(np.floor(tol_s * fs))))
    return c / (a.size + b.size - c), lag


def match_to_truth(found: list[np.ndarray], truth: list[np.ndarray], fs: float,
                   min_roa: float = 0.3) -> list[tuple[int, int, float]]:
    """Pair found units with true units (one-to-one, by RoA): ``[(found, true, roa)]`` with RoA >= min_roa."""
    if not found or not truth:
        return []
    roa = np.zeros((len(found), len(truth)))
    for i, f in enumerate(found):
        for j, t in enumerate(truth):
            if t.size and f.size and 0.3 < f.size / t.size < 3.0:
                roa[i, j] = rate_of_agreement(t, f, fs)[0]
    rows, cols = linear_sum_assignment(-roa)
    return [(int(i), int(j), float(roa[i, j])) for i, j in zip(rows, cols) if roa[i, j] >= min_roa]
