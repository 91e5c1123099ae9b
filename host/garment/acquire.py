"""Streaming sessions: pull sample blocks from a garment into sinks (a BDF+ recording,
an LSL outlet, a live display) and report what arrived and what was lost.

What was received is never thrown away: if the garment stops answering, the session
ends with ``error`` set and every sink is closed normally (the recording is saved).
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from garment.client import Event, GarmentClient, SampleBlock
from garment.transports import TransportError


class Sink(Protocol):
    """Receives every block of a streaming session, in order."""

    def open(self, meta: "StreamMeta") -> None: ...
    def block(self, block: SampleBlock, uV: np.ndarray) -> None: ...
    def event(self, event: Event) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class StreamMeta:
    """What a sink needs to know about the stream."""

    fs: int
    channels: int
    channel_names: list[str]
    uV_per_code: float
    device: str
    info: dict[str, Any]


@dataclass
class StreamReport:
    channels: int
    fs: int
    samples: int = 0
    dropped: int = 0
    crc_errors: int = 0
    duration_s: float = 0.0
    error: str | None = None
    saved: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "channels": self.channels, "fs": self.fs, "samples": self.samples, "dropped": self.dropped,
            "crc_errors": self.crc_errors, "duration_s": round(self.duration_s, 3),
        }
        if self.error is not None:
            d["error"] = self.error
        return d


class RecordingSink:
    """Records into a BDF+ file (with BIDS sidecars); gaps become annotations."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer: Any = None
        self._t0_index: int | None = None

    def open(self, meta: StreamMeta) -> None:
        from garment.recordings import RecordingWriter

        # whole microvolts: EDF header fields hold 8 characters
        full_scale = float(math.ceil((2**23) * meta.uV_per_code))
        self._writer = RecordingWriter(
            self.path, meta.channel_names, ["uV"] * meta.channels, float(meta.fs),
            physical_range=(-full_scale, full_scale),
            meta={"device": meta.device, "board": str(meta.info.get("board")),
                  "firmware": str(meta.info.get("version")), "uid": str(meta.info.get("uid"))},
            overwrite=True,
        )

        grid = meta.info.get("grid")
        if isinstance(grid, dict):  # the HD garment: its electrode grid beside the recording
            from garment.phantom.hd_grid import GridLayout
            from garment.phantom.hd_phantom import write_grid_sidecar

            layout = GridLayout(int(grid["rows"]), int(grid["cols"]), float(grid["ied_mm"]),
                                tuple(int(k) for k in grid.get("absent", ())))
            if layout.labels() == list(meta.channel_names):  # every electrode streamed
                write_grid_sidecar(self.path, layout)

    def block(self, block: SampleBlock, uV: np.ndarray) -> None:
        if self._t0_index is None:
            self._t0_index = block.first_index
        self._writer.append(uV, block.first_index - self._t0_index)

    def event(self, event: Event) -> None:
        pass

    def annotate(self, onset_s: float, duration_s: float, text: str) -> None:
        """Add an EDF+ annotation (a prompt, a class label) to the recording."""
        self._writer.annotate(onset_s, duration_s, text)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class LslSink:
    """Publishes EMG as an LSL stream (type EMG) and garment events as markers."""

    def __init__(self) -> None:
        self._emg: Any = None
        self._markers: Any = None

    def open(self, meta: StreamMeta) -> None:
        from garment.streaming.lsl import EmgOutlet, MarkerOutlet, quiet_default_config

        quiet_default_config()
        uid = str(meta.info.get("uid", "garment"))
        self._emg = EmgOutlet(f"garment-{uid}", meta.channel_names, ["microvolts"] * meta.channels,
                              float(meta.fs), source_id=f"{uid}-emg")
        self._markers = MarkerOutlet(f"garment-{uid}-events", source_id=f"{uid}-events")

    def block(self, block: SampleBlock, uV: np.ndarray) -> None:
        self._emg.push_block(uV)

    def event(self, event: Event) -> None:
        self._markers.push(event.text)

    def close(self) -> None:
        for o in (self._emg, self._markers):
            if o is not None:
                o.close()


async def stream_meta(g: GarmentClient, device: str) -> StreamMeta:
    info = await g.info()
    cfg = await g.get_config()
    names = list(info.get("montage") or [f"EMG{i + 1}" for i in range(cfg.channels)])[: cfg.channels]
    return StreamMeta(cfg.fs, cfg.channels, names, float(info.get("lsb_fv", 0)) / 1e9, device, info)


async def run_stream(g: GarmentClient, seconds: float, sinks: list[Sink], device: str = "",
                     stop: "asyncio.Event | None" = None) -> StreamReport:
    """Stream for ``seconds`` (or until ``stop`` is set) into ``sinks``; returns the report
    (never raises on link loss)."""
    meta = await stream_meta(g, device)
    report = StreamReport(meta.channels, meta.fs)
    for s in sinks:
        s.open(meta)
    n_events = len(g.events)

    def deliver(block: SampleBlock) -> None:
        nonlocal n_events
        uV = block.data.astype(np.float64) * meta.uV_per_code
        for s in sinks:
            s.block(block, uV)
        for ev in g.events[n_events:]:
            for s in sinks:
                s.event(ev)
        n_events = len(g.events)

    t0 = time.monotonic()
    try:
        await g.start_stream()
        while time.monotonic() - t0 < seconds and not (stop is not None and stop.is_set()):
            deliver(await g.next_block(timeout=2.0))
    except TransportError as e:
        report.error = str(e)
    report.duration_s = time.monotonic() - t0
    if report.error is None:
        try:
            await g.stop_stream()
            while True:  # what was in flight when the stop was acknowledged
                try:
                    deliver(await g.next_block(timeout=0.3))
                except TransportError:
                    break
        except TransportError as e:
            report.error = str(e)
    else:
        for block in g.take_buffered():  # keep every block that arrived before the loss
            deliver(block)
    for s in sinks:
        s.close()
    st = g.stats
    report.samples, report.dropped, report.crc_errors = st.samples, st.dropped, st.crc_errors
    return report
