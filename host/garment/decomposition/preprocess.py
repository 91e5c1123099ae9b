"""Input checks and band-pass filtering of monopolar HD-EMG before separation."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.signal import butter, sosfiltfilt

#: Fewest channels a convolutive separation can use (the extended observations need spatial diversity).
MIN_CHANNELS = 16
#: Lowest sampling rate that keeps a motor-unit action potential's shape (energy up to ~500 Hz).
MIN_FS = 1000.0
#: Shortest recording (s): fewer discharges than this gives no usable CoV of ISI.
MIN_SECONDS = 3.0


class DecompositionInputError(ValueError):
    """A recording that cannot be decomposed, with the reason in the message."""


def check_input(emg: np.ndarray, fs: float, labels: Sequence[str] | None = None) -> None:
    """Refuse recordings that cannot be decomposed: too few channels, a wrong rate, flat or broken channels.

    Args:
        emg: (n_samples, n_channels) microvolts.
        fs: sampling rate (Hz).
        labels: channel labels for the messages.

    Raises:
        DecompositionInputError: with what is wrong and where.
    """
    x = np.asarray(emg)
    if x.ndim != 2:
        raise DecompositionInputError(f"EMG must be (samples, channels), got shape {x.shape}")
    n, c = x.shape
    names = list(labels) if labels is not None else [f"channel {i}" for i in range(c)]
    if c < MIN_CHANNELS:
        raise DecompositionInputError(f"{c} channels: decomposition needs a grid of at least {MIN_CHANNELS}")
    if not np.isfinite(fs) or fs < MIN_FS:
        raise DecompositionInputError(f"sampling rate {fs:g} Hz is too low: at least {MIN_FS:g} Hz (2048 Hz typical)")
    if n < MIN_SECONDS * fs:
        raise DecompositionInputError(f"{n / fs:.2f} s of EMG: at least {MIN_SECONDS:g} s needed")
    bad = ~np.isfinite(x).all(axis=0)
    if bad.any():
        raise DecompositionInputError(f"non-finite samples on {[names[i] for i in np.flatnonzero(bad)]}")
    # A flat channel (electrode off, shorted input) has no EMG band content at all.
    d = np.diff(x[: int(min(n, 10 * fs))], axis=0)
    flat = d.std(axis=0) < 1e-3 * max(float(np.median(d.std(axis=0))), 1e-12)
    flat |= np.ptp(x, axis=0) == 0
    if flat.any():
        raise DecompositionInputError(f"flat channel(s) {[names[i] for i in np.flatnonzero(flat)]}: "
                                      "check the electrodes or leave those channels out")


def bandpass(emg: np.ndarray, fs: float, low_hz: float = 20.0, high_hz: float = 500.0) -> np.ndarray:
    """Zero-phase 4th-order Butterworth band-pass, returned as (channels, samples) float32."""
    high = min(high_hz, 0.45 * fs)
    sos = butter(4, [low_hz, high], btype="bandpass", fs=fs, output="sos")
    return np.ascontiguousarray(sosfiltfilt(sos, np.asarray(emg, dtype=np.float64), axis=0).T, dtype=np.float32)
