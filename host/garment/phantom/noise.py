"""Additive noise and interference: amplifier noise, mains pick-up and baseline wander.

Mains and wander are functions of absolute time, so consecutive blocks join without seams;
amplifier noise is white and drawn per block.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .afe import sinc3_gain


@dataclass(frozen=True)
class InterferenceConfig:
    """Levels of the additive, non-EMG components (microvolts).

    Attributes:
        noise_uV: RMS of white amplifier + electrode noise per channel (ADS1299 + dry-ish
            textile electrodes: a few uV over the EMG band).
        mains_hz: mains frequency (50 or 60 Hz).
        mains_uV: typical amplitude of the mains fundamental (per channel scaled 0.3..1.5x).
        mains_harmonics: relative amplitude of the 2nd, 3rd, ... harmonics (odd ones dominate
            for rectifier-loaded mains).
        wander_uV: typical amplitude of baseline wander (< 1 Hz: sweat, electrode drift).
        dc_offset_uV: electrode offsets are drawn uniformly in +-this (0 = none).
    """

    noise_uV: float = 1.5
    mains_hz: float = 50.0
    mains_uV: float = 10.0
    mains_harmonics: tuple[float, ...] = (0.02, 0.25, 0.01, 0.08)
    wander_uV: float = 30.0
    dc_offset_uV: float = 0.0


class Interference:
    """Per-channel interference parameters drawn once, evaluated at any absolute times."""

    def __init__(self, cfg: InterferenceConfig, n_channels: int, fs: float, rng: np.random.Generator) -> None:
        """Draw the per-channel amplitudes and phases.

        Args:
            cfg: levels.
            n_channels: number of channels.
            fs: sampling rate (for the AFE's response at the mains harmonics).
            rng: random generator (used once, here).
        """
        self.cfg = cfg
        self.fs = float(fs)
        c = n_channels
        # Mains couples mostly common-mode: similar phase on all channels, amplitude varies
        # with each electrode's impedance imbalance, and slowly with posture.
        self.mains_amp = cfg.mains_uV * rng.uniform(0.3, 1.5, c)
        self.mains_phase = rng.uniform(0, 2 * np.pi) + rng.normal(0.0, 0.3, c)
        self.mains_mod_f = rng.uniform(0.05, 0.2, c)
        self.mains_mod_phase = rng.uniform(0, 2 * np.pi, c)
        self.wander_f = np.exp(rng.uniform(np.log(0.05), np.log(0.6), (3, c)))
        self.wander_amp = cfg.wander_uV * rng.uniform(0.2, 0.7, (3, c))
        self.wander_phase = rng.uniform(0, 2 * np.pi, (3, c))
        self.dc = rng.uniform(-1.0, 1.0, c) * cfg.dc_offset_uV
        harm = [1.0, *cfg.mains_harmonics]
        f = cfg.mains_hz * np.arange(1, len(harm) + 1)
        # Harmonics above Nyquist would alias in a real AFE only after its filter: drop them.
        keep = f < 0.5 * self.fs
        self.h_freq = f[keep]
        self.h_amp = (np.asarray(harm) * sinc3_gain(f, self.fs))[keep]

    def deterministic(self, t: np.ndarray) -> np.ndarray:
        """Mains + wander + DC at absolute times ``t`` (s), shape (n, C)."""
        t = np.asarray(t, dtype=float)[:, None]

        def sines(freq: np.ndarray | float, phase: np.ndarray) -> np.ndarray:
            # sin(w t + p) = sin(w t) cos p + cos(w t) sin p: one sin/cos per distinct frequency.
            w = 2 * np.pi * np.asarray(freq, dtype=float) * t
            return np.sin(w) * np.cos(phase) + np.cos(w) * np.sin(phase)

        env = self.mains_amp * (1.0 + 0.3 * np.sin(2 * np.pi * self.mains_mod_f * t + self.mains_mod_phase))
        mains = np.zeros((t.shape[0], self.mains_amp.size))
        for k, (fh, ah) in enumerate(zip(self.h_freq, self.h_amp)):
            mains += ah * sines(fh, (k + 1) * self.mains_phase)
        out = env * mains + self.dc
        for i in range(self.wander_f.shape[0]):
            out += self.wander_amp[i] * np.sin(2 * np.pi * self.wander_f[i] * t + self.wander_phase[i])
        return out

    def noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """White amplifier noise, (n, C)."""
        return rng.standard_normal((n, self.mains_amp.size)) * self.cfg.noise_uV
