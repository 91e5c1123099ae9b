"""HD-EMG stream sources for the live tracker: the phantom's grid (with its truth) played in batches.

A source gives a guided calibration baseline (rest, ramp, hold) and then the live stream, one
batch at a time, through the same two calls a garment's HD stream would answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from garment.phantom.hd_phantom import HDResult, generate_hd

#: Scenarios the phantom source plays after calibration.
TASKS = ("isometric", "cycling")


@dataclass
class PhantomHDSource:
    """The HD phantom as a stream: calibration and task share the seed, so the same muscle and units.

    Attributes:
        task: ``isometric`` (a 20 % MVC trapezoid) or ``cycling`` (pedalling at ``cadence_rpm``).
        seconds: length of the task stream.
        calibrate_seconds: length of the guided baseline (rest 1 s, ramp, hold at 20 % MVC).
    """

    task: str = "isometric"
    seconds: float = 20.0
    calibrate_seconds: float = 12.0
    seed: int = 1
    n_units: int = 200
    cadence_rpm: float = 60.0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r} ({', '.join(TASKS)})")
        if self.calibrate_seconds < 3.0:
            raise ValueError("the calibration needs at least 3 s")
        if self.seconds <= 0:
            raise ValueError("seconds must be > 0")
        self._live: HDResult | None = None
        self._pos = 0

    def baseline(self) -> HDResult:
        """The calibration baseline (guided: rest, ramp, hold at 20 % MVC)."""
        return generate_hd("trapezoid", self.calibrate_seconds, seed=self.seed, level=0.2,
                           ramp_s=min(3.0, self.calibrate_seconds / 4), n_units=self.n_units)

    @property
    def live(self) -> HDResult:
        """The task stream with its truth (generated on first use)."""
        if self._live is None:
            if self.task == "cycling":
                self._live = generate_hd("cycling", self.seconds, seed=self.seed, n_units=self.n_units,
                                         cadence_rpm=self.cadence_rpm)
            else:
                self._live = generate_hd("trapezoid", self.seconds, seed=self.seed, level=0.2,
                                         ramp_s=min(2.0, self.seconds / 4), n_units=self.n_units)
        return self._live

    def read(self, n: int) -> np.ndarray | None:
        """Next ``n`` samples (n, C) microvolts, fewer at the end, None when the stream is over."""
        emg = self.live.emg_uV
        if self._pos >= emg.shape[0]:
            return None
        out = emg[self._pos : self._pos + n]
        self._pos += out.shape[0]
        return out

    def truth(self) -> list[np.ndarray]:
        """Every phantom unit's discharge samples in the task stream."""
        return self.live.spikes
