"""The HD garment's electrode signals: the HD phantom's monopolar grid, with its truth.

:class:`HDPhantomSource` is the :class:`~garment.sim.feeder.EmgSource` the simulated HD
garment (``SimGarment(hd=True)``, ``--device sim-hd``) is fed with: a recording of the HD
phantom (:func:`garment.phantom.hd_phantom.generate_hd`, the grid of the firmware's
``garmentfw.montage.HD_GRID``) played sample by sample and repeated from its start when it
ends. What the garment streams is therefore known unit by unit: AFE conversion ``i``
converts feeder sample ``i - feeder.afe_offset``, which is sample
``(i - afe_offset - source_base) % n`` of :attr:`HDPhantomSource.result` (see
:meth:`HDPhantomSource.phantom_sample`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from garment.phantom.hd_phantom import HDResult, generate_hd

__all__ = ["HD_INPUTS", "HDPhantomSource", "hd_source_factory"]

#: electrode inputs of the HD garment's AFE (8 daisy-chained ADS1299s)
HD_INPUTS = 64


@functools.lru_cache(maxsize=4)
def _recording(scenario: str, seconds: float, fs: int, seed: int, level: float, grid: str) -> HDResult:
    # A phantom takes seconds to generate: sims restarted in one process share it.
    kw: dict[str, float] = {"level": level, "ramp_s": min(2.0, seconds / 4)} if scenario == "trapezoid" else {}
    return generate_hd(scenario, seconds, fs=float(fs), grid_name=grid, seed=seed, **kw)  # type: ignore[arg-type]


@dataclass
class HDPhantomSource:
    """The HD phantom played as the garment's electrode input (microvolts, 64 inputs).

    Attributes:
        fs: the AFE's rate (Hz).
        scenario: ``trapezoid`` (``level`` of MVC, 2 s ramps) or ``cycling``.
        seconds: length of the recording, repeated.
        seed: the phantom's seed (muscle, units, discharges).
    """

    fs: int
    scenario: str = "trapezoid"
    seconds: float = 12.0
    seed: int = 1
    level: float = 0.2
    grid: str = "13x5"

    def __post_init__(self) -> None:
        self.result = _recording(self.scenario, float(self.seconds), int(self.fs), int(self.seed),
                                 float(self.level), self.grid)
        if self.result.emg_uV.shape[1] != HD_INPUTS:
            raise ValueError(f"the {self.grid} grid has {self.result.emg_uV.shape[1]} electrodes; "
                             f"the HD garment has {HD_INPUTS} inputs")
        #: samples produced so far (the next block starts at phantom sample position % n)
        self.position = 0

    def next_block(self, n: int) -> np.ndarray:
        """The next ``n`` samples, (n, 64) float32 microvolts."""
        emg = self.result.emg_uV
        idx = (self.position + np.arange(n)) % emg.shape[0]
        self.position += n
        return emg[idx]

    def phantom_sample(self, source_sample: int) -> int:
        """The phantom recording's sample that this source's sample ``source_sample`` plays."""
        return int(source_sample) % self.result.n_samples


def hd_source_factory(scenario: str = "trapezoid", seconds: float = 12.0, seed: int = 1,
                      level: float = 0.2) -> Callable[[int], HDPhantomSource]:
    """A ``source_factory`` for :class:`~garment.sim.SimGarment` (called with the AFE's rate)."""

    def make(fs: int) -> HDPhantomSource:
        return HDPhantomSource(fs, scenario=scenario, seconds=seconds, seed=seed, level=level)

    return make
