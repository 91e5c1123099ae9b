"""The simulated garment: the real firmware on the MicroPython unix port (``sim`` board),
fed with EMG through its rig port."""
from garment.sim.feeder import EmgFeeder, NoiseEmgSource
from garment.sim.launcher import SimGarment, SimStartError

__all__ = ["EmgFeeder", "NoiseEmgSource", "SimGarment", "SimStartError"]
