"""Motor-neuron pools: recruitment and rate coding after Fuglevand, Winter & Patla (1993).

A pool of ``n`` motor units has recruitment thresholds distributed exponentially (many small,
low-threshold units; few large ones), fires at ``mfr`` at recruitment, gains ``gain`` Hz per unit
of excitation above threshold and saturates at a peak rate that is lower for later-recruited
units.  Inter-spike intervals vary with a coefficient of variation ``isi_cv``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MotorUnitPool:
    """Recruitment/rate-coding parameters of one muscle's motor-neuron pool.

    Attributes:
        rte: recruitment threshold excitation of each unit (ascending, first ~1).
        pfr: peak firing rate of each unit (Hz).
        mfr: firing rate at recruitment (Hz).
        gain: firing-rate gain (Hz per unit of excitation).
        isi_cv: coefficient of variation of inter-spike intervals.
        e_max: excitation at drive 1.0 (every unit at its peak rate).
        size: relative unit size (fibre count / twitch), 1 .. size_range, ascending.
    """

    rte: np.ndarray
    pfr: np.ndarray
    mfr: float
    gain: float
    isi_cv: float
    e_max: float
    size: np.ndarray

    @classmethod
    def fuglevand(
        cls,
        n_units: int = 100,
        recruitment_range: float = 30.0,
        mfr: float = 8.0,
        pfr1: float = 35.0,
        pfrd: float = 10.0,
        gain: float = 1.0,
        isi_cv: float = 0.2,
        size_range: float = 100.0,
    ) -> "MotorUnitPool":
        """Pool with Fuglevand et al. (1993) defaults (RR=30, 8 Hz at recruitment, 35..25 Hz peak)."""
        if n_units < 1:
            raise ValueError("n_units must be >= 1")
        i = np.arange(1, n_units + 1)
        rte = np.exp(np.log(recruitment_range) * i / n_units)
        pfr = pfr1 - pfrd * rte / rte[-1]
        # Drive 1.0 = the excitation where the last unit reaches its peak rate.
        e_max = float(rte[-1] + (pfr[-1] - mfr) / gain)
        size = np.exp(np.log(size_range) * (i - 1) / max(n_units - 1, 1))
        return cls(rte, pfr, float(mfr), float(gain), float(isi_cv), e_max, size)

    @property
    def n_units(self) -> int:
        """Number of motor units."""
        return int(self.rte.size)

    @property
    def recruitment_drive(self) -> np.ndarray:
        """Drive (0..1) at which each unit is recruited."""
        return self.rte / self.e_max

    def rates(self, drive: np.ndarray) -> np.ndarray:
        """Firing rate (Hz) of every unit for each drive value, shape ``drive.shape + (n_units,)``."""
        e = np.asarray(drive, dtype=float)[..., None] * self.e_max
        r = np.minimum(self.mfr + self.gain * (e - self.rte), self.pfr)
        return np.where(e >= self.rte, r, 0.0)


def initial_residuals(pool: MotorUnitPool, rng: np.random.Generator) -> np.ndarray:
    """Random initial phase-to-next-spike of each unit, so units are not synchronised at t=0."""
    return rng.uniform(0.0, 1.0, pool.n_units)


def discharge(
    pool: MotorUnitPool,
    drive: np.ndarray,
    dt: float,
    residual: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spike times of every unit for a block of drive samples (time-rescaled renewal process).

    Each unit integrates its instantaneous rate into a phase; it fires each time the phase
    crosses the next threshold, thresholds being spaced by ``1 + isi_cv * N(0, 1)``, which gives
    Gaussian ISIs with the requested CV at constant rate and follows rate changes within an ISI.

    Args:
        pool: the motor-neuron pool.
        drive: (n,) drive samples (0..1); sample ``j`` holds over ``[j, j+1)`` steps.
        dt: step length (s).
        residual: (n_units,) phase still needed before each unit's next spike (carried state).
        rng: random generator; draws are laid out so that the first spikes of a block do not
            depend on later drive (a drive change cannot rewrite the past).

    Returns:
        ``(unit, t, new_residual)``: unit index and spike time in steps from the block start
        (float, in ``(0, n]``) of every spike, sorted by unit then time, and the new residuals.
    """
    n = int(drive.shape[0])
    u_n = pool.n_units
    e = np.asarray(drive, dtype=float) * pool.e_max
    # Thresholds ascend, so the units recruited at some point in the block are a prefix.
    n_act = int(np.searchsorted(pool.rte, e.max(initial=0.0), side="right"))
    phase = np.zeros((max(n_act, 1), n))
    if n_act:
        above = e[None, :] - pool.rte[:n_act, None]  # (A, n) excitation above threshold
        r = above * (pool.gain * dt)
        r += pool.mfr * dt
        np.minimum(r, (pool.pfr[:n_act] * dt)[:, None], out=r)
        r[above < 0] = 0.0
        np.cumsum(r, axis=1, out=phase)  # phase per unit, non-decreasing
    end = np.zeros(u_n)
    end[:n_act] = phase[:n_act, -1]
    k = int(np.ceil(end.max())) + 3
    z = rng.standard_normal((k, u_n))  # row-major: element (k, u) is independent of k's size
    while True:
        inc = np.maximum(1.0 + pool.isi_cv * z, 0.25)  # floor = refractoriness, keeps ISIs > 0
        thr = residual + np.vstack([np.zeros((1, u_n)), np.cumsum(inc[:-1], axis=0)])
        if np.all(thr[-1] > end):
            break
        z = np.vstack([z, rng.standard_normal((k, u_n))])
    reached = thr <= end  # (K, U); units never recruited reach nothing (residual > 0)
    count = reached.sum(axis=0)
    new_residual = thr[count, np.arange(u_n)] - end
    if not reached.any():
        return np.zeros(0, np.int64), np.zeros(0), new_residual
    # One searchsorted over all units: offset each unit's phase so the concatenation is sorted.
    big = float(end.max()) + 1.0
    flat = (phase[:n_act] + (np.arange(n_act) * big)[:, None]).ravel()
    unit, kth = np.nonzero(reached.T)  # unit-major: sorted by unit, then by threshold
    t_thr = thr[kth, unit]
    g = np.searchsorted(flat, t_thr + unit * big, side="left")
    j = g - unit * n
    prev = np.where(j > 0, phase[unit, np.maximum(j - 1, 0)], 0.0)
    frac = (t_thr - prev) / (phase[unit, j] - prev)
    return unit.astype(np.int64), j + np.clip(frac, 1e-9, 1.0), new_residual
