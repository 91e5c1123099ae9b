"""CSV read/write: one header row of channel names, a ``time_s`` column, one row per sample.

Format written by :func:`write_csv`::

    time_s,RF [mV],BF [mV],FX [deg],label
    0,0.0007,-0.0083,57.6,mar
    0.001,-0.0008,-0.0038,57.5,mar

Units in brackets and the ``label`` column (from :meth:`Recording.labels_per_sample`)
are optional on both sides. Values are written with 17 significant digits, so a
float64 recording survives a round trip unchanged. :func:`read_csv` infers ``fs``
from the time column (and checks it is uniform) or takes it as an argument.
Annotations other than per-sample labels, truth and meta are not stored in CSV:
use BDF+ for archival.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from .atomic import atomic_write_text
from .errors import RecordingFormatError
from .model import Annotation, Recording

TIME_COLUMN = "time_s"
LABEL_COLUMN = "label"
_UNIT_RE = re.compile(r"^(?P<name>.*?)\s*\[(?P<unit>[^\]]*)\]\s*$")


def write_csv(rec: Recording, path: str | Path, *, units_in_header: bool = True,
              labels: bool = False, time_column: bool = True) -> Path:
    """Write ``rec`` as CSV at ``path`` (atomically).

    Args:
        units_in_header: write ``RF [mV]`` instead of ``RF``.
        labels: add a ``label`` column from :meth:`Recording.labels_per_sample`.
        time_column: add the ``time_s`` column (``index / fs``).
    """
    header = [TIME_COLUMN] if time_column else []
    header += [f"{n} [{u}]" if units_in_header and u else n for n, u in zip(rec.channel_names, rec.units)]
    cols = [rec.times()] if time_column else []
    cols += [rec.samples[:, i] for i in range(rec.n_channels)]
    table = np.column_stack(cols) if cols else np.empty((rec.n_samples, 0))
    buf = io.StringIO()
    if labels:
        header.append(LABEL_COLUMN)
        lab = rec.labels_per_sample()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for row, l in zip(table, lab):
            w.writerow([format(v, ".17g") for v in row] + [str(l)])
    else:
        buf.write(",".join(header) + "\n")
        np.savetxt(buf, table, fmt="%.17g", delimiter=",")
    return atomic_write_text(path, buf.getvalue())


def _runs_to_annotations(labels: list[str], fs: float) -> list[Annotation]:
    anns: list[Annotation] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            if labels[start]:
                anns.append(Annotation(start / fs, (i - start) / fs, labels[start]))
            start = i
    return anns


def read_csv(path: str | Path, fs: float | None = None, *, units: list[str] | None = None,
             time_tolerance: float = 0.01) -> Recording:
    """Read a CSV written by :func:`write_csv` (or any CSV with a header row of channel names).

    Args:
        path: the file.
        fs: sampling rate; required when there is no ``time_s`` column, otherwise
            checked against the rate inferred from it.
        units: units per channel when the header does not carry them (``[mV]``).
        time_tolerance: largest allowed deviation of a time step from ``1/fs``, as a
            fraction of ``1/fs``.

    Raises:
        RecordingFormatError: no header, ragged or non-numeric rows (naming the
            line), non-uniform time column, or no way to know ``fs``.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not any(c.strip() for c in rows[0]):
        raise RecordingFormatError(path, "missing header row", line=1)
    header = [c.strip() for c in rows[0]]
    time_idx = header.index(TIME_COLUMN) if TIME_COLUMN in header else None
    label_idx = header.index(LABEL_COLUMN) if LABEL_COLUMN in header else None
    data_idx = [i for i in range(len(header)) if i not in (time_idx, label_idx)]
    names, found_units = [], []
    for i in data_idx:
        m = _UNIT_RE.match(header[i])
        names.append(m["name"] if m else header[i])
        found_units.append(m["unit"] if m else "")
    if units is not None:
        if len(units) != len(names):
            raise ValueError(f"{len(units)} units for {len(names)} channels")
        found_units = list(units)

    body = [(ln, r) for ln, r in enumerate(rows[1:], start=2) if r and any(c.strip() for c in r)]
    values = np.empty((len(body), len(header) - (label_idx is not None)), dtype=np.float64)
    numeric_idx = [i for i in range(len(header)) if i != label_idx]
    labels: list[str] = []
    for k, (ln, r) in enumerate(body):
        if len(r) != len(header):
            raise RecordingFormatError(path, f"{len(r)} fields, header has {len(header)}", line=ln)
        for j, i in enumerate(numeric_idx):
            try:
                values[k, j] = float(r[i])
            except ValueError:
                raise RecordingFormatError(path, f"non-numeric value {r[i]!r} in column {header[i]!r}", line=ln) from None
        if label_idx is not None:
            labels.append(r[label_idx].strip())
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        raise RecordingFormatError(path, "NaN or infinite value", line=body[bad][0])

    if time_idx is not None:
        t = values[:, numeric_idx.index(time_idx)]
        if len(t) < 2:
            if fs is None:
                raise RecordingFormatError(path, "cannot infer fs from fewer than 2 rows; pass fs")
        else:
            dt = np.diff(t)
            step = float(np.median(dt))
            if not step > 0:
                raise RecordingFormatError(path, "time column is not increasing")
            worst = int(np.argmax(np.abs(dt - step)))
            if abs(dt[worst] - step) > time_tolerance * step:
                raise RecordingFormatError(
                    path, f"time column is not uniform: step {dt[worst]:.6g} s vs median {step:.6g} s",
                    line=body[worst + 1][0])
            inferred = (len(t) - 1) / (t[-1] - t[0])
            if fs is None:
                fs = float(round(inferred, 6))
            elif abs(inferred - fs) > time_tolerance * fs:
                raise RecordingFormatError(path, f"time column implies {inferred:.6g} Hz, but fs={fs} was given")
    if fs is None:
        raise RecordingFormatError(path, f"no {TIME_COLUMN!r} column; pass fs")
    cols = [numeric_idx.index(i) for i in data_idx]
    samples = values[:, cols]
    anns = _runs_to_annotations(labels, fs) if label_idx is not None else []
    return Recording(samples=samples, fs=fs, channel_names=names, units=found_units,
                     annotations=anns, meta={"source_file": path.name})
