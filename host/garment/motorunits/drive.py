"""Discharge rates and a muscle's neural drive (smoothed cumulative discharge rate of its units)."""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def instantaneous_rates(discharges: np.ndarray, fs: float, max_isi_s: float = 0.4) -> np.ndarray:
    """Rate (Hz) at each discharge after the first: 1 / ISI, NaN where the interval is a pause."""
    isi = np.diff(np.asarray(discharges, np.int64)) / fs
    out = np.full(isi.size, np.nan)
    ok = (isi > 0) & (isi < max_isi_s)
    out[ok] = 1.0 / isi[ok]
    return out


class NeuralDrive:
    """Cumulative discharge rate of a muscle's units, smoothed, as an activation 0..1.

    Each discharge adds a unit impulse; a first-order low-pass with ``tau_s`` (a Hann window of
    ~400 ms is the field's usual choice; an exponential keeps it causal and O(1) per sample)
    gives the muscle's cumulative rate in discharges/s.  ``full_scale_hz`` (the cumulative rate
    at the calibration's strongest contraction) maps it to the 0..1 the stimulation policy takes.
    """

    def __init__(self, fs: float, tau_s: float = 0.15, full_scale_hz: float = 100.0) -> None:
        if tau_s <= 0 or full_scale_hz <= 0:
            raise ValueError("tau_s and full_scale_hz must be > 0")
        self.fs = fs
        self.tau_s = tau_s
        self.full_scale_hz = full_scale_hz
        self.rate_hz = 0.0
        self._t = 0  # sample the state is at

    def update(self, discharges: list[np.ndarray], end_sample: int) -> float:
        """Advance to ``end_sample`` with this batch's discharges (absolute samples); returns the activation."""
        d = np.sort(np.concatenate([np.asarray(x, np.int64) for x in discharges])) if discharges else np.zeros(0, np.int64)
        d = d[(d >= self._t - int(self.fs)) & (d < end_sample)]
        decay = np.exp(-(end_sample - self._t) / (self.tau_s * self.fs))
        # Each discharge contributes exp(-(end - t)/tau) / tau (impulse response of the low-pass).
        contrib = float(np.exp(-(end_sample - d) / (self.tau_s * self.fs)).sum()) / self.tau_s
        self.rate_hz = self.rate_hz * decay + contrib
        self._t = end_sample
        return self.activation

    @property
    def activation(self) -> float:
        """The drive as a fraction of the calibration's full scale, in 0..1."""
        return float(min(1.0, max(0.0, self.rate_hz / self.full_scale_hz)))


def full_scale_hz(trains: list[np.ndarray], fs: float, n_samples: int, tau_s: float = 0.15) -> float:
    """The cumulative discharge rate a baseline's hold reaches (discharges/s): the 75th percentile
    of the smoothed cumulative rate of ``trains`` over the ``n_samples`` of the baseline (its hold
    is most of it), so that the calibration contraction is activation ~1.0.

    Raises:
        ValueError: the trains have no discharge (nothing to scale by).
    """
    d = np.concatenate([np.asarray(t, np.int64) for t in trains]) if trains else np.zeros(0, np.int64)
    d = d[(d >= 0) & (d < n_samples)]
    if not d.size:
        raise ValueError("the baseline has no discharge to scale the neural drive by")
    impulses = np.bincount(d, minlength=n_samples).astype(np.float64) * fs  # discharges/s per sample
    a = np.exp(-1.0 / (tau_s * fs))
    rate = lfilter([1.0 - a], [1.0, -a], impulses)
    return float(max(np.percentile(rate, 75), 1e-6))
