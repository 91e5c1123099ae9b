"""HD-EMG stream sources for the live tracker: the phantom's grid (with its truth) played in batches.

A source gives a calibration baseline and then the live stream, one batch at a time, through the
same two calls a garment's HD stream would answer.  The baseline is the task's own: a guided
isometric contraction (rest, ramp, hold) before an isometric task, the first seconds of the ride
before cycling (the units an isometric baseline finds are not the ones that separate while the
muscle slides under the grid and the burst recruits larger units: see ``garment.motorunits.tracker``).
"""
from __future__ import annotations

import dataclasses
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
        calibrate_seconds: length of the baseline: isometric, the guided contraction (rest 1 s, ramp,
            hold at 20 % MVC); cycling, the first seconds of the ride (the live stream is its
            continuation, so no sample scored was calibrated on).
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
        self._ride: tuple[HDResult, HDResult] | None = None
        self._pos = 0

    def baseline(self) -> HDResult:
        """The calibration baseline: the guided contraction (isometric) or the ride's first seconds (cycling)."""
        if self.task == "cycling":
            return self._cycling()[0]
        return generate_hd("trapezoid", self.calibrate_seconds, seed=self.seed, level=0.2,
                           ramp_s=min(3.0, self.calibrate_seconds / 4), n_units=self.n_units)

    def _cycling(self) -> tuple[HDResult, HDResult]:
        """One ride of baseline + task, split at the end of the baseline (generated once)."""
        if self._ride is None:
            ride = generate_hd("cycling", self.calibrate_seconds + self.seconds, seed=self.seed,
                               n_units=self.n_units, cadence_rpm=self.cadence_rpm)
            self._ride = split_ride(ride, int(round(self.calibrate_seconds * ride.fs)))
        return self._ride

    @property
    def live(self) -> HDResult:
        """The task stream with its truth (generated on first use)."""
        if self._live is None:
            if self.task == "cycling":
                self._live = self._cycling()[1]
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


def split_ride(ride: HDResult, n: int) -> tuple[HDResult, HDResult]:
    """``ride`` cut at sample ``n``: (the first ``n`` samples, the rest), each with its own truth
    (discharge samples counted from its own start)."""
    def part(a: int, b: int) -> HDResult:
        def cut(x):
            return None if x is None else x[a:b]
        return dataclasses.replace(
            ride, emg_uV=ride.emg_uV[a:b], drive=ride.drive[a:b], spikes=[t[(t >= a) & (t < b)] - a for t in ride.spikes],
            class_index=cut(ride.class_index), shift_mm=cut(ride.shift_mm),
            extra={k: v[a:b] for k, v in ride.extra.items()})
    return part(0, n), part(n, ride.n_samples)
