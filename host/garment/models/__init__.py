"""Decoders: training (scikit-learn), int8 quantisation, the host integer reference,
model files, and the float-versus-int8 agreement report.

* :func:`train` -> :class:`TrainedModel` (group cross-validation, float and int8 scores).
* :func:`quantize` a :class:`FloatNet` -> :class:`QuantizedModel`.
* :mod:`garment.models.reference`: integers identical to ``garmentfw.int8net`` on the device.
* :func:`write_model` / :func:`read_model` / :func:`to_bytes` / :func:`from_bytes`: the
  model file, with the firmware's own ``model_format`` module.
* :func:`agreement_report`: share of identical decisions, float and int8 accuracy.
"""
from __future__ import annotations

from garment.models.modelfile import ModelFormatError, from_bytes, read_model, to_bytes, write_model
from garment.models.quantize import (
    FloatLayer,
    FloatNet,
    InputQuant,
    QDense,
    QuantizationError,
    QuantizedModel,
    float_net_from_sklearn,
    quantize,
)
from garment.models.reference import Int8Reference
from garment.models.report import AgreementReport, agreement_report
from garment.models.train import TrainedModel, train

__all__ = [
    "AgreementReport",
    "FloatLayer",
    "FloatNet",
    "InputQuant",
    "Int8Reference",
    "ModelFormatError",
    "QDense",
    "QuantizationError",
    "QuantizedModel",
    "TrainedModel",
    "agreement_report",
    "float_net_from_sklearn",
    "from_bytes",
    "quantize",
    "read_model",
    "to_bytes",
    "train",
    "write_model",
]
