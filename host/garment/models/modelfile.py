"""Write and read decoder model files with the firmware's own format module.

The layout, the validation and the CRC live in ``firmware/lib/garmentfw/model_format.py``
(loaded from the shipped firmware tree via :func:`garment.contracts.load_contract`, never
copied); this module only converts between that module's ``Model`` and the host's
numpy :class:`~garment.models.quantize.QuantizedModel`.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from garment.contracts import load_contract
from garment.recordings.atomic import atomic_write_bytes
from garment.models.quantize import InputQuant, QDense, QuantizedModel


def fmt() -> ModuleType:
    """The firmware's ``model_format`` module (the one definition of the format)."""
    return load_contract("model_format")


ModelFormatError = fmt().ModelFormatError


def _feature_dict(features: Any) -> dict[str, Any]:
    if features is None:
        raise ValueError("the model has no feature configuration: pass feature_config when training/quantising")
    if hasattr(features, "to_dict"):
        features = features.to_dict()
    return dict(features)


def to_format(qm: QuantizedModel) -> Any:
    """The firmware-side ``model_format.Model`` of a quantised model."""
    mf = fmt()
    ip = mf.InputStage(
        [int(v) for v in qm.input.offset],
        [int(v) for v in qm.input.mult],
        [int(v) for v in qm.input.shift],
        [int(v) for v in (qm.input.transform if qm.input.transform is not None else [0] * qm.n_in)],
        int(qm.input.context),
        int(qm.input.context_step),
    )
    layers = [
        mf.Dense(
            L.n_in,
            L.n_out,
            L.weights.astype(np.int8).tobytes(),
            [int(v) for v in L.bias],
            [int(v) for v in L.mult],
            [int(v) for v in L.shift],
            L.relu,
            L.out_bits,
            int(L.in_zp),
            int(L.out_zp),
        )
        for L in qm.layers
    ]
    return mf.Model(_feature_dict(qm.features), qm.output_section(), dict(qm.stim), ip, layers, dict(qm.info))


def from_format(m: Any) -> QuantizedModel:
    """A host :class:`QuantizedModel` from a parsed ``model_format.Model``."""
    iq = InputQuant(
        np.array(m.input.offset, dtype=np.int64),
        np.array(m.input.mult, dtype=np.int64),
        np.array(m.input.shift, dtype=np.int64),
        np.array(m.input.transform, dtype=np.int64),
        int(m.input.context),
        int(m.input.context_step),
    )
    layers = [
        QDense(
            np.frombuffer(L.weights, dtype=np.int8).reshape(L.n_out, L.n_in).copy(),
            np.array(L.bias, dtype=np.int64),
            np.array(L.mult, dtype=np.int64),
            np.array(L.shift, dtype=np.int64),
            L.relu,
            L.out_bits,
            L.in_zp,
            L.out_zp,
        )
        for L in m.layers
    ]
    o = m.output
    return QuantizedModel(
        input=iq,
        layers=layers,
        task=o["task"],
        labels=list(o["labels"]),
        scale=float(o["scale"]),
        units=o.get("units", ""),
        reject_margin=int(o.get("reject_margin", 0)),
        reject_class=int(o.get("reject_class", -1)),
        vote=int(o.get("vote", 1)),
        features=dict(m.features),
        stim=dict(m.stim),
        info=dict(m.info),
    )


def to_bytes(qm: QuantizedModel) -> bytes:
    """Serialise (validating shapes and ranges first) to model file bytes."""
    return bytes(fmt().pack(to_format(qm)))


def from_bytes(data: bytes, fs: int | None = None, n_ch: int | None = None) -> QuantizedModel:
    """Parse and verify model file bytes (raises :data:`ModelFormatError`).

    With ``fs`` / ``n_ch`` the model must match the garment's sampling rate and
    channel count, exactly as the device checks before loading it.
    """
    return from_format(fmt().parse(data, fs, n_ch))


def retimed(data: bytes, fs: int) -> bytes:
    """Model file bytes with the feature windows set for sampling rate ``fs``: the same
    durations (200 ms windows in 50 ms steps at the golden models' 2 kHz) in samples at
    ``fs``, weights unchanged (a board that cannot run the model's rate, e.g. the qemu
    board's 8 ch x 1 kHz, still decodes with it)."""
    q = from_bytes(data)
    f = q.features
    old = int(f["fs"])
    q.features = dict(f, fs=fs, window=int(f["window"]) * fs // old, increment=int(f["increment"]) * fs // old)
    return to_bytes(q)


def write_model(path: str | Path, qm: QuantizedModel) -> int:
    """Write the model file atomically (temp file, fsync, rename); returns its size."""
    data = to_bytes(qm)
    atomic_write_bytes(path, data)
    return len(data)


def read_model(path: str | Path, fs: int | None = None, n_ch: int | None = None) -> QuantizedModel:
    """Read and verify a model file (see :func:`from_bytes`)."""
    return from_bytes(Path(path).read_bytes(), fs, n_ch)
