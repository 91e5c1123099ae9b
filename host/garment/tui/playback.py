"""A recording played back at its own pace into the Live view's buffers: the Review
screen shows it exactly as Live shows a garment (traces, envelopes, spectrum), with no
garment involved. Only what Live reads of a session is here."""
from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import numpy as np

from garment.client import StreamConfig
from garment.plots import EMG_UNITS
from garment.tui.session import LinkView, TraceBuffer


class Playback:
    """Plays ``rec`` (a :class:`garment.recordings.Recording`) in real time times ``speed``."""

    spec = "playback"

    def __init__(self, rec: Any, path: Path | None = None, speed: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rec = rec
        self.path = path
        self.clock = clock
        self.speed = float(speed)
        emg = [i for i, u in enumerate(rec.units) if u in EMG_UNITS] or list(range(rec.n_channels))
        scale = np.array([{"mV": 1000.0, "V": 1e6}.get(rec.units[i], 1.0) for i in emg])
        self.samples_uV = np.asarray(rec.samples, dtype=np.float64)[:, emg] * scale  # microvolts, like Live
        self.fs = int(round(float(rec.fs)))
        self.n_ch = len(emg)
        self.channel_names = [rec.channel_names[i] for i in emg]
        self.config = StreamConfig(fs=self.fs, channels=self.n_ch)
        self.trace = TraceBuffer(self.n_ch, self.fs, 2.0)
        self.connected = True
        self.model: dict[str, Any] | None = None
        self.model_labels: list[str] = []
        self.decoder = None
        self.decoder_history: deque[int] = deque(maxlen=64)
        self.decoder_count = 0
        self.stim = None
        self.last_status = None
        self.position = 0
        self.paused = False
        self._t0 = clock()
        self._p0 = 0

    @property
    def n_samples(self) -> int:
        return len(self.samples_uV)

    @property
    def time_s(self) -> float:
        return self.position / self.fs

    @property
    def finished(self) -> bool:
        return self.position >= self.n_samples

    def label(self) -> str:
        """The annotation(s) at the playback position."""
        t = self.time_s
        return ", ".join(a.text for a in self.rec.annotations
                         if a.onset_s <= t < a.onset_s + max(a.duration_s, 1.0 / self.fs))

    def pause(self, on: bool | None = None) -> None:
        self.paused = (not self.paused) if on is None else on
        self._t0, self._p0 = self.clock(), self.position

    def advance(self) -> int:
        """Push the samples due by now into the trace buffer; returns how many."""
        if self.paused or self.finished:
            return 0
        due = min(self.n_samples, self._p0 + int((self.clock() - self._t0) * self.fs * self.speed))
        n = due - self.position
        if n > 0:
            self.trace.push(self.samples_uV[self.position:due])
            self.position = due
        return max(0, n)

    def link_view(self) -> LinkView:
        return LinkView(rate_sps=self.fs * self.speed if not self.paused else 0.0, samples=self.position,
                        connected=True, state="playback",
                        problem=f"playback {self.time_s:.1f}/{self.n_samples / self.fs:.1f} s"
                        + (" (paused)" if self.paused else "") + (" (end)" if self.finished else ""))

    def channel_amplitude_ua(self, channel: int, now: float | None = None, recent_s: float = 0.5) -> int:
        return 0

    def pulse_rate(self, channel: int, now: float | None = None, window: float = 1.0) -> float:
        return 0.0
