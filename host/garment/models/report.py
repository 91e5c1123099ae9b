"""Float-versus-int8 agreement report: does quantisation change the decoder's decisions?"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from garment.models import reference
from garment.models.quantize import FloatNet, QuantizedModel


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination (1 - SSE/SST; 0 when y is constant and pred differs)."""
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    sst = float(((y - y.mean()) ** 2).sum())
    sse = float(((y - pred) ** 2).sum())
    if sst == 0.0:
        return 1.0 if sse == 0.0 else 0.0
    return 1.0 - sse / sst


@dataclass
class AgreementReport:
    """Per-window comparison of the float model and its int8 twin on the same windows.

    Classification: ``agreement`` is the share of windows with identical decisions
    (argmax, before rejection and vote), ``float_score``/``int8_score`` accuracies (when
    labels are given). Regression: ``agreement`` is the R^2 of the int8 outputs
    against the float outputs (1.0 = identical), the scores are R^2 against the
    targets, ``max_abs_diff`` the largest |float - int8| in output units.
    """

    task: str
    metric: str
    n_windows: int
    agreement: float
    float_score: float | None
    int8_score: float | None
    max_abs_diff: float | None = None
    n_classes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for JSON provenance)."""
        return asdict(self)

    def format(self) -> str:
        """Human-readable one-paragraph summary."""
        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{100.0 * v:.2f}%"

        if self.task == "classification":
            lines = [
                f"windows: {self.n_windows}, classes: {self.n_classes}",
                f"identical decisions float vs int8: {pct(self.agreement)}",
                f"accuracy float: {pct(self.float_score)}  int8: {pct(self.int8_score)}",
            ]
            if self.float_score is not None and self.int8_score is not None:
                lines.append(f"int8 - float: {100.0 * (self.int8_score - self.float_score):+.2f} pp")
        else:
            def num(v: float | None) -> str:
                return "n/a" if v is None else f"{v:.4f}"

            lines = [
                f"windows: {self.n_windows}",
                f"R^2 int8 vs float outputs: {num(self.agreement)}  max |diff|: {num(self.max_abs_diff)}",
                f"R^2 float: {num(self.float_score)}  int8: {num(self.int8_score)}",
            ]
        return "\n".join(lines)


def compare_predictions(
    task: str, float_pred: np.ndarray, int8_pred: np.ndarray, y: np.ndarray | None = None, n_classes: int | None = None
) -> AgreementReport:
    """Report from already computed per-window predictions (class indices or values)."""
    float_pred = np.asarray(float_pred)
    int8_pred = np.asarray(int8_pred)
    n = int(float_pred.shape[0])
    if task == "classification":
        agree = float(np.mean(float_pred == int8_pred)) if n else 1.0
        fs = float(np.mean(float_pred == y)) if y is not None and n else None
        qs = float(np.mean(int8_pred == y)) if y is not None and n else None
        return AgreementReport(task, "accuracy", n, agree, fs, qs, None, n_classes)
    agree = r2_score(float_pred, int8_pred)
    fs = r2_score(y, float_pred) if y is not None else None
    qs = r2_score(y, int8_pred) if y is not None else None
    mad = float(np.abs(float_pred - int8_pred).max()) if n else 0.0
    return AgreementReport(task, "r2", n, agree, fs, qs, mad, None)


def agreement_report(
    net: FloatNet, qm: QuantizedModel, X: np.ndarray, y: np.ndarray | None = None
) -> AgreementReport:
    """Run both models on feature rows ``X`` and compare (labels / targets ``y`` optional).

    For classification ``y`` holds class indices (positions in ``qm.labels``).
    """
    return compare_predictions(
        net.task, net.predict(X), reference.predict(qm, X), y, qm.n_out if net.task == "classification" else None
    )
