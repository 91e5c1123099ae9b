"""BDF+ (24-bit) writing and EDF+/BDF+ reading via pyedflib.

* Samples are stored as 24-bit integers (digital range ±8388607). Each channel's
  physical range is a declared range (widened if the data exceed it) or the data
  range (made symmetric about 0 when the data straddle 0, so 0 is exactly code
  0), rounded outwards to a number that the 8-character EDF header field holds
  *exactly*, so the scaling read back is the scaling written and the quantisation
  error is at most half a step: ``(max - min) / (2**24 - 2) / 2`` (about 6e-9 mV
  for a ±0.05 mV channel).
* Annotations (class labels, events, ``GAP n=...``) are EDF+ annotations with
  onset, duration and text (at most 40 bytes UTF-8: an edflib limit). Enough
  annotation signals are reserved for all of them and the count is verified
  after writing.
* The exact sample count is kept: a data-record length that divides the number
  of samples is chosen where one exists (between 0.1 s and 1 s); otherwise the last
  record is padded by repeating the last sample and the true count is stored as
  ``nsamp=<n>`` in the header's recording-additional field, which
  :func:`read_edf` uses to trim.
* Writes are atomic (temp file in the same directory, fsync, ``os.replace``); the
  ground-truth arrays go to ``*_truth.npz`` and the BIDS sidecars beside the file.
"""
from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyedflib

from .atomic import atomic_path
from .bids import read_emg_json, sidecar_paths, write_sidecars
from .errors import RecordingFormatError
from .model import Annotation, Recording

#: Digital range used for every channel: symmetric (one code short of the BDF
#: minimum) so that 0 in a symmetric physical range is exactly code 0 -- zero-filled
#: gaps read back as exact zeros.
BDF_DIGITAL_MIN = -8388607
BDF_DIGITAL_MAX = 8388607
#: edflib keeps at most this many bytes of an annotation's text.
MAX_ANNOTATION_BYTES = 40
#: EDF(+) convention for an unknown/anonymised start date.
UNKNOWN_START = datetime(1985, 1, 1)

PhysicalRange = tuple[float, float] | Sequence[tuple[float, float]] | Mapping[str, tuple[float, float]] | None
_NSAMP_RE = re.compile(r"\bnsamp=(\d+)\b")


# ---------------------------------------------------------------------------------
# header helpers
# ---------------------------------------------------------------------------------
def _edflib_text(val: float) -> str:
    """The 8 characters edflib writes for a header number (it truncates, never rounds)."""
    q = int(val)  # C cast: towards zero
    frac = abs(int((val - q) * 1_000_000_000))
    text = ("-" if val < 0 else "") + str(abs(q))
    if frac:
        text += "." + f"{frac:09d}"
    text = text[:8]
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def edf_header_number(x: float, up: bool) -> float:
    """The closest number to ``x`` that the 8-character EDF header field stores *exactly*.

    Rounds towards +inf when ``up`` (for a physical maximum) and towards -inf
    otherwise (for a physical minimum), so the range always contains ``x``. The
    value is also checked against the way edflib prints it (truncating a binary
    fraction such as ``-67431.7`` to ``-67431.6``) and moved outwards until the
    printed number is the number.
    """
    if not math.isfinite(x):
        raise ValueError(f"non-finite physical limit {x}")
    d = Decimal(repr(float(x)))
    for places in range(7, -1, -1):
        step = Decimal(1).scaleb(-places)
        q = d.quantize(step, rounding=ROUND_CEILING if up else ROUND_FLOOR)
        for _ in range(3):
            text = format(q, "f")
            if "." in text:
                text = text.rstrip("0").rstrip(".")
            if text in ("-0", ""):
                text = "0"
            if len(text) > 8:
                break
            value = float(text)
            if _edflib_text(value) == text:
                return value
            q = q + step if up else q - step
    raise ValueError(f"physical limit {x} does not fit the 8-character EDF field; change the unit")


def _header_value(x: float) -> float | int:
    """A header number as pyedflib should see it: a whole number as an int, because it
    measures ``str(x)`` and warns of truncation for ``-187501.0`` (9 characters), although
    the field ``-187501`` holds it exactly (the values come from the 8-character rule)."""
    return int(x) if float(x).is_integer() else x


def _declared(rec: Recording, physical_range: PhysicalRange) -> list[tuple[float, float] | None]:
    n_ch = rec.n_channels
    if physical_range is None:
        return [None] * n_ch
    if isinstance(physical_range, Mapping):
        return [(float(physical_range[c][0]), float(physical_range[c][1])) if c in physical_range else None
                for c in rec.channel_names]
    items = list(physical_range)
    if len(items) == 2 and all(isinstance(v, (int, float, np.floating, np.integer)) for v in items):
        lo, hi = cast(Sequence[float], items)
        return [(float(lo), float(hi))] * n_ch
    if len(items) != n_ch:
        raise ValueError(f"{len(items)} physical ranges for {n_ch} channels")
    return [(float(r[0]), float(r[1])) for r in cast(Sequence[tuple[float, float]], items)]


