"""Motor-unit discharges and units lost/found as events: LSL markers and recording annotations.

One text per event, the same on both paths: ``mu:discharge unit=K`` at the discharge,
``mu:lost unit=K`` / ``mu:found unit=K`` when the tracker reports it.  As recording
annotations (duration 0) they are written by :func:`garment.recordings.edf.write_bdf` as EDF+/BDF+
annotations and, with its sidecars, as rows of the BIDS ``*_events.tsv`` (``trial_type`` = the text).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from garment.recordings.model import Annotation

from .tracker import BatchResult, UnitEvent


def discharge_text(unit: int) -> str:
    """The event text of one discharge of ``unit``."""
    return f"mu:discharge unit={unit}"


def batch_events(res: BatchResult, fs: float) -> list[tuple[float, str]]:
    """A batch's discharges and lost/found reports as ``(seconds from the stream start, text)``, in time order."""
    out = [(float(s) / fs, discharge_text(k)) for k, d in enumerate(res.discharges) for s in d]
    out += [(e.t_s, f"mu:{e.kind} unit={e.unit}") for e in res.events]
    out.sort(key=lambda x: x[0])
    return out


def annotations(trains: Sequence[np.ndarray], fs: float, events: Sequence[UnitEvent] = ()) -> list[Annotation]:
    """Every discharge (and lost/found report) as a zero-duration annotation, for a recording."""
    out = [Annotation(float(s) / fs, 0.0, discharge_text(k)) for k, d in enumerate(trains) for s in np.asarray(d)]
    out += [Annotation(e.t_s, 0.0, f"mu:{e.kind} unit={e.unit}") for e in events]
    out.sort(key=lambda a: a.onset_s)
    return out


class DischargeMarkers:
    """Discharges to an LSL ``Markers`` outlet, time-stamped at the discharge.

    ``t0`` is the :func:`pylsl.local_clock` time of the stream's first sample (from the device
    counter), so a discharge at sample ``s`` is stamped ``t0 + s / fs`` and not when it was found.
    """

    def __init__(self, outlet, fs: float, t0: float) -> None:  # outlet: garment.streaming.lsl.MarkerOutlet
        self.outlet = outlet
        self.fs = fs
        self.t0 = t0

    def push(self, res: BatchResult) -> int:
        """Push a batch's events; returns how many."""
        ev = batch_events(res, self.fs)
        for t, text in ev:
            self.outlet.push(text, timestamp=self.t0 + t)
        return len(ev)
