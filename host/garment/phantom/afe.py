"""ADS1299-like analogue front end: 24-bit quantisation, rails and the decimation filter.

The ADS1299 digitises each channel with a delta-sigma modulator and a sinc^3 decimation filter;
codes are 24-bit two's complement with ``LSB = 2 * VREF / gain / 2**24`` volts.
"""
from __future__ import annotations

import numpy as np

CODE_MAX = 2**23 - 1
CODE_MIN = -(2**23)


def lsb_uV(gain: float = 24.0, vref_v: float = 4.5) -> float:
    """Size of one code step in microvolts (0.0224 uV at gain 24, VREF 4.5 V)."""
    return 2.0 * vref_v / gain / 2**24 * 1e6


def afe_codes(emg_uV: np.ndarray, gain: float = 24.0, vref_v: float = 4.5) -> np.ndarray:
    """Quantise input-referred microvolts to ADS1299 codes (int32), clipping at the rails.

    Args:
        emg_uV: samples in microvolts at the electrodes (any shape).
        gain: PGA gain (1, 2, 4, 6, 8, 12 or 24 on the ADS1299).
        vref_v: reference voltage (4.5 V internal reference).

    Returns:
        int32 codes in ``[-2**23, 2**23 - 1]``: a signal beyond +-VREF/gain saturates there.
    """
    q = np.rint(np.asarray(emg_uV, dtype=np.float64) / lsb_uV(gain, vref_v))
    return np.clip(q, CODE_MIN, CODE_MAX).astype(np.int32)


def codes_to_uV(codes: np.ndarray, gain: float = 24.0, vref_v: float = 4.5) -> np.ndarray:
    """Inverse of :func:`afe_codes`: codes to input-referred microvolts (float32)."""
    return (np.asarray(codes, dtype=np.float64) * lsb_uV(gain, vref_v)).astype(np.float32)


def sinc3_smooth(fine: np.ndarray, os: int) -> np.ndarray:
    """Apply the sinc^3 decimation filter to a signal oversampled ``os`` times (last axis).

    Three causal moving averages of one output period each (the continuous-time equivalent of
    the ADS1299's sinc^3 filter), evaluated on the fine grid; decimate with ``[..., ::os]``.
    Used on MUAP templates and artefacts so that the phantom is band-limited like real data.
    """
    y = np.asarray(fine, dtype=float)
    for _ in range(3):
        c = np.cumsum(y, axis=-1)
        lagged = np.zeros_like(c)
        lagged[..., os:] = c[..., :-os]
        y = (c - lagged) / os
    return y


def sinc3_gain(f_hz: np.ndarray | float, fs: float) -> np.ndarray:
    """Amplitude response of :func:`sinc3_smooth` at ``f_hz`` for output rate ``fs``."""
    return np.abs(np.sinc(np.asarray(f_hz, dtype=float) / fs)) ** 3
