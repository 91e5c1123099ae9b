"""Float dense networks from scikit-learn, and their TFLite-style int8 quantisation.

The float side is a :class:`FloatNet`: per-feature standardisation (mean, std) and a
chain of dense layers (ReLU on hidden layers), extracted from a fitted scikit-learn
estimator (LDA, logistic regression, MLP classifier, ridge, MLP regressor). LDA and
logistic regression are one dense layer; an MLP is two or more.

:func:`quantize` maps it to a :class:`QuantizedModel`, the host mirror of the model
file (``garmentfw/model_format.py`` defines the layout and the arithmetic):

* input stage: raw int32 features -> int8 per feature, ``xq = clamp(requantize(t(x) -
  offset, mult, shift), -128, 127)`` where ``t`` is the identity or, for heavy-tailed
  amplitude features, the exact integer piecewise-linear log2 ``log2c`` (the float
  model is trained on ``t(x)`` too); the offset and step come from the calibration
  data's percentile range of each (transformed) feature. The standardisation and each feature's
  step are folded into the first layer's float weights before they are quantised.
* dense layers: symmetric int8 weights with one scale per output channel, int32 bias
  at scale ``in_scale * w_scale``, int32 accumulator, requantisation by a 15-bit
  multiplier and a shift (``requantize`` is floor((v*M + 2^(n-1)) / 2^n)); hidden
  outputs are int8 with zero point -128 after ReLU (calibrated on the data); the
  final layer outputs int32 at one common scale (``scale``), so argmax and margins
  compare like with like and regression values are ``int * scale``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from garment.contracts import load_contract

_MF = load_contract("model_format")

#: Requantisation factor headroom: layers need M/2^n < 1/4 (shift >= 17).
_REQ_HEADROOM = 4.0004


class QuantizationError(ValueError):
    """The float model cannot be represented within the int8 format's ranges."""


# ---- float side -------------------------------------------------------------------------
@dataclass
class FloatLayer:
    """One float dense layer ``y = W x + b`` (``weight`` is (n_out, n_in))."""

    weight: np.ndarray
    bias: np.ndarray
    relu: bool = False


@dataclass
class FloatNet:
    """Integer input transform, standardisation and dense layers: the float model.

    ``log_mask`` marks the features that go through the integer log2 transform
    (:func:`garment.models.reference.log2c`) before standardisation. ``forward``
    returns logits (classification; argmax decides) or the regression outputs in
    real units.
    """

    mean: np.ndarray
    std: np.ndarray
    layers: list[FloatLayer]
    task: str = "classification"
    labels: list[str] = field(default_factory=list)
    log_mask: np.ndarray | None = None

    @property
    def n_in(self) -> int:
        """Number of input features."""
        return int(self.mean.shape[0])

    @property
    def n_out(self) -> int:
        """Number of outputs of the final layer."""
        return int(self.layers[-1].weight.shape[0])

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Float outputs for raw feature rows ``X`` (n, n_in)."""
        from garment.models.reference import transform_features

        h = (transform_features(X, self.log_mask).astype(np.float64) - self.mean) / self.std
        for L in self.layers:
            h = h @ L.weight.T + L.bias
            if L.relu:
                h = np.maximum(h, 0.0)
        return h

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class indices (classification) or the first output (regression)."""
        out = self.forward(X)
        return out.argmax(axis=1) if self.task == "classification" else out[:, 0]


