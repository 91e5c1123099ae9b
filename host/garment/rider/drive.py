"""The rider's own neural drive: pedalling bursts locked to the rider's crank, scaled by
the effort the rider puts in to hold the target cadence.

The burst shapes are the phantom's cycling profiles (``garment.phantom.scenarios``), so the
EMG the garment reads and the force the rider's muscles make come from one drive. The
phantom renders half a second at a time, so the drive of a segment is planned from the
crank state when the segment starts (angle extrapolated with the cadence), like a
feed-forward motor plan; the mechanics then use exactly the drive that was planned.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from garment.phantom.montage import MuscleSite
from garment.phantom.scenarios import Cycling

#: (time s) -> (left crank angle deg unwrapped at that time, effort 0..1), from the rider
Planner = Callable[[np.ndarray], tuple[np.ndarray, float]]


class RiderDrive(Cycling):
    """A :class:`Cycling` scenario whose crank angle and intensity come from the rider."""

    name = "rider"

    def __init__(self, sites: Sequence[MuscleSite], seed: int, planner: Planner) -> None:
        super().__init__(sites, seed, cadence_rpm=60.0, cadence_jitter_rpm=0.0)
        self.planner = planner

    def _unwrapped(self, t: np.ndarray) -> np.ndarray:
        angle, _ = self.planner(np.asarray(t, dtype=float))
        return angle

    def drive(self, t: np.ndarray) -> np.ndarray:
        _, effort = self.planner(np.asarray(t, dtype=float))
        self.intensity = float(effort)
        return super().drive(t)

    def annotations(self, t_end: float) -> list[tuple[float, float, str]]:
        return [(0.0, float(t_end), "rider on the ergometer")]
