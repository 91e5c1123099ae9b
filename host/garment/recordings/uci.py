"""Loader for the UCI "EMG dataset in Lower Limb" text files, exactly as published.

File name ``{subject}{N|A}{mar|pie|sen}.txt`` (``N_TXT/`` healthy knees, ``A_TXT/``
knee abnormality). Biometrics DataLOG MWX8, 1000 Hz, 14-bit. Quirks handled (found
by inspecting every file of subjects 1-7 in both groups):

* **Header**: 7 lines (``File Name: ...``, one ``Channel k: 'name', N values,
  engineering units: U, ...`` line per channel, a blank line), CRLF, latin-1. The
  parser takes every line before the first tab-separated numeric row as header, so
  an 8-line header (an extra channel or note line) is fine. Line ends are split
  universally (CRLF, LF or a bare CR).
* **Channel names**: English (``RF``, ``BF``, ``VM``, ``ST``, ``FX``; channels 1-5)
  in most ``N`` files; Spanish in all ``A`` files and ``7Nmar`` (``Recto Femoral``,
  ``Biceps Femoral``, ``Vasto Medial``, ``EMG Semitendinoso``,
  ``Flexo-Extension``; numbered channels 4-8). Names are matched after removing
  accents and case, so ``Flexo-Extensión`` works too.
* **Extra columns**: a declared channel that is not one of the five (e.g. a digital
  input) and any undeclared trailing column are ignored; their names/count go to
  ``meta['ignored_columns']``. (No file of subjects 1-7 has one; the data README
  mentions it, so it is handled and tested on synthetic files.)
* **Angle-only tail**: in the ``N`` files the goniometer (50 Hz) was
  "extrapolated" to 1000 Hz in blocks of 20 (header: ``FX, 285 values`` for 5681
  EMG values), so the angle column runs on for 16-21 rows after the EMG stops
  (``\\t\\t\\t\\t7.5``); those rows are dropped. One of them in ``1Nmar`` reads
  ``7.5V``: dropped rows are not parsed. In the Spanish-header files (all ``A``,
  ``7Nmar``) the angle is declared at the full count and has no such tail.
* **Last EMG row without angle** (``4Nsen``, ``7Npie``): the missing angle is held
  from the previous sample (gaps of up to 20 angle samples, one 50 Hz period, are
  filled by linear interpolation / hold; longer ones are an error).
* **Trailing empty row** ``\\t\\t\\t\\t`` at the end of every file: dropped.
* **Missing values inside the EMG**: none occur in the published files, so they
  are rejected (a :class:`RecordingFormatError` naming file and line) rather than
  interpolated: inventing EMG would silently corrupt training data.
* **Truncation**: the header states the number of values per EMG channel; a file
  with fewer (or more) EMG rows than declared is rejected, naming the last line.
* **Angle convention**: the goniometer's sign and zero differ between files (e.g.
  ``1Apie`` runs -113..-3 deg, ``2Apie`` 2..89 deg; ``3N*``, ``4N*``, ``6N*`` are
  negative too). Kept as published; normalise per file if a model needs it.
* **Duplicates**: ``2Npie``/``2Nsen`` carry exactly the samples of
  ``1Npie``/``1Nsen`` (only the header's file name differs). ``meta
  ['content_sha256']`` lets callers detect this (see :func:`import_uci`).
"""
from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from pathlib import Path

import numpy as np

from .errors import RecordingFormatError
from .model import Annotation, Recording

UCI_FS = 1000.0
EMG_CHANNELS = ("RF", "BF", "VM", "ST")
ANGLE_CHANNEL = "FX"
UCI_CHANNELS = EMG_CHANNELS + (ANGLE_CHANNEL,)

EXERCISES = {
    "mar": "gait (walking)",
    "pie": "knee flexion, standing",
    "sen": "leg extension from sitting",
}
GROUPS = {"N": "healthy knee", "A": "knee abnormality"}
MUSCLES = {
    "RF": "rectus femoris",
    "BF": "biceps femoris",
    "VM": "vastus medialis",
    "ST": "semitendinosus",
}

#: Longest run of missing angle values that is filled (one 50 Hz goniometer period).
MAX_ANGLE_FILL = 20

