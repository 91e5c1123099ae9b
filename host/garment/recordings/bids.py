"""BIDS-EMG naming and sidecar files written beside each BDF.

For ``sub-01N_task-mar_emg.bdf`` the sidecars are ``sub-01N_task-mar_emg.json``,
``sub-01N_task-mar_channels.tsv`` and ``sub-01N_task-mar_events.tsv`` (BIDS 1.11,
EMG). A file not named BIDS-style (``rec.bdf``) gets ``rec_emg.json``,
``rec_channels.tsv``, ``rec_events.tsv``.

What the sidecars take from :attr:`Recording.meta` (all optional):

==============================  ==================================================
meta key                        sidecar field
==============================  ==================================================
``task`` (else ``exercise``)    ``TaskName``
``task_description``            ``TaskDescription`` (else ``exercise_description``)
``power_line_hz``               ``PowerLineFrequency`` (else ``"n/a"``)
``emg_reference``               ``EMGReference`` (else ``"n/a"``)
``emg_ground``                  ``EMGGround``
``emg_placement_scheme``        ``EMGPlacementScheme`` (else ``"Other"``)
``emg_placement_description``   ``EMGPlacementSchemeDescription``
``manufacturer``                ``Manufacturer``
``manufacturers_model_name``    ``ManufacturersModelName``
``software_versions``           ``SoftwareVersions``
``device_serial_number``        ``DeviceSerialNumber``
``software_filters``            ``SoftwareFilters`` (JSON text or ``"n/a"``)
``hardware_filters``            ``HardwareFilters`` (JSON text or ``"n/a"``)
``channel_type.<name>``         ``type`` column (else EMG for voltages, MISC)
``target_muscle.<name>``        ``target_muscle`` column
``description.<name>``          ``description`` column
==============================  ==================================================

The whole ``meta`` dict is also stored under the (non-BIDS, allowed) key
``GarmentMeta`` so that :func:`garment.recordings.read_edf` restores it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .model import Recording

BIDS_VERSION = "1.11.0"
_VOLTAGE_UNITS = {"v", "mv", "uv", "µv", "μv", "nv"}


def bids_label(value: str) -> str:
    """A BIDS entity label: only letters and digits (others removed)."""
    label = re.sub(r"[^A-Za-z0-9]", "", str(value))
    if not label:
        raise ValueError(f"cannot make a BIDS label from {value!r}")
    return label


def bids_basename(subject: str, task: str, run: int | None = None, acq: str | None = None) -> str:
    """``sub-<subject>_task-<task>[_acq-<acq>][_run-<run>]`` (no suffix or extension)."""
    name = f"sub-{bids_label(subject)}_task-{bids_label(task)}"
    if acq:
        name += f"_acq-{bids_label(acq)}"
    if run is not None:
        name += f"_run-{int(run)}"
    return name


def sidecar_stem(data_path: str | Path) -> Path:
    """The path of a recording without extension and without a trailing ``_emg`` suffix."""
    p = Path(data_path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    if stem.endswith("_emg"):
        stem = stem[: -len("_emg")]
    return p.with_name(stem)


def sidecar_paths(data_path: str | Path) -> dict[str, Path]:
    """Paths of the files that accompany a BDF: ``emg_json``, ``channels``, ``events``, ``truth``."""
    stem = sidecar_stem(data_path)
    return {
        "emg_json": stem.with_name(stem.name + "_emg.json"),
        "channels": stem.with_name(stem.name + "_channels.tsv"),
        "events": stem.with_name(stem.name + "_events.tsv"),
        "truth": stem.with_name(stem.name + "_truth.npz"),
    }


def channel_type(rec: Recording, index: int) -> str:
    """BIDS channel type of a column: ``meta['channel_type.<name>']``, else EMG for voltages, else MISC."""
    name = rec.channel_names[index]
    declared = rec.meta.get(f"channel_type.{name}")
    if declared:
        return declared.upper()
    return "EMG" if rec.units[index].lower() in _VOLTAGE_UNITS else "MISC"


def _json_or_na(text: str | None) -> Any:
    if not text or text == "n/a":
        return "n/a"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _number_or_na(text: str | None) -> Any:
    if text is None or text == "" or text == "n/a":
        return "n/a"
    try:
        value = float(text)
    except ValueError:
        return "n/a"
    return int(value) if value.is_integer() else value


def emg_json(rec: Recording) -> dict[str, Any]:
    """The ``*_emg.json`` content for ``rec`` (BIDS-EMG required and recommended fields)."""
    m = rec.meta
    types = [channel_type(rec, i) for i in range(rec.n_channels)]
    doc: dict[str, Any] = {
        "TaskName": m.get("task") or m.get("exercise") or "unknown",
        "TaskDescription": m.get("task_description") or m.get("exercise_description") or "n/a",
        "SamplingFrequency": rec.fs,
        "PowerLineFrequency": _number_or_na(m.get("power_line_hz")),
        "SoftwareFilters": _json_or_na(m.get("software_filters")),
        "HardwareFilters": _json_or_na(m.get("hardware_filters")),
        "EMGReference": m.get("emg_reference") or "n/a",
        "EMGPlacementScheme": m.get("emg_placement_scheme") or "Other",
        "EMGChannelCount": types.count("EMG"),
        "MiscChannelCount": types.count("MISC"),
        "TriggerChannelCount": types.count("TRIG"),
        "RecordingDuration": rec.duration_s,
        "RecordingType": "continuous",
        "Manufacturer": m.get("manufacturer") or "n/a",
    }
    optional = {
        "EMGPlacementSchemeDescription": "emg_placement_description",
        "EMGGround": "emg_ground",
        "ManufacturersModelName": "manufacturers_model_name",
        "SoftwareVersions": "software_versions",
        "DeviceSerialNumber": "device_serial_number",
        "ElectrodeType": "electrode_type",
        "ElectrodeMaterial": "electrode_material",
        "InterelectrodeDistance": "interelectrode_distance_mm",
        "InstitutionName": "institution_name",
    }
    for key, meta_key in optional.items():
        if m.get(meta_key):
            doc[key] = _number_or_na(m[meta_key]) if key == "InterelectrodeDistance" else m[meta_key]
    doc["GarmentMeta"] = dict(m)
    return doc


def _tsv_cell(value: Any) -> str:
    text = "n/a" if value is None or value == "" else str(value)
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _tsv(header: list[str], rows: list[list[Any]]) -> str:
    out = ["\t".join(header)]
    out += ["\t".join(_tsv_cell(v) for v in row) for row in rows]
    return "\n".join(out) + "\n"


def channels_tsv(rec: Recording) -> str:
    """The ``*_channels.tsv`` content: name, type, units, sampling_frequency, target_muscle, description, status."""
    rows = []
    for i, name in enumerate(rec.channel_names):
        rows.append([
            name,
            channel_type(rec, i),
            rec.units[i],
            _number_or_na(str(rec.fs)),
            rec.meta.get(f"target_muscle.{name}"),
            rec.meta.get(f"description.{name}"),
            rec.meta.get(f"status.{name}", "good"),
        ])
    return _tsv(["name", "type", "units", "sampling_frequency", "target_muscle", "description", "status"], rows)


def events_tsv(rec: Recording) -> str:
    """The ``*_events.tsv`` content: onset, duration, trial_type (the annotation text), sample."""
    rows = [
        [f"{a.onset_s:.6f}", f"{a.duration_s:.6f}", a.text, int(round(a.onset_s * rec.fs))]
        for a in sorted(rec.annotations, key=lambda a: (a.onset_s, a.duration_s))
    ]
    return _tsv(["onset", "duration", "trial_type", "sample"], rows)


def write_sidecars(rec: Recording, data_path: str | Path) -> dict[str, Path]:
    """Write ``*_emg.json``, ``*_channels.tsv`` and ``*_events.tsv`` beside ``data_path`` (atomically)."""
    paths = sidecar_paths(data_path)
    atomic_write_text(paths["emg_json"], json.dumps(emg_json(rec), indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(paths["channels"], channels_tsv(rec))
    atomic_write_text(paths["events"], events_tsv(rec))
    return {k: v for k, v in paths.items() if k != "truth"}


def read_emg_json(data_path: str | Path) -> dict[str, Any] | None:
    """The parsed ``*_emg.json`` beside ``data_path``, or None if there is none."""
    p = sidecar_paths(data_path)["emg_json"]
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        from .errors import RecordingFormatError

        raise RecordingFormatError(p, f"invalid JSON sidecar: {e}") from e
    return doc if isinstance(doc, dict) else None


def write_dataset_description(root: str | Path, name: str, *, authors: list[str] | None = None,
                              license: str | None = None, source: str | None = None) -> Path:
    """Write a BIDS ``dataset_description.json`` at ``root`` (atomically)."""
    doc: dict[str, Any] = {"Name": name, "BIDSVersion": BIDS_VERSION, "DatasetType": "raw"}
    if authors:
        doc["Authors"] = authors
    if license:
        doc["License"] = license
    if source:
        doc["ReferencesAndLinks"] = [source]
    doc["GeneratedBy"] = [{"Name": "garment.recordings"}]
    return atomic_write_text(Path(root) / "dataset_description.json", json.dumps(doc, indent=2) + "\n")
