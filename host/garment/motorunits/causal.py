"""Causal band-pass of a multichannel stream, batch by batch, with the filter state carried over."""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt, sosfilt_zi


class CausalBandpass:
    """4th-order Butterworth band-pass (20-500 Hz as the offline decomposition) applied causally.

    The offline decomposition filters forwards and backwards (zero phase); a live stream can only
    filter forwards, so the online filters are built on causally filtered data (:mod:`.calibrate`).
    """

    def __init__(self, n_channels: int, fs: float, low_hz: float = 20.0, high_hz: float = 500.0) -> None:
        self.sos = butter(4, [low_hz, min(high_hz, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
        self._zi = np.repeat(sosfilt_zi(self.sos)[:, :, None], n_channels, axis=2) * 0.0
        self._primed = False

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Filter ``batch`` (n, C) microvolts; returns (C, n) float32 (channels as rows)."""
        x = np.asarray(batch, np.float64)
        if not self._primed and x.shape[0]:
            # Start from the first sample's steady state: no step transient from a DC offset.
            self._zi = sosfilt_zi(self.sos)[:, :, None] * x[0][None, None, :]
            self._primed = True
        y, self._zi = sosfilt(self.sos, x, axis=0, zi=self._zi)
        return np.ascontiguousarray(y.T, dtype=np.float32)
