"""The on-disk spool of a live recording: an append-only log of framed, checksummed records.

Layout: the 16-byte magic ``GARMENT-SPOOL-v1``, then records

    type (1 byte) | payload length (uint32 LE) | payload | CRC-32 of the previous fields (uint32 LE)

with types ``H`` (header, JSON: channels, units, fs, physical range, meta, target
name; always first), ``B`` (block: ``int64 first_index, uint32 n, uint32 n_ch``,
then ``n*n_ch`` float64 LE row-major), ``A`` (annotation, JSON) and ``M`` (meta
update, JSON). Each record is flushed to the OS as it is written, so it survives
the death of the host process; a record torn by a crash or power loss fails its
CRC (or is short) and it and anything after it are ignored on reading.
"""
from __future__ import annotations

import json
import os
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import RecordingFormatError
from .model import Annotation

SPOOL_MAGIC = b"GARMENT-SPOOL-v1"
SPOOL_SUFFIX = ".spool"
_FRAME = struct.Struct("<cI")
_CRC = struct.Struct("<I")
_BLOCK = struct.Struct("<qII")
_MAX_PAYLOAD = 1 << 30


def spool_path_for(path: str | Path) -> Path:
    """The spool file of a recording that will be written to ``path`` (``<path>.spool``)."""
    p = Path(path)
    return p if p.name.endswith(SPOOL_SUFFIX) else p.with_name(p.name + SPOOL_SUFFIX)


@dataclass
class SpoolContents:
    """What a spool holds: its header, the blocks and annotations that passed their CRC."""

    header: dict[str, Any]
    blocks: list[tuple[int, np.ndarray]] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    meta_updates: dict[str, str] = field(default_factory=dict)
    torn_bytes: int = 0  #: bytes at the end that did not form a valid record (0 = clean)


class SpoolWriter:
    """Append-only writer of a spool file (created exclusively: an existing spool is never overwritten)."""

    def __init__(self, path: str | Path, header: dict[str, Any], fsync_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: BinaryIO = open(self.path, "xb")
        self._fsync_interval = fsync_interval_s
        self._last_fsync = time.monotonic()
        self._f.write(SPOOL_MAGIC)
        self._record(b"H", json.dumps(header).encode("utf-8"))
        self.sync()

    def _record(self, kind: bytes, payload: bytes) -> None:
        head = _FRAME.pack(kind, len(payload))
        crc = zlib.crc32(payload, zlib.crc32(head))
        self._f.write(head + payload + _CRC.pack(crc))
        self._f.flush()  # in the OS now: survives the death of this process
        if self._fsync_interval >= 0 and time.monotonic() - self._last_fsync >= self._fsync_interval:
            self.sync()

    def write_block(self, first_index: int, block: np.ndarray) -> None:
        """Append one block of samples ``(n, n_ch)`` starting at device sample ``first_index``."""
        data = np.ascontiguousarray(block, dtype="<f8")
        self._record(b"B", _BLOCK.pack(int(first_index), data.shape[0], data.shape[1]) + data.tobytes())

    def write_annotation(self, ann: Annotation) -> None:
        """Append one annotation."""
        self._record(b"A", json.dumps([ann.onset_s, ann.duration_s, ann.text]).encode("utf-8"))

    def write_meta(self, meta: dict[str, str]) -> None:
        """Append metadata updates (merged over the header's meta on reading)."""
        self._record(b"M", json.dumps(meta).encode("utf-8"))

    def sync(self) -> None:
        """Flush and fsync (durable against power loss)."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self._last_fsync = time.monotonic()

    def close(self) -> None:
        """Flush, fsync and close the file (the spool stays on disk)."""
        if not self._f.closed:
            self.sync()
            self._f.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._f.closed


def read_spool(path: str | Path) -> SpoolContents:
    """Read every intact record of a spool; a torn tail is skipped and counted in ``torn_bytes``.

    Raises:
        RecordingFormatError: not a spool, or its header record is damaged.
    """
    path = Path(path)
    raw = path.read_bytes()
    if not raw.startswith(SPOOL_MAGIC):
        raise RecordingFormatError(path, "not a garment spool file (bad magic)")
    pos = len(SPOOL_MAGIC)
    contents: SpoolContents | None = None
    while pos < len(raw):
        if len(raw) - pos < _FRAME.size + _CRC.size:
            break
        kind, length = _FRAME.unpack_from(raw, pos)
        end = pos + _FRAME.size + length
        if length > _MAX_PAYLOAD or end + _CRC.size > len(raw):
            break
        (crc,) = _CRC.unpack_from(raw, end)
        if zlib.crc32(raw[pos:end]) != crc:
            break
        payload = raw[pos + _FRAME.size:end]
        if contents is None:
            if kind != b"H":
                raise RecordingFormatError(path, "spool does not start with a header record")
            contents = SpoolContents(header=json.loads(payload))
        elif kind == b"B":
            first, n, n_ch = _BLOCK.unpack_from(payload)
            data = np.frombuffer(payload, dtype="<f8", offset=_BLOCK.size)
            if data.size != n * n_ch:
                break
            contents.blocks.append((first, data.reshape(n, n_ch).astype(np.float64)))
        elif kind == b"A":
            onset, duration, text = json.loads(payload)
            contents.annotations.append(Annotation(float(onset), float(duration), str(text)))
        elif kind == b"M":
            contents.meta_updates.update({str(k): str(v) for k, v in json.loads(payload).items()})
        pos = end + _CRC.size
    if contents is None:
        raise RecordingFormatError(path, "spool header record is missing or damaged")
    contents.torn_bytes = len(raw) - pos
    return contents


def find_spools(directory: str | Path) -> list[Path]:
    """Spool files left in ``directory`` (e.g. by a crashed session), for :func:`recover_spool`."""
    out = []
    for p in sorted(Path(directory).glob("*" + SPOOL_SUFFIX)):
        try:
            with open(p, "rb") as f:
                if f.read(len(SPOOL_MAGIC)) == SPOOL_MAGIC:
                    out.append(p)
        except OSError:
            continue
    return out
