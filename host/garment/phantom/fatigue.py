"""Muscle fatigue of the phantoms: the state driven by the drive, and the conduction velocity it slows.

One law for both phantoms (the bipolar :mod:`.engine` and the HD grid :mod:`.hd_phantom`):
fatigue ``f`` (0 rested .. 1) builds up first-order with the drive and recovers at rest,

    df/dt = rate / tau * drive * (1 - f) - f / recovery_tau,

stepped exactly over a segment of constant (mean) drive; a fatigued muscle's fibres conduct
slower, ``cv = cv_fresh * (1 - cv_drop * f)``, quantised to :data:`CV_STEP` so that action
potentials can be cached per step (slower waves: longer potentials, lower median frequency).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: CV factor resolution of cached potentials (1 % -> median-frequency error < 0.5 %).
CV_STEP = 0.01


@dataclass(frozen=True)
class FatigueLaw:
    """Parameters of the fatigue law (see the module docstring).

    Attributes:
        rate: scales how fast drive fatigues the muscle (0 disables fatigue).
        tau_s: time constant of fatigue build-up at drive 1.0.
        recovery_tau_s: time constant of recovery at rest.
        cv_drop: fractional conduction-velocity loss of a fully fatigued muscle.
    """

    rate: float = 1.0
    tau_s: float = 30.0
    recovery_tau_s: float = 200.0
    cv_drop: float = 0.35

    def __post_init__(self) -> None:
        if self.rate < 0 or not 0.0 <= self.cv_drop < 1.0 or self.tau_s <= 0 or self.recovery_tau_s <= 0:
            raise ValueError(f"fatigue law needs rate >= 0, 0 <= cv_drop < 1, taus > 0; got {self}")

    def step(self, fatigue: np.ndarray | float, mean_drive: np.ndarray | float, seconds: float) -> np.ndarray:
        """Fatigue after ``seconds`` at constant ``mean_drive`` (exact solution of the linear law)."""
        a = self.rate / self.tau_s * np.asarray(mean_drive, dtype=float)
        b = a + 1.0 / self.recovery_tau_s
        eq = a / b
        return eq + (np.asarray(fatigue, dtype=float) - eq) * np.exp(-b * seconds)

    def cv_factor(self, fatigue: np.ndarray | float) -> np.ndarray:
        """Conduction-velocity factor (1 = fresh) of a fatigue state, quantised to :data:`CV_STEP`."""
        return np.round((1.0 - self.cv_drop * np.asarray(fatigue, dtype=float)) / CV_STEP) * CV_STEP

    @property
    def cv_min(self) -> float:
        """Slowest CV factor the law can reach (fully fatigued)."""
        return 1.0 - self.cv_drop
