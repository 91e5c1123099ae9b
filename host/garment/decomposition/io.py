"""Reading grid recordings (BDF/EDF with the layout in the labels or a sidecar) and writing results."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from garment.phantom.hd_grid import GridLayout
from garment.recordings.atomic import atomic_write_text

from .decompose import Decomposition
from .preprocess import DecompositionInputError

_TO_UV = {"uv": 1.0, "µv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}


@dataclass
class GridRecording:
    """Monopolar grid EMG ready for decomposition: ``emg`` (n, E) microvolts in layout order."""

    emg: np.ndarray
    fs: float
    layout: GridLayout
    labels: list[str]
    path: Path


def _sidecar(path: Path) -> dict[str, Any] | None:
    p = path.with_name(path.stem + "_grid.json")
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text())
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError) as e:
        raise DecompositionInputError(f"{p}: not a grid description ({e})") from e


def load_grid_recording(path: str | Path) -> GridRecording:
    """Read a BDF/EDF recording of a monopolar grid.

    The grid comes from channel labels ``R<row>C<col>`` or from ``<stem>_grid.json`` (``labels``:
    the grid label of each recording channel in order, or ``channels`` + ``rows``/``cols``;
    ``ied_mm``).  Channels that are not part of the grid (e.g. an accelerometer) are left out.

    Raises:
        FileNotFoundError: no such file.
        DecompositionInputError: no grid layout, unknown units.
    """
    from garment.recordings.edf import read_edf
    from garment.recordings.errors import RecordingFormatError

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        rec = read_edf(path, with_truth=False)
    except RecordingFormatError as e:
        raise DecompositionInputError(str(e)) from e
    side = _sidecar(path)
    ied = float((side or {}).get("ied_mm", rec.meta.get("grid_ied_mm", 8.0)))
    names = list(rec.channel_names)
    if side and isinstance(side.get("labels"), list) and len(side["labels"]) == len(names) and not side.get("channels"):
        grid_labels = [str(x) for x in side["labels"]]
        cols = list(range(len(names)))
    else:
        picked = [(i, n) for i, n in enumerate(names) if GridLayout.is_label(n)]
        if side and isinstance(side.get("channels"), list):
            want = {str(c): str(g) for c, g in zip(side["channels"], side.get("labels", []))}
            picked = [(i, want[n]) for i, n in enumerate(names) if n in want]
        if not picked:
            raise DecompositionInputError(
                f"{path}: no grid layout: channel labels are not R<row>C<col> (e.g. R01C02) and there is no "
                f"{path.stem}_grid.json beside it")
        cols = [i for i, _ in picked]
        grid_labels = [g for _, g in picked]
    try:
        layout, order = GridLayout.from_labels(grid_labels, ied)
    except ValueError as e:
        raise DecompositionInputError(f"{path}: {e}") from e
    sel = [cols[k] for k in order]
    scale = []
    for i in sel:
        u = rec.units[i].strip().lower()
        if u not in _TO_UV:
            raise DecompositionInputError(f"{path}: channel {names[i]} is in {rec.units[i]!r}; expected uV, mV or V")
        scale.append(_TO_UV[u])
    emg = rec.samples[:, sel] * np.asarray(scale)[None, :]
    return GridRecording(emg, rec.fs, layout, layout.labels(), path)


def write_tsv(dec: Decomposition, path: Path) -> Path:
    """One row per discharge: ``unit  sample  onset_s`` (tab-separated, header first)."""
    lines = ["unit\tsample\tonset_s"]
    for k, u in enumerate(dec.units):
        lines += [f"{k}\t{int(s)}\t{s / dec.fs:.6f}" for s in u.discharges]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def summary(dec: Decomposition, recording: str) -> dict[str, Any]:
    """Per-recording summary: units, seconds, sil per unit."""
    return {"recording": recording, "units": len(dec.units), "seconds": round(dec.seconds, 3),
            "sil": [round(u.sil, 4) for u in dec.units], "extension": dec.extension}


def write_json(dec: Decomposition, path: Path, recording: str) -> Path:
    """Every unit: sil, pnr, discharges, mean rate, CoV of ISI, MUAP (L x E uV), separation filter."""
    doc = summary(dec, recording)
    doc.update({"fs": dec.fs, "n_samples": dec.n_samples, "channels": dec.labels, "muap_offset": dec.muap_offset,
                "stats": dec.stats})
    doc["motor_units"] = [
        {"unit": k, "sil": round(u.sil, 4), "pnr_db": round(u.pnr, 2), "mean_rate_hz": round(u.mean_rate, 3),
         "cov_isi": round(u.cov_isi, 4), "discharges": [int(s) for s in u.discharges],
         "muap_uV": np.round(u.muap, 2).tolist(), "filter": np.round(u.filter, 6).tolist(),
         "properties": {k2: round(float(v), 3) for k2, v in u.properties.items()}}
        for k, u in enumerate(dec.units)]
    return atomic_write_text(path, json.dumps(doc))