def _ranges(rec: Recording, physical_range: PhysicalRange) -> list[tuple[float, float]]:
    declared = _declared(rec, physical_range)
    out: list[tuple[float, float]] = []
    for i in range(rec.n_channels):
        col = rec.samples[:, i]
        lo = float(col.min()) if col.size else 0.0
        hi = float(col.max()) if col.size else 0.0
        if declared[i] is not None:
            dlo, dhi = declared[i]  # type: ignore[misc]
            if not dlo < dhi:
                raise ValueError(f"channel {rec.channel_names[i]}: physical range {declared[i]} is empty")
            lo, hi = min(lo, float(dlo)), max(hi, float(dhi))
        elif lo < 0 < hi:  # symmetric, so that 0 is exactly representable (code 0)
            pmin = edf_header_number(-max(-lo, hi), up=False)  # the negative side needs the '-' character
            out.append((pmin, -pmin))
            continue
        if hi - lo <= 0:
            pad = max(abs(hi) * 0.01, 1.0)
            lo, hi = lo - pad, hi + pad
        pmin, pmax = edf_header_number(lo, up=False), edf_header_number(hi, up=True)
        if pmin == pmax:  # pragma: no cover - only for absurd unit choices
            raise ValueError(f"channel {rec.channel_names[i]}: range {lo}..{hi} is too narrow for EDF")
        out.append((pmin, pmax))
    return out


def _ascii_field(text: str, limit: int = 80) -> str:
    s = "".join(c if 32 < ord(c) < 127 else "_" for c in str(text).replace(" ", "_"))
    return s[:limit]


def _duration_text_ok(spr: int, fs: int) -> bool:
    dur = Fraction(spr, fs)
    text = f"{float(dur):.8f}".rstrip("0").rstrip(".")
    return dur >= Fraction(1, 1000) and len(text) <= 8 and Fraction(text) == dur