_ALIASES = {
    "rf": "RF", "recto femoral": "RF", "rectus femoris": "RF",
    "bf": "BF", "biceps femoral": "BF", "biceps femoris": "BF",
    "vm": "VM", "vasto medial": "VM", "vastus medialis": "VM", "vasto interno": "VM", "vastus internus": "VM",
    "st": "ST", "semitendinoso": "ST", "semitendinosus": "ST",
    "fx": "FX", "flexo extension": "FX", "flexoextension": "FX", "knee flexion": "FX", "flexion": "FX",
}
_UNIT_SCALE = {"mv": 1.0, "v": 1000.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3}
_ANGLE_UNITS = ("deg", "degree", "degrees", "°", "grados")
log = logging.getLogger(__name__)


def _unit_kind(unit: str) -> str:
    """'emg' (a voltage), 'angle', or 'other' for a header's engineering unit."""
    u = unit.strip().lower()
    if u in _UNIT_SCALE:
        return "emg"
    if u in _ANGLE_UNITS:
        return "angle"
    return "other"


def identify_channels(declared: list[tuple[str, str | None, str]]) -> tuple[dict[str, int], list[str], list[str]]:
    """Which declared column is which of RF, BF, VM, ST, FX: by name, unit and position.

    ``declared``: (header name, canonical name or None, unit) per column, in order.
    A known name decides (its unit must fit: a voltage for EMG, degrees for FX). A
    name outside the alias table is identified by its unit and position: the only
    angle column after the EMG is FX; among exactly four voltage columns that follow
    the published order (RF, BF, VM, ST) the k-th is the k-th muscle. Each such column
    gives a warning. Returns (positions, warnings, ignored columns); raises ValueError
    when the channels cannot be identified.
    """
    pos: dict[str, int] = {}
    warns: list[str] = []
    for col, (name, canon, unit) in enumerate(declared):
        if canon is None:
            continue
        if canon in pos:
            raise ValueError(f"channel {canon} declared twice")
        kind = _unit_kind(unit) if unit else ("angle" if canon == ANGLE_CHANNEL else "emg")
        want = "angle" if canon == ANGLE_CHANNEL else "emg"
        if kind != want:
            raise ValueError(f"channel {col + 1} {name!r} is named {canon} but its unit is {unit!r}")
        pos[canon] = col
    unknown = [col for col, d in enumerate(declared) if d[1] is None]
    volt = [col for col, d in enumerate(declared) if d[2] and _unit_kind(d[2]) == "emg"]
    for col in unknown:
        name, _, unit = declared[col]
        kind = _unit_kind(unit) if unit else "other"
        guess = None
        if kind == "angle" and ANGLE_CHANNEL not in pos:
            angles = [c for c in unknown if declared[c][2] and _unit_kind(declared[c][2]) == "angle"]
            emg_cols = [pos[c] for c in EMG_CHANNELS if c in pos] + [c for c in volt if declared[c][1] is None]
            if len(angles) == 1 and (not emg_cols or col > max(emg_cols)):
                guess = ANGLE_CHANNEL
        elif kind == "emg" and len(volt) == len(EMG_CHANNELS):
            k = volt.index(col)
            in_order = all(volt.index(pos[c]) == i for i, c in enumerate(EMG_CHANNELS) if c in pos)
            angle_cols = [c for c, d in enumerate(declared) if (d[2] and _unit_kind(d[2]) == "angle")
                          or d[1] == ANGLE_CHANNEL]
            in_order = in_order and bool(angle_cols) and min(angle_cols) > max(volt)  # the published layout
            if in_order and EMG_CHANNELS[k] not in pos:
                guess = EMG_CHANNELS[k]
        if guess is not None:
            pos[guess] = col
            warns.append(f"channel {col + 1} {name!r} ({unit}) is not a known name: taken as {guess} by its unit "
                         f"and position")
    missing = [c for c in UCI_CHANNELS if c not in pos]
    if missing:
        unk = [f"{c + 1}:{declared[c][0]!r} ({declared[c][2] or 'no unit'})" for c in unknown if c not in pos.values()]
        raise ValueError(f"header lacks channel(s) {missing}; declared {[d[0] for d in declared]}"
                         + (f"; unidentified: {', '.join(unk)}" if unk else ""))
    ignored = [f"{c}:{declared[c][0]}" for c in range(len(declared)) if c not in pos.values()]
    return pos, warns, ignored

