"""The phantom's output: samples plus everything that is true about them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class PhantomResult:
    """Simulated recording with its ground truth.

    Attributes:
        emg_uV: (n, channels) float32 samples in microvolts (input-referred).
        fs: sampling rate (Hz).
        channel_names: names of the channels (``"L_RF"``, ...).
        muscles: simulated muscles, one per channel, same order.
        annotations: ``(onset_s, duration_s, text)`` labels (scenario phases, gestures,
            MVC trials, stimulation trains).
        truth: ground truth arrays:
            ``drive`` (n, muscles) float32, 0..1;
            ``spikes`` dict muscle -> list (per motor unit) of int64 sample indices;
            ``cv_factor`` (n, muscles) conduction-velocity factor (1 = fresh, falls with fatigue);
            ``crank_angle_deg`` (n,) left crank angle 0..360 (cycling only);
            ``class_index`` (n,) int16 and ``classes`` (names) when the scenario has classes;
            ``stim_pulses`` (k, 5) t_s, channel, amplitude_ma, width_us, recruited fraction;
            ``motion_artefacts`` (k, 4) onset_s, channel, amplitude_uV, tau_s;
            ``recruitment_drive`` dict muscle -> (units,) drive at which each unit is recruited.
        units: unit of ``emg_uV`` (always ``"uV"``).
        scenario: scenario name.
        seed: seed it was generated with.
    """

    emg_uV: np.ndarray
    fs: float
    channel_names: list[str]
    muscles: list[str]
    annotations: list[tuple[float, float, str]] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)
    units: str = "uV"
    scenario: str = ""
    seed: int = 0

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.emg_uV.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.n_samples / self.fs

    @property
    def time_s(self) -> np.ndarray:
        """Sample times (s)."""
        return np.arange(self.n_samples) / self.fs