def _two_class(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # A binary model's single logit z becomes two symmetric logits (-z/2, z/2): the
    # argmax picks class 1 iff z > 0 and the margin is |z|.
    return np.vstack([-W / 2.0, W / 2.0]), np.array([-b[0] / 2.0, b[0] / 2.0])


def float_net_from_sklearn(
    scaler: Any,
    estimator: Any,
    task: str = "classification",
    labels: Sequence[str] | None = None,
    y_mean: float = 0.0,
    y_std: float = 1.0,
    log_mask: np.ndarray | None = None,
) -> FloatNet:
    """Extract a :class:`FloatNet` from a fitted ``StandardScaler`` and estimator.

    Supported: ``LinearDiscriminantAnalysis``, ``LogisticRegression``,
    ``MLPClassifier`` (ReLU), ``Ridge``/``LinearRegression``, ``MLPRegressor`` (ReLU,
    identity output). A regression estimator fitted on standardised targets
    ``(y - y_mean) / y_std`` gets that scaling folded into its last layer. The scaler
    must have been fitted on the transformed features (``log_mask``).
    """
    mean = np.asarray(scaler.mean_, dtype=np.float64)
    std = np.asarray(scaler.scale_, dtype=np.float64)
    layers: list[FloatLayer] = []
    if hasattr(estimator, "coefs_"):  # MLPClassifier / MLPRegressor
        if estimator.activation != "relu":
            raise QuantizationError(f"MLP activation {estimator.activation!r}: only 'relu' maps to int8")
        n = len(estimator.coefs_)
        for k, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_)):
            layers.append(FloatLayer(np.asarray(W, float).T.copy(), np.asarray(b, float).copy(), relu=k < n - 1))
    elif hasattr(estimator, "coef_"):
        W = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
        b = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
        if b.shape[0] != W.shape[0]:
            b = np.broadcast_to(b, (W.shape[0],)).copy()
        layers.append(FloatLayer(W.copy(), b.copy()))
    else:
        raise QuantizationError(f"cannot map {type(estimator).__name__} to dense layers")
    last = layers[-1]
    if task == "classification" and last.weight.shape[0] == 1:
        last.weight, last.bias = _two_class(last.weight, last.bias)
    if task == "regression" and (y_std != 1.0 or y_mean != 0.0):
        last.weight = last.weight * y_std
        last.bias = last.bias * y_std + y_mean
    n_out = last.weight.shape[0]
    if labels is None:
        classes = getattr(estimator, "classes_", None)
        labels = [str(c) for c in classes] if classes is not None else [f"y{k}" for k in range(n_out)]
    mask = None if log_mask is None else np.asarray(log_mask, dtype=bool)
    return FloatNet(mean, std, layers, task, list(labels), mask)


# ---- int8 side --------------------------------------------------------------------------
@dataclass
class InputQuant:
    """Per-feature input quantisation (transform, int32 offset, 15-bit multiplier, shift)."""

    offset: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    transform: np.ndarray | None = None
    #: temporal context: the first layer sees ``context`` windows, ``context_step`` apart
    context: int = 1
    context_step: int = 1

    def __post_init__(self) -> None:
        if self.transform is None:
            self.transform = np.zeros(len(self.offset), dtype=np.int64)

    @property
    def width(self) -> int:
        """Inputs of the first layer (``context`` x per-window features)."""
        return len(self.offset) * self.context

    def tiled(self, a: np.ndarray) -> np.ndarray:
        """A per-feature array repeated for every context slot (first-layer order)."""
        return np.tile(np.asarray(a), self.context)

    @property
    def step(self) -> np.ndarray:
        """Raw feature units per int8 step (2^shift / mult)."""
        return np.ldexp(1.0, self.shift.astype(int)) / self.mult


@dataclass
class QDense:
    """An int8 dense layer exactly as stored in the model file.

    ``bias`` already includes ``-in_zp * sum(weights[j])``. ``acc_scale`` (real value
    of one accumulator unit per output) and ``out_scale`` are kept for reports; the
    file does not need them.
    """

    weights: np.ndarray  # int8 (n_out, n_in)
    bias: np.ndarray  # int64 (n_out,)
    mult: np.ndarray  # int64 (n_out,)
    shift: np.ndarray  # int64 (n_out,)
    relu: bool = False
    out_bits: int = 8
    in_zp: int = 0
    out_zp: int = 0
    acc_scale: np.ndarray | None = None
    out_scale: float | None = None

    @property
    def n_in(self) -> int:
        """Inputs of the layer."""
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        """Outputs of the layer."""
        return int(self.weights.shape[0])

    def clamp_range(self) -> tuple[int, int]:
        """(lo, hi) of the layer's outputs, as in ``model_format.Dense.clamp_range``."""
        if self.out_bits == 8:
            return (self.out_zp if self.relu else -128), 127
        return (0 if self.relu else _MF.OUT32_MIN), _MF.OUT32_MAX