def _record_layout(n: int, fs: float, min_records: int = 1) -> tuple[int, float]:
    """(samples per record, record duration s) for ``n`` samples in at least ``min_records`` records.

    Prefers a record length between 1/10 of the longest allowed and the longest
    (<= 1 s) that divides ``n`` exactly (no padding); otherwise the longest one
    whose duration EDF can state exactly.
    """
    if float(fs).is_integer():
        f = int(fs)
        upper = max(1, min(f, n // max(1, min_records)))
        for spr in range(upper, max(1, -(-upper // 10)) - 1, -1):
            if n % spr == 0 and _duration_text_ok(spr, f):
                return spr, spr / f
        for spr in range(upper, 0, -1):
            if _duration_text_ok(spr, f):
                return spr, spr / f
        raise ValueError(f"no EDF data-record length for {n} samples at {fs} Hz")
    frac = Fraction(fs).limit_denominator(1000)
    if abs(float(frac) - fs) > 1e-9 * fs or frac.denominator > 60:
        raise ValueError(f"sampling rate {fs} Hz cannot be represented in EDF data records")
    return frac.numerator, float(frac.denominator)


def header_rate(fs: float) -> float:
    """The sampling rate a file was written with, from the one its reader computes.

    A reader divides the samples per data record by the record duration (held in
    100 ns units), so 700 samples in 0.7 s come back as 999.9999999999999 Hz. The rate
    was written as an integer or a small fraction (``_record_layout``): snap to it.
    """
    r = round(fs)
    if r > 0 and abs(fs - r) <= 1e-9 * fs:  # float rounding of spr / duration, nothing more
        return float(r)
    frac = Fraction(fs).limit_denominator(60)
    return float(frac) if abs(float(frac) - fs) <= 1e-9 * fs else fs


def check_annotation_text(text: str) -> None:
    """Raise ``ValueError`` if ``text`` cannot be stored as a BDF+ annotation (too long, control chars)."""
    raw = text.encode("utf-8")
    if len(raw) > MAX_ANNOTATION_BYTES:
        raise ValueError(f"annotation text {text!r} is {len(raw)} bytes; BDF+ keeps at most {MAX_ANNOTATION_BYTES}")
    if any(ord(c) < 32 for c in text):
        raise ValueError(f"annotation text {text!r} contains control characters")


def validate_for_bdf(rec: Recording) -> None:
    """Raise ``ValueError`` if ``rec`` cannot be stored in BDF+ without loss of meaning."""
    if rec.n_samples == 0:
        raise ValueError("cannot write an empty recording")
    if not np.isfinite(rec.samples).all():
        raise ValueError("samples contain NaN or inf; BDF stores only finite values")
    for name in rec.channel_names:
        if len(name) > 16 or not name.isascii() or not name.isprintable():
            raise ValueError(f"channel name {name!r}: BDF labels are at most 16 printable ASCII characters")
    for unit in rec.units:
        if len(unit) > 8 or not unit.isascii():
            raise ValueError(f"unit {unit!r}: BDF units are at most 8 ASCII characters")
    for a in rec.annotations:
        check_annotation_text(a.text)
        if a.onset_s < 0:
            raise ValueError(f"annotation {a.text!r} has a negative onset")


def _start_datetime(meta: Mapping[str, str]) -> datetime:
    text = meta.get("start_time")
    if text:
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return UNKNOWN_START
        return dt.replace(tzinfo=None)
    return UNKNOWN_START


# ---------------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------------
def _write_bdf_file(rec: Recording, target: Path, ranges: list[tuple[float, float]]) -> None:
    n, n_ch = rec.n_samples, rec.n_channels
    anns = sorted(rec.annotations, key=lambda a: (a.onset_s, a.duration_s))
    # each data record holds one annotation per annotation signal (at most 64 signals)
    spr, rec_dur = _record_layout(n, rec.fs, min_records=-(-len(anns) // 8))
    n_records = -(-n // spr)
    n_annot_signals = max(1, -(-len(anns) // n_records))
    if n_annot_signals > 64:
        raise ValueError(f"{len(anns)} annotations do not fit {n_records} BDF+ data records (max {64 * n_records})")

    # physical -> digital with the exact header values
    pmin = np.array([r[0] for r in ranges])
    pmax = np.array([r[1] for r in ranges])
    gain = (pmax - pmin) / (BDF_DIGITAL_MAX - BDF_DIGITAL_MIN)
    digital = np.rint((rec.samples - pmin) / gain + BDF_DIGITAL_MIN)
    np.clip(digital, BDF_DIGITAL_MIN, BDF_DIGITAL_MAX, out=digital)
    digital = digital.astype(np.int32)
    pad = n_records * spr - n
    if pad:
        digital = np.concatenate([digital, np.repeat(digital[-1:], pad, axis=0)])

    writer = pyedflib.EdfWriter(str(target), n_ch, file_type=pyedflib.FILETYPE_BDFPLUS)
    try:
        headers: list[dict[str, str | int | float | None]] = []
        for i in range(n_ch):
            headers.append({
                "label": rec.channel_names[i],
                "dimension": rec.units[i],
                "sample_frequency": rec.fs,
                "physical_min": _header_value(ranges[i][0]),
                "physical_max": _header_value(ranges[i][1]),
                "digital_min": BDF_DIGITAL_MIN,
                "digital_max": BDF_DIGITAL_MAX,
                "transducer": _ascii_field(rec.meta.get(f"transducer.{rec.channel_names[i]}", ""), 80),
                "prefilter": _ascii_field(rec.meta.get(f"prefilter.{rec.channel_names[i]}", ""), 80),
            })
        writer.setSignalHeaders(headers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "forcing a specific record_duration"
            writer.setDatarecordDuration(rec_dur)
        writer.set_number_of_annotation_signals(n_annot_signals)
        writer.setPatientCode(_ascii_field(rec.meta.get("bids_subject") or rec.meta.get("subject", ""), 40))
        writer.setPatientName("X")
        writer.setEquipment(_ascii_field(rec.meta.get("manufacturer", "garment"), 20))
        writer.setRecordingAdditional(f"nsamp={n}")
        writer.setStartdatetime(_start_datetime(rec.meta))
        for a in anns:
            writer.writeAnnotation(a.onset_s, a.duration_s, a.text)
        for r in range(n_records):
            block = np.ascontiguousarray(digital[r * spr:(r + 1) * spr].T).ravel()
            if writer.blockWriteDigitalSamples(block) < 0:
                raise OSError(f"{target}: edflib failed to write data record {r}")
    finally:
        writer.close()

    # verify what edflib wrote before the file gets its final name
    with pyedflib.EdfReader(str(target)) as check:
        got = len(check.readAnnotations()[0])
        if got != len(anns):
            raise OSError(f"{target}: edflib kept {got} of {len(anns)} annotations")
        if int(check.getNSamples()[0]) != n_records * spr:
            raise OSError(f"{target}: edflib wrote {check.getNSamples()[0]} samples, expected {n_records * spr}")


def write_truth(rec: Recording, data_path: str | Path) -> Path | None:
    """Save ``rec.truth`` as ``*_truth.npz`` beside ``data_path`` (removes a stale one if truth is empty)."""
    p = sidecar_paths(data_path)["truth"]
    if not rec.truth:
        if p.exists():
            p.unlink()
        return None
    with atomic_path(p) as tmp:
        savez: Any = np.savez  # numpy's stub does not model **arrays
        with open(tmp, "wb") as f:
            savez(f, **rec.truth)
    return p


def write_bdf(rec: Recording, path: str | Path, *, physical_range: PhysicalRange = None,
              sidecars: bool = True) -> Path:
    """Write ``rec`` as a BDF+ file at ``path`` (atomically), with its truth file and BIDS sidecars.

    Args:
        rec: the recording; samples must be finite, channel names <= 16 ASCII
            characters, units <= 8, annotation texts <= 40 bytes.
        path: destination, conventionally ``sub-<label>_task-<label>_emg.bdf``.
        physical_range: ``(min, max)`` for every channel, a sequence of them, or a
            mapping by channel name; channels without one use their data range. A
            declared range is widened, never clipped, when data exceed it.
        sidecars: also write ``*_emg.json``, ``*_channels.tsv``, ``*_events.tsv``.

    The sidecars and ``*_truth.npz`` are written first and the BDF last, each
    atomically, so once the BDF exists its companions do too.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    validate_for_bdf(rec)
    ranges = _ranges(rec, physical_range)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_truth(rec, path)
    if sidecars:
        write_sidecars(rec, path)
    with atomic_path(path) as tmp:
        _write_bdf_file(rec, tmp, ranges)
    return path


# ---------------------------------------------------------------------------------
# read
# ---------------------------------------------------------------------------------
def read_edf(path: str | Path, *, with_truth: bool = True, with_sidecar: bool = True) -> Recording:
    """Read an EDF, EDF+, BDF or BDF+ file into a :class:`Recording`.

    Annotations come back as :class:`Annotation` (sorted by onset; a missing
    duration becomes 0). If a ``*_truth.npz`` is beside the file it fills
    ``truth``; if a ``*_emg.json`` is, its ``GarmentMeta`` fills ``meta``. All
    signals must share one sampling rate.

    Raises:
        FileNotFoundError: no such file.
        RecordingFormatError: not EDF/BDF, truncated, or unsupported (mixed rates).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as e:
        msg = str(e)
        if "filesize" in msg.lower():
            msg = "file size does not match its header (truncated or padded): " + msg
        raise RecordingFormatError(path, f"not a readable EDF(+)/BDF(+) file: {msg}") from e
    try:
        n_sig = reader.signals_in_file
        if n_sig == 0:
            raise RecordingFormatError(path, "file holds no signals")
        rates = {header_rate(float(reader.getSampleFrequency(i))) for i in range(n_sig)}
        if len(rates) != 1:
            raise RecordingFormatError(path, f"signals have different sampling rates {sorted(rates)}; not supported")
        (fs,) = rates
        names = [str(x) for x in reader.getSignalLabels()]
        units = [str(reader.getPhysicalDimension(i)).strip() for i in range(n_sig)]
        n_total = int(min(reader.getNSamples()))
        additional = reader.getRecordingAdditional()
        m = _NSAMP_RE.search(additional or "")
        n = min(int(m.group(1)), n_total) if m else n_total
        samples = np.empty((n, n_sig), dtype=np.float64)
        for i in range(n_sig):
            samples[:, i] = reader.readSignal(i, 0, n)
        onsets, durations, texts = reader.readAnnotations()
        header = reader.getHeader()
    except RecordingFormatError:
        raise
    except (OSError, ValueError, IndexError) as e:
        raise RecordingFormatError(path, f"cannot read EDF(+)/BDF(+) contents: {e}") from e
    finally:
        reader.close()

    anns = [
        Annotation(float(o), max(0.0, float(d)), str(t))
        for o, d, t in sorted(zip(onsets, durations, texts), key=lambda x: (float(x[0]), float(x[1])))
    ]
    meta: dict[str, str] = {}
    if with_sidecar:
        doc = read_emg_json(path)
        if doc and isinstance(doc.get("GarmentMeta"), dict):
            meta.update({str(k): str(v) for k, v in doc["GarmentMeta"].items()})
    meta.setdefault("source_file", path.name)
    if header.get("patientcode"):
        meta.setdefault("subject", str(header["patientcode"]))
    start = header.get("startdate")
    if isinstance(start, datetime) and start != UNKNOWN_START:
        meta.setdefault("start_time", start.isoformat())

    truth: dict[str, np.ndarray] = {}
    tp = sidecar_paths(path)["truth"]
    if with_truth and tp.exists():
        try:
            with np.load(tp, allow_pickle=False) as z:
                truth = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise RecordingFormatError(tp, f"unreadable truth file: {e}") from e
        bad = [k for k, v in truth.items() if v.ndim == 0 or v.shape[0] != n]
        if bad:
            raise RecordingFormatError(tp, f"truth arrays {bad} do not have {n} samples")
    return Recording(samples=samples, fs=fs, channel_names=names, units=units,
                     annotations=anns, truth=truth, meta=meta)
