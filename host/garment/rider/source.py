"""The rider as the simulated garment's body: the EMG source of its rig port.

The feeder asks for electrode signals (``next_block``) and reports every delivered pulse
(``stimulate_now``). Both go to one :class:`Rider`: its phantom renders the EMG of the
rider's own drive (and the evoked M-waves), and its mechanics advance behind the feed, on
the AFE's clock, with the pulses that were delivered. The phantom renders half a second at
a time, from the crank extrapolated up to ~1 s ahead of the mechanics; the muscles' force
follows the same drive profile and effort at the crank's actual angle, so a cadence change
misaligns only the EMG (by the extrapolation error), never the torque.
"""
from __future__ import annotations

import threading

import numpy as np

from garment.phantom import PhantomStream
from garment.phantom.montage import MONTAGE

from .drive import RiderDrive
from .rider import STIM_MUSCLES, Rider

#: how far ahead of the AFE the feeder keeps its queue: slack for a host that is late
#: (the AFE model holds 0.51 s at 2 kHz); the rider's pulses are placed by AFE index, so it adds no
#: error, only memory
FEED_LEAD_S = 0.4
#: mechanics run this far behind the last sample fed, i.e. 50 ms behind the AFE: a pulse
#: the garment delivers "now" reaches the rider before the rider reaches its time
LAG_S = FEED_LEAD_S + 0.05


class RiderSource:
    """An ``EmgSource`` (see ``garment.sim.feeder``) for one rider and one sampling rate."""

    def __init__(self, rider: Rider, fs: int, seed: int = 0, lock: threading.Lock | None = None) -> None:
        self.rider = rider
        self.fs = int(fs)
        self.lock = lock or threading.Lock()
        self.t0 = rider.time_s  # rider time of this source's sample 0 (a new rate restarts it)
        self.stream = PhantomStream("cycling", fs=fs, channels=len(MONTAGE), seed=seed, stim_artefact=False)
        drive = RiderDrive(self.stream.sites, seed, lambda t: rider.plan(np.asarray(t) + self.t0))
        # the rider's drive replaces the scripted pedalling (same burst shapes)
        self.stream.scenario = drive
        self.stream.engine.scenario = drive
        self._stim_index = [MONTAGE.index(m) for m in STIM_MUSCLES]
        self._per_step = max(1, int(round(self.fs * rider.dt_ms / 1000.0)))
        self._lag_n = int(LAG_S * self.fs)

    @property
    def position(self) -> int:
        return self.stream.position

    def next_block(self, n: int) -> np.ndarray:
        """The next ``n`` samples (n, 8) uV, then the mechanics up to ``LAG_S`` behind them."""
        block = self.stream.next_block(n)
        self._advance(self.stream.position - self._lag_n)
        return block

    def _advance(self, upto: int) -> None:
        r = self.rider
        with self.lock:
            while True:
                sample = int(round((r.time_s - self.t0) * self.fs))
                if sample + self._per_step > upto:
                    return
                r.step()

    def stimulate_now(self, t_s: float, channel: int, amplitude_ma: float, width_us: float = 300.0) -> tuple[int, np.ndarray]:
        """A pulse the garment delivered on stimulation ``channel`` at source time ``t_s``:
        the muscle under that electrode contracts (Ding model) and answers with its M-wave."""
        with self.lock:
            self.rider.pulse(t_s + self.t0, channel, amplitude_ma, width_us)
        if 0 <= channel < len(self._stim_index):
            return self.stream.stimulate_now(t_s, self._stim_index[channel], amplitude_ma, width_us)
        return 0, np.zeros((0, len(MONTAGE)))

    def crank_now(self) -> tuple[float, float]:
        """(left crank angle deg, cadence rpm) at the AFE's present: the mechanics
        extrapolated over the lag, as a crank sensor would read it now."""
        with self.lock:
            r = self.rider
            lead = LAG_S - FEED_LEAD_S
            return (r.angle_deg + 6.0 * r.cadence_rpm * lead) % 360.0, r.cadence_rpm
