"""Host integer reference of the int8 decoder: bit-identical to ``garmentfw.int8net``.

Every function here is a numpy (int64) transcription of the arithmetic defined in
``garmentfw/model_format.py``; golden vectors in ``models/golden/`` pin the device and
this module to the same integers. Vectorised over windows, so scoring 10 minutes of
windows takes milliseconds.

The rounding rule: ``requantize(v, M, n) = floor((v * M + 2^(n-1)) / 2^n)`` (round to
nearest, ties toward +infinity). The device evaluates it with 32-bit words only;
:func:`requantize_split32` replays those exact steps and checks that every
intermediate fits a signed 32-bit word.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from garment.contracts import load_contract

if TYPE_CHECKING:
    from garment.models.quantize import InputQuant, QDense, QuantizedModel

_MF = load_contract("model_format")
_I32_MIN = -(1 << 31)
_I32_MAX = (1 << 31) - 1


def requantize(v: np.ndarray | int, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """floor((v * mult + 2^(shift-1)) / 2^shift), elementwise, in int64 (|v| < 2^31)."""
    v = np.asarray(v, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    return (v * mult + np.left_shift(np.int64(1), shift - 1)) >> shift


def requantize_split32(v: int, mult: int, shift: int) -> int:
    """The device's 32-bit evaluation of :func:`requantize`, step by step (scalar).

    Raises OverflowError if any intermediate leaves the signed 32-bit range; used by
    tests to prove the viper code never overflows on a 32-bit MCU.
    """

    def chk(x: int) -> int:
        if not _I32_MIN <= x <= _I32_MAX:
            raise OverflowError(f"intermediate {x} exceeds int32 (v={v}, M={mult}, n={shift})")
        return x

    chk(v)
    if shift >= 17:
        q = chk((v & 0xFFFF) * mult)
        u = chk(chk((v >> 16) * mult) + (q >> 16))
        return (chk(u + (1 << (shift - 17)))) >> (shift - 16)
    c = _MF.INPUT_CLAMP
    d = max(-c, min(c, v))
    return chk(chk(d * mult) + (1 << (shift - 1))) >> shift


def log2c(x: np.ndarray) -> np.ndarray:
    """The TRANSFORM_LOG2 input transform (piecewise-linear log2, 4 fractional bits), int64.

    ``v = max(x, 0) + 1``, ``e = floor(log2 v)``; result ``16 e + (mantissa bits)``.
    Applied after the 31-bit clamp, so the result is in [0, 495].
    """
    F = _MF.LOG_FRAC_BITS
    v = np.maximum(np.clip(np.asarray(x), _MF.FEATURE_MIN, _MF.FEATURE_MAX).astype(np.int64), 0) + 1
    e = (np.frexp(v.astype(np.float64))[1] - 1).astype(np.int64)  # exact: v <= 2^30
    f = np.where(e >= F, v >> np.maximum(e - F, 0), v << np.maximum(F - e, 0)) & ((1 << F) - 1)
    return (e << F) + f


def transform_features(X: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Clamp to 31 bits and apply :func:`log2c` to the masked columns (int64 out).

    This is what the float model is trained on and what the device's input stage
    quantises, so the transform itself never differs between them.
    """
    x = np.clip(np.asarray(X), _MF.FEATURE_MIN, _MF.FEATURE_MAX).astype(np.int64)
    if mask is not None and np.any(mask):
        x = x.copy()
        x[:, mask] = log2c(x[:, mask])
    return x


def quantize_input(X: np.ndarray, iq: "InputQuant") -> np.ndarray:
    """Raw int32 feature rows -> int8 values (as int64), as the device does.

    Rows are one window (``n_in`` columns) or ``context`` stacked windows (the
    per-feature stage applies to every slot).
    """
    X = np.atleast_2d(X)
    k = X.shape[1] // len(iq.offset)
    tile = (lambda a: np.tile(np.asarray(a), k)) if k > 1 else (lambda a: np.asarray(a))
    shift = tile(iq.shift)
    x = transform_features(X, tile(iq.transform) == _MF.TRANSFORM_LOG2)
    d = x - tile(iq.offset)
    c = _MF.INPUT_CLAMP
    d = np.where(shift < 17, np.clip(d, -c, c), d)  # invisible in the result; as on the device
    return np.clip(requantize(d, tile(iq.mult), shift), -128, 127)


def stack_context(X: np.ndarray, context: int, step: int) -> np.ndarray:
    """Rows of one continuous stream (from reset) -> temporal-context rows.

    Row t becomes ``[X[t], X[t-S], ..., X[t-(K-1)S]]``; windows before the first count
    as the first, exactly as the device's context ring after a reset.
    """
    X = np.asarray(X)
    if context <= 1:
        return X
    t = np.arange(len(X))
    idx = np.maximum(t[:, None] - step * np.arange(context)[None, :], 0)
    return X[idx].reshape(len(X), context * X.shape[1])


