"""Screen-guided training data and decoder training, free of any interface.

A session is a sequence of prompts (label, repetition) recorded as one BDF+ file with
an annotation per prompt. Windows that lie wholly inside a prompt (after a short
reaction time) get its label and its repetition as group, so the group
cross-validation of :func:`garment.models.train` never tests on a repetition it
trained on. The confusion matrix comes from leave-one-repetition-out int8 predictions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from garment.acquire import RecordingSink


@dataclass(frozen=True)
class Prompt:
    label: str
    rep: int
    onset_s: float  # seconds from the first recorded sample
    duration_s: float


@dataclass
class TrainPlan:
    labels: list[str]
    reps: int = 5
    hold_s: float = 4.0
    rest_s: float = 3.0
    countdown_s: int = 2
    kind: str = "lda"

    def check(self) -> None:
        if len(self.labels) < 2:
            raise ValueError("at least 2 labels are needed (e.g. rest,extend,flex)")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be different from each other")
        if self.reps < 2:
            raise ValueError("at least 2 repetitions are needed (cross-validation by repetition)")
        if self.hold_s <= 0.3 or self.rest_s < 0:
            raise ValueError("hold must be longer than 0.3 s and rest not negative")

    @property
    def total_s(self) -> float:
        return self.reps * len(self.labels) * (self.hold_s + self.rest_s + self.countdown_s)

    def sequence(self) -> list[tuple[int, str]]:
        """(repetition, label) in recording order."""
        return [(r, lab) for r in range(self.reps) for lab in self.labels]


class AnnotatedRecordingSink(RecordingSink):
    """:class:`garment.acquire.RecordingSink` plus prompt annotations in the BDF+ file."""

    def annotate(self, onset_s: float, duration_s: float, text: str) -> None:
        if self._writer is None:
            raise RuntimeError("the recording is not open")
        self._writer.annotate(onset_s, duration_s, text)


def parse_labels(text: str) -> list[str]:
    """``rest,extend,flex`` -> the labels (commas: space is the E-STOP key)."""
    return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]


def window_labels(
    n_samples: int, fs: int, window: int, increment: int, prompts: list[Prompt], settle_s: float = 0.3
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(window indices, labels, groups) of the windows wholly inside a prompt's hold
    (after ``settle_s`` of reaction time)."""
    ends = np.arange(window - 1, n_samples, increment, dtype=np.int64)
    idx: list[int] = []
    labels: list[str] = []
    groups: list[int] = []
    starts = ends - (window - 1)
    for p in prompts:
        a = int(round((p.onset_s + settle_s) * fs))
        b = int(round((p.onset_s + p.duration_s) * fs))
        sel = np.nonzero((starts >= a) & (ends < b))[0]
        idx.extend(sel.tolist())
        labels.extend([p.label] * len(sel))
        groups.extend([p.rep] * len(sel))
    order = np.argsort(np.asarray(idx, dtype=np.int64), kind="stable")
    return (np.asarray(idx, dtype=np.int64)[order], [labels[i] for i in order],
            np.asarray(groups, dtype=np.int64)[order])


@dataclass
class TrainResult:
    labels: list[str]
    n_windows: int
    n_groups: int
    cv_float: float | None
    cv_int8: float | None
    cv_agreement: float
    float_acc: float | None
    int8_acc: float | None
    agreement: float
    confusion: np.ndarray  # rows: true label, columns: int8 prediction (leave-one-repetition-out)
    model_bytes: int
    seconds: float
    summary: str = ""
    model: Any = None
    feature_config: Any = None
    model_path: Path | None = None
    warnings: list[str] = field(default_factory=list)


def confusion_matrix(true: list[str], pred: list[str], labels: list[str]) -> np.ndarray:
    pos = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(true, pred):
        if t in pos and p in pos:
            m[pos[t], pos[p]] += 1
    return m


def train_decoder(
    codes: np.ndarray,
    fs: int,
    prompts: list[Prompt],
    kind: str = "lda",
    progress: Callable[[str, float], None] | None = None,
) -> TrainResult:
    """Features (the device's integer features), group-CV training, int8 quantisation and a
    leave-one-repetition-out confusion matrix. CPU work: run it in a thread."""
    from garment.features.reference import FeatureConfig, compute_features
    from garment.models import train

    def say(stage: str, frac: float) -> None:
        if progress is not None:
            progress(stage, frac)

    t0 = time.perf_counter()
    x = np.asarray(codes)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError("no samples were recorded")
    n_ch = x.shape[1]
    cfg = FeatureConfig.default(fs, n_ch)
    say("computing features", 0.05)
    feats, _ends = compute_features(x.astype(np.int32), cfg)
    idx, labels, groups = window_labels(len(x), fs, cfg.window, cfg.increment, prompts)
    if len(idx) == 0:
        raise ValueError("no complete feature window inside any prompt: hold each prompt longer")
    X = feats[idx]
    present = sorted(set(labels))
    if len(present) < 2:
        raise ValueError("windows of at least 2 labels are needed")
    say("training and cross-validating", 0.2)
    model = train(X, labels, groups, kind=kind, feature_config=cfg)
    # leave-one-repetition-out int8 predictions for the confusion matrix
    ug = np.unique(groups)
    true: list[str] = []
    pred: list[str] = []
    warnings: list[str] = []
    lab_arr = np.asarray(labels)
    for i, g in enumerate(ug):
        say(f"confusion matrix: repetition {i + 1} of {len(ug)}", 0.4 + 0.5 * i / len(ug))
        te = groups == g
        tr = ~te
        if len(set(lab_arr[tr])) < 2:
            continue
        m = train(X[tr], lab_arr[tr], groups[tr], kind=kind, feature_config=cfg, cv=False)
        p = m.predict_int8(X[te])
        true.extend(lab_arr[te].tolist())
        pred.extend(m.labels[int(k)] if 0 <= int(k) < len(m.labels) else "?" for k in p)
    conf = confusion_matrix(true, pred, model.labels)
    worst = min(model.agreement, model.cv_agreement)
    if worst < 0.99:
        warnings.append(f"float and int8 decisions agree on only {100 * worst:.1f}% of windows "
                        "(cross-validated): quantisation changes the decoder")
    say("done", 1.0)
    return TrainResult(
        labels=list(model.labels), n_windows=len(idx), n_groups=int(len(ug)),
        cv_float=model.cv_accuracy, cv_int8=model.cv_int8_accuracy, cv_agreement=model.cv_agreement,
        float_acc=model.float_accuracy, int8_acc=model.int8_accuracy, agreement=model.agreement,
        confusion=conf, model_bytes=model.model_size_bytes, seconds=time.perf_counter() - t0,
        summary=model.summary(), model=model, feature_config=cfg, warnings=warnings,
    )