@dataclass
class QuantizedModel:
    """The int8 decoder and everything its model file carries."""

    input: InputQuant
    layers: list[QDense]
    task: str
    labels: list[str]
    scale: float
    units: str = ""
    reject_margin: int = 0
    reject_class: int = -1
    vote: int = 1
    features: dict[str, Any] | None = None
    stim: dict[str, Any] = field(default_factory=lambda: {"preset": "off", "params": {}})
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_in(self) -> int:
        """Input features of one window (what the feature extractor gives)."""
        return int(self.input.offset.shape[0])

    @property
    def context(self) -> int:
        """Windows the first layer sees (1: none)."""
        return self.input.context

    @property
    def width(self) -> int:
        """Columns of the host's feature rows: ``context`` stacked windows of ``n_in``."""
        return self.input.width

    @property
    def n_out(self) -> int:
        """Final outputs (classes, or regression outputs)."""
        return self.layers[-1].n_out

    def output_section(self) -> dict[str, Any]:
        """The model file's output section (task, labels, scale, post-processing)."""
        out: dict[str, Any] = {"task": self.task, "labels": list(self.labels), "scale": float(self.scale)}
        if self.units:
            out["units"] = self.units
        if self.task == "classification":
            out.update(reject_margin=int(self.reject_margin), reject_class=int(self.reject_class), vote=int(self.vote))
        return out


def quantize_multiplier(m: float, shift_min: int, shift_max: int = _MF.SHIFT_MAX) -> tuple[int, int]:
    """(M, n) with M in [2^14, 2^15) and M / 2^n closest to ``m`` (15 significant bits)."""
    if not (m > 0.0 and math.isfinite(m)):
        raise QuantizationError(f"multiplier {m!r} must be positive and finite")
    f, e = math.frexp(m)  # m = f * 2^e, 0.5 <= f < 1
    M = int(round(f * 32768.0))
    n = 15 - e
    if M == 32768:
        M, n = 16384, n - 1
    if n < shift_min:
        raise QuantizationError(f"multiplier {m:.6g} too large (needs shift {n} < {shift_min})")
    if n > shift_max:
        raise QuantizationError(f"multiplier {m:.3g} too small (needs shift {n} > {shift_max})")
    return M, n


def fit_input(
    X: np.ndarray, clip_percentile: tuple[float, float] = (0.1, 99.9), log_mask: np.ndarray | None = None,
    context: tuple[int, int] = (1, 1),
) -> InputQuant:
    """Input stage from calibration features: each (transformed) feature's percentile range -> int8.

    With temporal context ``(K, S)`` the rows are K stacked windows; the stage is fitted
    on the current window's columns and shared by every context slot (the device
    quantises each window once and keeps the int8 vectors).
    """
    from garment.models.reference import transform_features

    K, S = context
    n = X.shape[1] // K
    if n * K != X.shape[1]:
        raise QuantizationError(f"{X.shape[1]} columns are not {K} context slots")
    X = X[:, :n]
    if log_mask is not None:
        log_mask = np.asarray(log_mask, dtype=bool)[:n]
    X = transform_features(X, log_mask).astype(np.float64)
    lo = np.percentile(X, clip_percentile[0], axis=0)
    hi = np.percentile(X, clip_percentile[1], axis=0)
    off = np.clip(np.round((lo + hi) / 2.0), -_MF.OFFSET_MAX, _MF.OFFSET_MAX)
    half = np.maximum(np.maximum(hi - off, off - lo), 1.0)
    mult = np.empty(X.shape[1], dtype=np.int64)
    shift = np.empty(X.shape[1], dtype=np.int64)
    for i, r in enumerate(half):
        mult[i], shift[i] = quantize_multiplier(127.0 / r, _MF.IN_SHIFT_MIN)
    tr = np.zeros(X.shape[1], dtype=np.int64)
    if log_mask is not None:
        tr[np.asarray(log_mask, dtype=bool)] = _MF.TRANSFORM_LOG2
    return InputQuant(off.astype(np.int64), mult, shift, tr, K, S)