def dense(x: np.ndarray, layer: "QDense") -> np.ndarray:
    """One layer: int32 accumulate, requantise, zero point, clamp (int64 array out)."""
    acc = x @ layer.weights.astype(np.int64).T + layer.bias
    lo, hi = layer.clamp_range()
    return np.clip(requantize(acc, layer.mult, layer.shift) + layer.out_zp, lo, hi)


def forward(qm: "QuantizedModel", X: np.ndarray) -> np.ndarray:
    """Final int32 outputs (logits or regression ints) for feature rows X (n, n_in)."""
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[None, :]
    if X.shape[1] != qm.width:
        raise ValueError(f"features have {X.shape[1]} columns, the model takes {qm.width}"
                         + (f" ({qm.context} context windows of {qm.n_in})" if qm.context > 1 else ""))
    h = quantize_input(X, qm.input)
    for L in qm.layers:
        h = dense(h, L)
    return h


def argmax_margin(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax (lowest index wins a tie) and margin top1 - top2 per row."""
    logits = np.asarray(logits, dtype=np.int64)
    best = logits.argmax(axis=1)
    if logits.shape[1] < 2:
        return best, np.zeros(len(logits), dtype=np.int64)
    part = np.sort(logits, axis=1)
    return best, part[:, -1] - part[:, -2]


def reject(best: np.ndarray, margin: np.ndarray, reject_margin: int, reject_class: int = -1) -> np.ndarray:
    """Replace decisions whose margin is below ``reject_margin`` by ``reject_class``."""
    return np.where(np.asarray(margin) < reject_margin, reject_class, best)


def majority_vote(decisions: np.ndarray, k: int) -> np.ndarray:
    """Majority over the last k decisions (fewer at the start); a tie goes to the most
    recent of the tied decisions. Sequential, exactly as the device's ring buffer."""
    decisions = np.asarray(decisions, dtype=np.int64)
    if k <= 1:
        return decisions.copy()
    out = np.empty_like(decisions)
    ring: deque[int] = deque(maxlen=k)
    counts: dict[int, int] = {}
    for t, d in enumerate(decisions.tolist()):
        if len(ring) == k:
            old = ring[0]
            counts[old] -= 1
        ring.append(d)
        counts[d] = counts.get(d, 0) + 1
        best = max(counts.values())
        for c in reversed(ring):
            if counts[c] == best:
                out[t] = c
                break
    return out


def decide(qm: "QuantizedModel", X: np.ndarray) -> np.ndarray:
    """What ``Int8Net.run`` returns for each row of X, in order, from a fresh reset.

    Classification: argmax -> rejection -> majority vote. Regression: output 0.
    """
    logits = forward(qm, X)
    if qm.task != "classification":
        return logits[:, 0].copy()
    best, margin = argmax_margin(logits)
    d = reject(best, margin, qm.reject_margin, qm.reject_class) if qm.reject_margin > 0 else best
    return majority_vote(d, qm.vote)


def predict(qm: "QuantizedModel", X: np.ndarray) -> np.ndarray:
    """Per-window int8 prediction without post-processing: argmax, or output 0 * scale."""
    logits = forward(qm, X)
    if qm.task == "classification":
        return logits.argmax(axis=1)
    return logits[:, 0] * qm.scale


class Int8Reference:
    """Stateful per-window twin of ``garmentfw.int8net.Int8Net`` (same ``run`` contract)."""

    def __init__(self, qm: "QuantizedModel") -> None:
        self.qm = qm
        self.reset()

    def reset(self) -> None:
        """Forget the history: temporal context and decisions (majority vote)."""
        self._ctx: list[np.ndarray] = []
        self._hist: deque[int] = deque(maxlen=max(1, self.qm.vote))
        self.out = np.zeros(self.qm.n_out, dtype=np.int64)
        self.argmax = 0
        self.margin = 0
        self.decision = 0

    def run(self, x: np.ndarray) -> int:
        """One window: class index after rejection and vote, or regression output 0."""
        x = np.asarray(x)
        K, S = self.qm.context, self.qm.input.context_step
        if K > 1:  # the stream so far, from reset, as the device's context ring sees it
            self._ctx.append(x)
            self._ctx = self._ctx[-((K - 1) * S + 1):]
            hist = self._ctx
            x = np.concatenate([hist[max(len(hist) - 1 - k * S, 0)] for k in range(K)])
        self.out = forward(self.qm, x[None, :])[0]
        if self.qm.task != "classification":
            return int(self.out[0])
        b, m = argmax_margin(self.out[None, :])
        self.argmax, self.margin = int(b[0]), int(m[0])
        d = self.argmax
        if self.margin < self.qm.reject_margin:
            d = self.qm.reject_class
        self._hist.append(d)
        if self.qm.vote > 1:
            d = int(majority_vote(np.array(self._hist), self.qm.vote)[-1])
        self.decision = d
        return d
