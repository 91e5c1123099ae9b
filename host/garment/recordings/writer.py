"""Incremental recorder for live streams, crash-safe through an on-disk spool.

::

    with RecordingWriter("sub-01_task-ride_emg.bdf", ["RF", "BF"], ["uV", "uV"], 2000.0,
                         physical_range=(-187500.0, 187500.0)) as w:
        for first_index, block in stream:          # device sample counter, (n, ch)
            w.append(block, first_index)
        w.annotate(12.5, 0.0, "stim on")
    # -> the BDF+ and its sidecars exist, the spool is gone

Every block is appended to ``<path>.spool`` (see :mod:`garment.recordings.spool`)
as it arrives and flushed to the OS (fsync at most every ``fsync_interval_s``), so
when the link drops, the process dies or the machine loses power, what was
received is on disk; :func:`recover_spool` turns a left-behind spool into the BDF.
:meth:`RecordingWriter.close` (also run when a ``with`` block exits on an
exception) writes the BDF+ atomically, then removes the spool.

Sample indices come from the device counter and must not go backwards (unwrap a
wrapping counter before calling :meth:`RecordingWriter.append`). A jump forward is
a gap: the missing samples are written as zeros and an annotation
``GAP n=<missing>`` spans them, so nothing downstream mistakes the fill for signal.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .edf import PhysicalRange, check_annotation_text, write_bdf
from .errors import RecordingFormatError
from .model import GAP_PREFIX, Annotation, Recording
from .spool import SpoolContents, SpoolWriter, read_spool, spool_path_for

log = logging.getLogger(__name__)


def gap_text(n_missing: int) -> str:
    """The annotation text for ``n_missing`` lost samples: ``"GAP n=<n_missing>"``."""
    return f"{GAP_PREFIX} n={int(n_missing)}"


def _physical_to_json(physical_range: PhysicalRange) -> Any:
    pr: Any = physical_range
    if pr is None:
        return None
    if isinstance(pr, Mapping):
        return {str(k): [float(v[0]), float(v[1])] for k, v in pr.items()}
    items = list(pr)
    if len(items) == 2 and all(np.isscalar(v) for v in items):
        return [float(items[0]), float(items[1])]
    return [[float(r[0]), float(r[1])] for r in items]


def _physical_from_json(value: Any) -> PhysicalRange:
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): (float(v[0]), float(v[1])) for k, v in value.items()}
    if len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return (float(value[0]), float(value[1]))
    return [(float(r[0]), float(r[1])) for r in value]


def assemble(contents: SpoolContents) -> Recording:
    """Build the :class:`Recording` a spool describes: blocks placed by sample index, gaps zero-filled and annotated."""
    h = contents.header
    names, units, fs = list(h["channel_names"]), list(h["units"]), float(h["fs"])
    meta = dict(h.get("meta") or {})
    meta.update(contents.meta_updates)
    blocks = contents.blocks
    if not blocks:
        return Recording(np.zeros((0, len(names))), fs, names, units, list(contents.annotations), {}, meta)
    origin = blocks[0][0]
    end = max(first + b.shape[0] for first, b in blocks)
    samples = np.zeros((end - origin, len(names)), dtype=np.float64)
    gaps: list[Annotation] = []
    gap_samples = 0
    expected = origin
    for first, b in blocks:
        if first > expected:
            gaps.append(Annotation((expected - origin) / fs, (first - expected) / fs, gap_text(first - expected)))
            gap_samples += first - expected
        samples[first - origin:first - origin + b.shape[0]] = b
        expected = max(expected, first + b.shape[0])
    meta["first_sample_index"] = str(origin)
    meta["gap_count"] = str(len(gaps))
    meta["gap_samples"] = str(gap_samples)
    anns = sorted(gaps + list(contents.annotations), key=lambda a: (a.onset_s, a.duration_s))
    return Recording(samples, fs, names, units, anns, {}, meta)


class RecordingWriter:
    """Record a live stream to BDF+ incrementally; survives link drops and host crashes.

    Args:
        path: the BDF to produce (``*_emg.bdf``); its spool is ``<path>.spool``.
        channel_names, units, fs: the stream's layout.
        physical_range: declared ``(min, max)`` (all channels, per channel, or by
            name), e.g. the AFE's full scale; widened if data exceed it.
        meta: metadata for the recording (task, subject, device, ...).
        overwrite: replace an existing BDF at ``path`` on close.
        fsync_interval_s: fsync the spool at most this often (every record is
            flushed to the OS regardless, which survives a crash of this
            process; fsync also survives power loss); 0 = fsync every block,
            negative = never.
        max_gap_s: a jump in the sample counter longer than this is refused
            (``ValueError``) as a corrupt counter rather than zero-filled.

    Raises:
        FileExistsError: a spool for ``path`` already exists (recover it first), or
            ``path`` exists and ``overwrite`` is false.
    """

    def __init__(self, path: str | Path, channel_names: Sequence[str], units: Sequence[str], fs: float,
                 physical_range: PhysicalRange = None, *, meta: dict[str, str] | None = None,
                 overwrite: bool = False, fsync_interval_s: float = 1.0, max_gap_s: float = 60.0) -> None:
        self.path = Path(path)
        self.channel_names = [str(c) for c in channel_names]
        self.units = [str(u) for u in units]
        self.fs = float(fs)
        if len(self.units) != len(self.channel_names):
            raise ValueError(f"{len(self.units)} units for {len(self.channel_names)} channels")
        if not self.fs > 0:
            raise ValueError(f"fs must be positive, got {fs}")
        # validate the layout once, up front, rather than at close()
        Recording(np.zeros((1, len(self.channel_names))), self.fs, self.channel_names, self.units)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists (pass overwrite=True to replace it)")
        self.physical_range = physical_range
        self.max_gap = int(round(max_gap_s * self.fs))
        self.spool_path = spool_path_for(self.path)
        header = {
            "version": 1,
            "target": self.path.name,
            "channel_names": self.channel_names,
            "units": self.units,
            "fs": self.fs,
            "physical_range": _physical_to_json(physical_range),
            "meta": {str(k): str(v) for k, v in (meta or {}).items()},
        }
        try:
            self._spool = SpoolWriter(self.spool_path, header, fsync_interval_s)
        except FileExistsError:
            raise FileExistsError(
                f"{self.spool_path} exists: an earlier recording was not closed; run recover_spool() on it first"
            ) from None
        self._lock = threading.Lock()
        self._origin: int | None = None
        self._next: int | None = None
        self._n_received = 0
        self._gaps: list[tuple[int, int]] = []
        self._closed = False
        self._finished = False
        self._result: Path | None = None

    # -- state ---------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        """Samples in the recording so far, gap fill included."""
        return 0 if self._origin is None or self._next is None else self._next - self._origin

    @property
    def n_received(self) -> int:
        """Samples actually received (gap fill excluded)."""
        return self._n_received

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """``(first missing sample offset, count)`` of every gap so far, offsets from the first sample."""
        return list(self._gaps)

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    # -- input ---------------------------------------------------------------------
    def append(self, block: np.ndarray, first_index: int) -> None:
        """Add ``block`` (``(n, n_channels)``) whose first sample has device index ``first_index``.

        A ``first_index`` beyond the next expected index records a gap. Raises
        ``ValueError`` (and stores nothing) for a wrong shape, non-finite values,
        overlap with samples already written, or a gap longer than ``max_gap_s``.
        """
        arr = np.asarray(block, dtype=np.float64)
        if arr.ndim == 1 and len(self.channel_names) == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != len(self.channel_names):
            raise ValueError(f"block shape {arr.shape}; expected (n, {len(self.channel_names)})")
        if not np.isfinite(arr).all():
            raise ValueError("block holds NaN or inf")
        first_index = int(first_index)
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path}: recorder is closed")
            if arr.shape[0] == 0:
                return
            if self._next is not None:
                if first_index < self._next:
                    raise ValueError(
                        f"block starts at sample {first_index}, but samples up to {self._next - 1} are written "
                        "(counter went backwards: reset or wrap not unwrapped?)"
                    )
                missing = first_index - self._next
                if missing > self.max_gap:
                    raise ValueError(f"gap of {missing} samples exceeds max_gap_s; counter corrupt?")
            self._spool.write_block(first_index, arr)
            if self._origin is None or self._next is None:
                self._origin = first_index
                self._spool.write_meta({"start_time": datetime.now(timezone.utc).isoformat(timespec="milliseconds")})
            elif first_index > self._next:
                missing = first_index - self._next
                self._gaps.append((self._next - self._origin, missing))
                log.warning("%s: %d samples lost at sample %d", self.path.name, missing, self._next)
            self._next = first_index + arr.shape[0]
            self._n_received += arr.shape[0]

    def annotate(self, onset_s: float, duration_s: float, text: str) -> None:
        """Add an annotation, ``onset_s`` seconds after the first sample (text at most 40 bytes)."""
        ann = Annotation(float(onset_s), float(duration_s), str(text))
        check_annotation_text(ann.text)
        if ann.onset_s < 0:
            raise ValueError("annotation onset must be >= 0")
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path}: recorder is closed")
            self._spool.write_annotation(ann)

    # -- output --------------------------------------------------------------------
    def close(self) -> Path | None:
        """Write the BDF+ (atomically, with sidecars) and remove the spool.

        Returns the BDF path, or None if no sample was received (then no file is
        written and the spool is removed). Calling it again returns the same. If
        writing fails the spool stays, for :func:`recover_spool`.
        """
        with self._lock:
            if self._finished:
                return self._result
            self._closed = True
            self._spool.close()
            self._result = _finish(self.spool_path, self.path, recovered=False)
            self._finished = True
            return self._result

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Save what was received even when the stream ended with an exception.
        self.close()


def _finish(spool: Path, target: Path, *, recovered: bool) -> Path | None:
    contents = read_spool(spool)
    if contents.torn_bytes:
        log.warning("%s: ignored %d bytes of a torn final record", spool, contents.torn_bytes)
    rec = assemble(contents)
    if rec.n_samples == 0:
        log.warning("%s: no samples received; nothing written", spool)
        spool.unlink()
        return None
    if recovered:
        rec.meta["recovered_from_spool"] = "true"
        if contents.torn_bytes:
            rec.meta["torn_spool_bytes"] = str(contents.torn_bytes)
    write_bdf(rec, target, physical_range=_physical_from_json(contents.header.get("physical_range")))
    spool.unlink()
    return target


def recover_spool(path: str | Path, target: str | Path | None = None) -> Path | None:
    """Rebuild the BDF+ (with sidecars) of a recording whose writer never closed, then remove the spool.

    Args:
        path: the spool (``*.bdf.spool``) or the BDF path it was recording to.
        target: where to write; default is the path the writer was given (beside
            the spool).

    Returns:
        The BDF path, or None if the spool holds no samples (the spool is removed).

    Raises:
        FileNotFoundError: no spool.
        RecordingFormatError: the spool's header is damaged (nothing can be rebuilt).
    """
    spool = spool_path_for(path)
    if not spool.exists():
        raise FileNotFoundError(spool)
    if target is None:
        header = read_spool(spool).header
        name = str(header.get("target") or spool.name[: -len(".spool")])
        if Path(name).name != name:
            raise RecordingFormatError(spool, f"invalid target name {name!r} in spool header")
        target = spool.with_name(name)
    return _finish(spool, Path(target), recovered=True)
