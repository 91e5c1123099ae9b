"""Motor units: calibrate from the screen (the person guided through rest, ramp and hold), then
the live units: a raster of discharges, instantaneous and smoothed rates, SIL, units lost and found.

The stream is the HD phantom's grid (``garment.motorunits.source``): the garments have no
64-channel stream yet.  Calibration (a decomposition, tens of seconds) runs in a thread.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, RichLog, Static

from garment.tui.screens.base import GarmentScreen

#: Seconds of discharges the raster shows.
RASTER_S = 2.0
#: Guided calibration: the phase the person is asked for, by time in the baseline (s from its start).
PHASES = (("rest", "Relax the thigh"), ("ramp", "Slowly push the knee straight"), ("hold", "Hold it steady"))


def guidance(t_s: float, ramp_s: float, seconds: float) -> str:
    """What the person is asked to do ``t_s`` into a baseline of ``seconds`` with a ramp of ``ramp_s``."""
    if t_s < 1.0:
        return PHASES[0][1]
    if t_s < 1.0 + ramp_s and t_s < seconds:
        return PHASES[1][1]
    return PHASES[2][1]


def raster_line(discharges: np.ndarray, now: int, fs: float, width: int) -> str:
    """One unit's last ``RASTER_S`` as ``width`` characters: ``|`` in a column with a discharge."""
    row = [" "] * width
    span = RASTER_S * fs
    for s in discharges:
        c = int((s - (now - span)) / span * width)
        if 0 <= c < width:
            row[c] = "|"
    return "".join(row)


class MotorUnitsScreen(GarmentScreen):
    MODE = "motorunits"
    BINDINGS = [
        Binding("c", "calibrate", "Calibrate (rest, ramp, hold)"),
        Binding("p", "pause", "Pause/resume"),
    ]
    #: Batch the stream is read in (s) and the refresh period of the view.
    BATCH_S = 0.1

    def __init__(self, source_factory: Any = None, calibrate_seconds: float = 12.0) -> None:
        super().__init__()
        from garment.motorunits.source import PhantomHDSource

        self.calibrate_seconds = calibrate_seconds
        self._factory = source_factory or (lambda: PhantomHDSource("isometric", 600.0, self.calibrate_seconds))
        self.source: Any = None
        self.tracker: Any = None
        self.drive: Any = None
        self.trains: list[list[int]] = []
        self.state = "idle"  # idle | calibrating | tracking | paused | failed
        self.events: list[Any] = []
        self._guide_t = 0.0

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Motor units: press c to calibrate (rest, ramp, hold), then the units live", classes="screen-title")
        yield Static("", id="mu-status")
        yield Static("", id="mu-raster")
        yield DataTable(id="mu-table", cursor_type="row")
        yield RichLog(id="mu-events", max_lines=500, markup=False)

    def on_mount(self) -> None:
        t = self.query_one("#mu-table", DataTable)
        t.add_columns("unit", "SIL", "rate (Hz)", "smoothed (Hz)", "discharges", "status")
        self._status("Not calibrated: press c and follow the prompts (about %g s)" % self.calibrate_seconds)
        self.set_interval(self.BATCH_S, self._tick)

    def _status(self, text: str) -> None:
        self.query_one("#mu-status", Static).update(Text(text))

    # ---- calibration ---------------------------------------------------------------------
    def action_calibrate(self) -> None:
        if self.state == "calibrating":
            return
        self.state = "calibrating"
        self.tracker = None
        self._guide_t = 0.0
        self.run_worker(self._calibrate, thread=True, exclusive=True, group="mu-calibrate")

    def _calibrate(self) -> None:
        from garment.motorunits import MotorUnitTracker, NeuralDrive, calibrate

        try:
            src = self._factory()
            base = src.baseline()
            cal = calibrate(base.emg_uV, base.fs, base.layout.labels())
        except Exception as e:  # a baseline with no unit, bad contact: say so, keep the screen
            self.app.call_from_thread(self._failed, str(e))
            return
        self.app.call_from_thread(self._calibrated, src, MotorUnitTracker(cal), NeuralDrive(cal.fs))

    def _failed(self, why: str) -> None:
        self.state = "failed"
        self._status(f"Calibration failed: {why}. Press c to try again")

    def _calibrated(self, src: Any, tracker: Any, drive: Any) -> None:
        self.source, self.tracker, self.drive = src, tracker, drive
        self.trains = [[] for _ in range(tracker.n_units)]
        self.state = "tracking"
        self.query_one("#mu-events", RichLog).write(f"calibrated: {tracker.n_units} motor units")

    def action_pause(self) -> None:
        if self.state in ("tracking", "paused"):
            self.state = "paused" if self.state == "tracking" else "tracking"

    # ---- live -------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.state == "calibrating":
            self._guide_t += self.BATCH_S
            self._status(f"Calibrating ({min(self._guide_t, self.calibrate_seconds):.0f}/{self.calibrate_seconds:g} s): "
                         + guidance(self._guide_t, min(3.0, self.calibrate_seconds / 4), self.calibrate_seconds))
            return
        if self.state != "tracking" or self.tracker is None:
            return
        x = self.source.read(int(self.BATCH_S * self.tracker.fs))
        if x is None:
            self.state = "paused"
            self._status("The stream ended")
            return
        res = self.tracker.process(x)
        self.drive.update(res.discharges, res.end_sample)
        log = self.query_one("#mu-events", RichLog)
        for k, d in enumerate(res.discharges):
            self.trains[k].extend(int(s) for s in d)
        for e in res.events:
            self.events.append(e)
            log.write(f"{e.t_s:7.1f} s  unit {e.unit} {e.kind}" + (f" ({e.reason}{': ' + e.detail if e.detail else ''})"
                                                                     if e.reason else ""))
        self._show(res.end_sample)

    def _show(self, now: int) -> None:
        from garment.motorunits import instantaneous_rates

        tr = self.tracker
        fs = tr.fs
        lines = Text()
        table = self.query_one("#mu-table", DataTable)
        table.clear()
        for k, u in enumerate(tr.cal.units):
            d = np.asarray(self.trains[k][-200:], np.int64)
            lines.append(f"{k:2d} ", style="dim")
            lines.append(raster_line(d, now, fs, 60) + "\n", style="red" if tr.lost[k] else "")
            recent = d[d > now - fs]
            inst = instantaneous_rates(d[-2:], fs)
            smoothed = recent.size  # discharges over the last second = the smoothed rate (Hz)
            table.add_row(str(k), f"{u.sil:.2f}", "-" if not inst.size or np.isnan(inst[-1]) else f"{inst[-1]:.1f}",
                          str(smoothed), str(len(self.trains[k])), ("dropped" if tr.dropped[k] else "lost") if tr.lost[k] else "tracked")
        self.query_one("#mu-raster", Static).update(lines)
        bm = tr.batch_ms()
        self._status(f"{tr.n_units} units, {int(np.count_nonzero(~tr.lost))} tracked; neural drive "
                     f"{self.drive.rate_hz:.0f} discharges/s; batch {bm['median']:.1f} ms median")