def quantize_dense(
    W: np.ndarray, b: np.ndarray, in_scale: float, in_zp: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8 weights and int32 bias (zero point folded in).

    Returns (weights int8, folded bias int64, acc_scale per output).
    """
    W = np.asarray(W, dtype=np.float64)
    amax = np.abs(W).max(axis=1)
    # An all-zero row (e.g. a class absent from a training fold) borrows the largest
    # scale of the others, so it does not coarsen the layer's common output scale.
    w_scale = np.where(amax > 0, amax / 127.0, (amax.max() / 127.0) if amax.max() > 0 else 1.0)
    wq = np.clip(np.round(W / w_scale[:, None]), -127, 127).astype(np.int8)
    acc_scale = in_scale * w_scale
    bq = np.round(np.asarray(b, dtype=np.float64) / acc_scale)
    folded = bq - in_zp * wq.astype(np.int64).sum(axis=1)
    if np.any(np.abs(folded) > _MF.BIAS_MAX):
        raise QuantizationError(
            f"bias {np.abs(folded).max():.3g} accumulator units exceeds 2^29: the bias dwarfs the weights"
        )
    return wq, folded.astype(np.int64), acc_scale


def _requant_params(acc_scale: np.ndarray, out_scale: float) -> tuple[np.ndarray, np.ndarray]:
    mult = np.empty(acc_scale.shape[0], dtype=np.int64)
    shift = np.empty(acc_scale.shape[0], dtype=np.int64)
    for j, a in enumerate(acc_scale):
        mult[j], shift[j] = quantize_multiplier(a / out_scale, _MF.SHIFT_MIN)
    return mult, shift


def quantize(
    net: FloatNet,
    X_calib: np.ndarray,
    *,
    clip_percentile: tuple[float, float] = (0.1, 99.9),
    act_percentile: float = 99.99,
    reject_margin: float = 0.0,
    reject_class: int = -1,
    vote: int = 1,
    units: str = "",
    features: dict[str, Any] | None = None,
    stim: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    context: tuple[int, int] = (1, 1),
) -> QuantizedModel:
    """Quantise ``net`` to int8, calibrating ranges on raw feature rows ``X_calib``.

    ``reject_margin`` is in float logit units (0 disables rejection); it is stored as
    the integer margin ``ceil(reject_margin / scale)``. ``vote`` is the length k of the
    majority vote over the last k decisions (1 = off).
    """
    from garment.models import reference  # local import: reference imports this module

    X_calib = np.asarray(X_calib)
    if X_calib.ndim != 2 or X_calib.shape[1] != net.n_in:
        raise QuantizationError(f"calibration features shape {X_calib.shape}, the model takes {net.n_in}")
    iq = fit_input(X_calib, clip_percentile, net.log_mask, context)
    step = iq.tiled(iq.step)
    first = net.layers[0]
    # z = (x - mean)/std with x ~= offset + xq * step  =>  fold into the first layer.
    W = first.weight * (step / net.std)[None, :]
    b = first.bias + first.weight @ ((iq.tiled(iq.offset) - net.mean) / net.std)
    floats = [(W, b, first.relu)] + [(L.weight, L.bias, L.relu) for L in net.layers[1:]]
    n_layers = len(floats)
    if n_layers > _MF.MAX_LAYERS:
        raise QuantizationError(f"{n_layers} layers; the format allows {_MF.MAX_LAYERS}")
    if not all(L.relu for L in net.layers[:-1]):
        raise QuantizationError("hidden layers must use ReLU")
    x_int = reference.quantize_input(X_calib, iq)
    in_scale, in_zp = 1.0, 0
    layers: list[QDense] = []
    for k, (Wf, bf, relu) in enumerate(floats):
        wq, bias, acc_scale = quantize_dense(Wf, bf, in_scale, in_zp)
        acc = x_int @ wq.astype(np.int64).T + bias
        last = k == n_layers - 1
        if last:
            out_scale = float(_REQ_HEADROOM * acc_scale.max())
            out_zp, bits = 0, 32
        else:
            h = np.maximum(acc * acc_scale, 0.0)
            hmax = float(np.percentile(h, act_percentile)) if h.size else 0.0
            out_scale = max(hmax / 255.0, float(_REQ_HEADROOM * acc_scale.max()))
            out_zp, bits = -128, 8
        mult, shift = _requant_params(acc_scale, out_scale)
        L = QDense(wq, bias, mult, shift, relu, bits, in_zp, out_zp, acc_scale, out_scale)
        layers.append(L)
        if not last:
            x_int = reference.dense(x_int, L)
            in_scale, in_zp = out_scale, out_zp
    scale = layers[-1].out_scale or 1.0
    rm = 0
    if net.task == "classification" and reject_margin > 0:
        rm = min(int(math.ceil(reject_margin / scale)), _MF.OUT32_MAX)
    qm = QuantizedModel(
        input=iq,
        layers=layers,
        task=net.task,
        labels=list(net.labels),
        scale=scale,
        units=units,
        reject_margin=rm,
        reject_class=reject_class,
        vote=vote,
        features=features,
        stim=stim if stim is not None else {"preset": "off", "params": {}},
        info=info or {},
    )
    return qm