_NAME_RE = re.compile(r"^(?P<subject>\d+)(?P<group>[NA])(?P<exercise>mar|pie|sen)\.txt$", re.IGNORECASE)
_CHANNEL_RE = re.compile(
    r"^\s*Channel\s+(?P<num>\d+)\s*:\s*'(?P<name>[^']*)'\s*,\s*(?P<count>\d+)\s+values"
    r"(?:\s*,\s*engineering units\s*:\s*(?P<unit>[^,]*))?(?P<rest>.*)$",
    re.IGNORECASE,
)


def canonical_channel(name: str) -> str | None:
    """Map a channel name from a UCI header (English or Spanish) to RF/BF/VM/ST/FX, else None."""
    s = unicodedata.normalize("NFKD", name)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    s = re.sub(r"[-_]+", " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    if s.startswith("emg "):
        s = s[4:]
    return _ALIASES.get(s)


def parse_uci_name(path: str | Path) -> tuple[str, str, str]:
    """``(subject, group, exercise)`` from a file name like ``1Nmar.txt``."""
    m = _NAME_RE.match(Path(path).name)
    if not m:
        raise RecordingFormatError(path, "file name is not {subject}{N|A}{mar|pie|sen}.txt")
    return m["subject"], m["group"].upper(), m["exercise"].lower()


def bids_subject(subject: str, group: str) -> str:
    """BIDS subject label for a UCI file: ``('1', 'N') -> '01N'``."""
    return f"{int(subject):02d}{group}"


def _is_data_line(line: str) -> bool:
    if "\t" not in line:
        return False
    for cell in line.split("\t"):
        cell = cell.strip()
        if cell:
            try:
                float(cell)
            except ValueError:
                return False
            return True
    return False


_Parsed = tuple[np.ndarray, int, int, int, int]  # data, missing angles, tail rows, extra columns, last EMG line


def _emg_complete(line: str, emg_pos: list[int]) -> bool:
    cells = line.split("\t")
    return all(p < len(cells) and cells[p].strip() for p in emg_pos)


def _parse_fast(lines: list[str], first: int, emg_pos: list[int], fx_pos: int, n_cols: int,
                scale: list[float]) -> _Parsed | None:
    """numpy's parser over the EMG rows; None if any row is irregular (then the careful parser runs)."""
    last = len(lines) - 1
    while last >= first and not _emg_complete(lines[last], emg_pos):
        last -= 1
    if last < first:
        return None
    body = lines[first:last + 1]
    try:
        data = np.loadtxt(body, delimiter="\t", usecols=emg_pos + [fx_pos], ndmin=2, dtype=np.float64,
                          comments=None)
    except ValueError:
        return None
    if data.shape[0] != len(body) or not np.isfinite(data).all():
        return None
    data *= np.asarray(scale)
    extra = max(line.count("\t") for line in body) + 1 - n_cols
    return data, 0, len(lines) - 1 - last, max(0, extra), last + 1


def _parse_careful(path: Path, lines: list[str], first_data: int, emg_pos: list[int], fx_pos: int,
                   n_declared_cols: int, scale: list[float]) -> _Parsed:
    """Row-by-row parse that accepts the published quirks and names the line of anything else."""
    n_lines = len(lines)
    data = np.empty((n_lines - first_data, 5), dtype=np.float64)
    n_fx_missing = 0
    n = 0
    extra_cols = 0
    tail_start_line: int | None = None  # first line (1-based) without complete EMG
    tail_rows = 0
    last_line = first_data
    for i in range(first_data, n_lines):
        line = lines[i]
        lineno = i + 1
        cells = line.split("\t")
        if len(cells) > n_declared_cols:
            extra_cols = max(extra_cols, len(cells) - n_declared_cols)
        emg_cells = [cells[p].strip() if p < len(cells) else "" for p in emg_pos]
        if not all(emg_cells):
            # No (or partial) EMG: allowed only in the tail after the last EMG row.
            if tail_start_line is None:
                tail_start_line = lineno
            tail_rows += 1
            continue
        if tail_start_line is not None:
            raise RecordingFormatError(
                path,
                f"missing EMG values inside the recording (row at line {tail_start_line} has "
                f"no complete EMG, but EMG continues here); refusing to invent EMG",
                line=lineno,
            )
        row = data[n]
        for k, (p, cell) in enumerate(zip(emg_pos, emg_cells)):
            try:
                row[k] = float(cell) * scale[k]
            except ValueError:
                raise RecordingFormatError(
                    path, f"non-numeric value {cell!r} in column {p + 1} ({EMG_CHANNELS[k]})", line=lineno
                ) from None
        fx = cells[fx_pos].strip() if fx_pos < len(cells) else ""
        if fx:
            try:
                row[4] = float(fx)
            except ValueError:
                raise RecordingFormatError(path, f"non-numeric angle {fx!r} in column {fx_pos + 1}", line=lineno) from None
        else:
            row[4] = np.nan
            n_fx_missing += 1
        n += 1
        last_line = lineno
    return data[:n], n_fx_missing, tail_rows, extra_cols, last_line


def load_uci(path: str | Path, fs: float = UCI_FS) -> Recording:
    """Load one UCI lower-limb text file as a :class:`Recording`.

    Channels are ``RF, BF, VM, ST`` in mV and ``FX`` (knee angle) in degrees, at
    ``fs`` (1000 Hz). One annotation spans the whole file with the exercise label
    (``mar``, ``pie`` or ``sen``). ``meta`` holds ``subject``, ``group`` (``N``/``A``),
    ``exercise``, ``source_file`` and provenance; see the module docstring for how
    each quirk of the published files is handled.

    Raises:
        RecordingFormatError: malformed, truncated, or missing values inside the EMG
            (the message names the file and line).
    """
    path = Path(path)
    subject, group, exercise = parse_uci_name(path)
    raw = path.read_bytes()
    text = raw.decode("latin-1")
    lines = text.splitlines()  # handles CRLF, bare CR and LF alike

    # ---- header ---------------------------------------------------------------
    first_data = None
    for i, line in enumerate(lines[:50]):
        if _is_data_line(line):
            first_data = i
            break
    if first_data is None:
        raise RecordingFormatError(path, "no tab-separated numeric data found in the first 50 lines", line=min(len(lines), 50) or None)
    header = lines[:first_data]
    declared: list[tuple[str, str | None, int, str, str]] = []  # (raw name, canonical, count, unit, rest)
    original_log = ""
    extra_header: list[str] = []
    for ln, line in enumerate(header, start=1):
        s = line.strip()
        if not s:
            continue
        m = _CHANNEL_RE.match(s)
        if m:
            unit = (m["unit"] or "").strip()
            declared.append((m["name"], canonical_channel(m["name"]), int(m["count"]), unit, m["rest"] or ""))
        elif s.lower().startswith("file name:"):
            original_log = s.split(":", 1)[1].strip()
        elif s.lower().startswith("channel"):
            raise RecordingFormatError(path, f"unreadable channel declaration {s!r}", line=ln)
        else:
            extra_header.append(s)
    if not declared:
        raise RecordingFormatError(path, "header declares no channels", line=first_data)
    try:
        positions, id_warnings, ignored = identify_channels([(d[0], d[1], d[3]) for d in declared])
    except ValueError as e:
        raise RecordingFormatError(path, str(e)) from None
    for w in id_warnings:
        log.warning("%s: %s", path.name, w)
    scale: list[float] = []
    for c in UCI_CHANNELS:
        unit = declared[positions[c]][3]
        if c == ANGLE_CHANNEL:
            if unit and unit.lower() not in ("deg", "degree", "degrees", "°"):
                raise RecordingFormatError(path, f"angle channel in unexpected unit {unit!r}")
            scale.append(1.0)
        else:
            factor = _UNIT_SCALE.get(unit.lower()) if unit else 1.0
            if factor is None:
                raise RecordingFormatError(path, f"EMG channel {c} in unexpected unit {unit!r}")
            scale.append(factor)
    emg_counts = {declared[positions[c]][2] for c in EMG_CHANNELS}
    n_declared_cols = len(declared)

    # ---- data -----------------------------------------------------------------
    emg_pos = [positions[c] for c in EMG_CHANNELS]
    fx_pos = positions[ANGLE_CHANNEL]
    parsed = _parse_fast(lines, first_data, emg_pos, fx_pos, n_declared_cols, scale)
    if parsed is None:  # a quirk in the rows: the careful parser handles it or names the line
        parsed = _parse_careful(path, lines, first_data, emg_pos, fx_pos, n_declared_cols, scale)
    data, n_fx_missing, tail_rows, extra_cols, last_line = parsed
    n = data.shape[0]
    if n == 0:
        raise RecordingFormatError(path, "no EMG rows", line=first_data + 1)
    if len(emg_counts) == 1:
        (expected,) = emg_counts
        if expected != n:
            what = "truncated" if n < expected else "longer than declared"
            raise RecordingFormatError(
                path, f"file is {what}: header declares {expected} EMG values per channel, found {n} complete EMG rows",
                line=last_line,
            )

    # ---- fill short angle gaps ---------------------------------------------------
    if n_fx_missing:
        fx = data[:, 4]
        miss = np.isnan(fx)
        runs = np.diff(np.concatenate(([0], miss.astype(np.int8), [0])))
        starts, stops = np.flatnonzero(runs == 1), np.flatnonzero(runs == -1)
        longest = int((stops - starts).max())
        if longest > MAX_ANGLE_FILL or miss.all():
            bad = int(starts[np.argmax(stops - starts)])
            raise RecordingFormatError(
                path, f"{longest} consecutive rows without a knee angle (max {MAX_ANGLE_FILL} are filled)",
                line=first_data + 1 + bad,
            )
        good = np.flatnonzero(~miss)
        fx[miss] = np.interp(np.flatnonzero(miss), good, fx[good])  # holds at the ends

    samples = np.ascontiguousarray(data)
    digest = hashlib.sha256(samples.tobytes()).hexdigest()
    fx_decl = declared[fx_pos]
    meta = {
        "dataset": "UCI EMG dataset in Lower Limb",
        "license": "CC BY 4.0",
        "subject": subject,
        "group": group,
        "group_description": GROUPS[group],
        "exercise": exercise,
        "exercise_description": EXERCISES[exercise],
        "task": exercise,
        "bids_subject": bids_subject(subject, group),
        "source_file": path.name,
        "original_log_name": original_log,
        "manufacturer": "Biometrics",
        "manufacturers_model_name": "DataLOG MWX8",
        "adc_bits": "14",
        "power_line_hz": "60",  # recorded in Colombia
        "emg_reference": "bipolar (Biometrics differential surface sensors)",
        "emg_placement_scheme": "Other",
        "emg_placement_description": "rectus femoris, biceps femoris, vastus medialis (vastus internus), semitendinosus; knee goniometer",
        "software_filters": "n/a",
        "channel_type.FX": "MISC",
        "description.FX": "knee flexion angle (goniometer)",
        "header_channel_names": ";".join(d[0] for d in declared),
        "content_sha256": digest,
        "dropped_tail_rows": str(tail_rows),
        "filled_angle_samples": str(n_fx_missing),
    }
    for ch, muscle in MUSCLES.items():
        meta[f"target_muscle.{ch}"] = muscle
    if "from 50" in fx_decl[4]:
        meta["angle_native_fs"] = "50"
    if id_warnings:
        meta["channel_warnings"] = " | ".join(id_warnings)
    if ignored or extra_cols:
        meta["ignored_columns"] = ";".join(ignored + [f"{n_declared_cols + k}:undeclared" for k in range(extra_cols)])
    if extra_header:
        meta["extra_header"] = " | ".join(extra_header)
    duration = n / fs
    return Recording(
        samples=samples,
        fs=fs,
        channel_names=list(UCI_CHANNELS),
        units=["mV"] * 4 + ["deg"],
        annotations=[Annotation(0.0, duration, exercise)],
        truth={},
        meta=meta,
    )
