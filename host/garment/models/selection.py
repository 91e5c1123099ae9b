"""Decoder configurations and leave-one-subject-out model selection.

A *candidate* is a decoder configuration (features, temporal context, kind). For a
benchmark, every candidate is trained and scored per subject (that subject's own
train / test split); :func:`loso_select` then picks, for each subject, the candidate
with the best mean score over the *other* subjects, and reports the subject's score
under that pick. So no subject's score comes from a choice made on that subject: the
figures are what a decoder tuned on other people achieves on this one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from garment.models.reference import stack_context

#: Every feature of the spec: time domain, TD-PSD moments, AR(4) coefficients.
ALL_FEATURES = ("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4", "AR1", "AR2", "AR3", "AR4")
ALL7 = ALL_FEATURES[:7]
TD5 = ("MAV", "WL", "ZC", "SSC", "RMS")
#: The amplitude features and AR(4), without the threshold counts ZC and SSC.
AMP_AR = ("MAV", "WL", "RMS", "M2", "M4", "AR1", "AR2", "AR3", "AR4")
#: The correlations of every channel with its three next neighbours (CR1..CR3).
CR = ("CR1", "CR2", "CR3")
#: The amplitude features with the correlations, with and without AR(4).
AMP_CR = AMP_AR[:5] + CR
AMP_AR_CR = AMP_AR + CR
#: Every feature of the spec, the correlations included (what the 3DC benchmark computes).
SPEC_FEATURES = ALL_FEATURES + CR
#: The MLP's default L2 penalty (scikit-learn's alpha) in garment.models.train.
MLP_ALPHA = 1e-3


@dataclass(frozen=True)
class Candidate:
    """One decoder configuration."""

    kind: str
    features: tuple[str, ...]
    context: int = 1
    step: int = 1
    hidden: int = 32
    vote: int = 1
    alpha: float = MLP_ALPHA  # the MLP's L2 penalty

    @property
    def trained(self) -> "Candidate":
        """The same decoder before post-processing (one fit serves every vote length)."""
        return Candidate(self.kind, self.features, self.context, self.step, self.hidden, alpha=self.alpha)

    @property
    def estimator_params(self) -> dict[str, Any]:
        """Extra scikit-learn parameters of this candidate (for ``train(estimator_params=...)``)."""
        return {"alpha": self.alpha} if self.kind == "mlp" and self.alpha != MLP_ALPHA else {}

    @property
    def name(self) -> str:
        named = {ALL_FEATURES: "all11", ALL7: "all7", TD5: "td5", AMP_AR: "amp+ar", AMP_CR: "amp+cr",
                 AMP_AR_CR: "amp+ar+cr"}
        f = named.get(self.features, "+".join(self.features))
        c = f" ctx{self.context}x{self.step}" if self.context > 1 else ""
        k = f"mlp{self.hidden}" if self.kind == "mlp" else self.kind
        if self.kind == "mlp" and self.alpha != MLP_ALPHA:
            k += f" a{self.alpha:g}"
        v = f" vote{self.vote}" if self.vote > 1 else ""
        return f"{k} {f}{c}{v}"


VOTES = (1, 5, 9)


def default_candidates() -> list[Candidate]:
    """The grid the benchmarks select from: kind x features x context x majority vote
    (small: every trained cell is fitted per subject; votes reuse its decisions).

    LDA (shrinkage covariance) on TD5, all seven non-AR features and all eleven; the
    MLP (32 ReLU units, scikit-learn's default-sized L2 penalty) on seven and eleven,
    and a wider, strongly regularised MLP (64 units, alpha 1) on eleven, each without
    and with temporal context.
    """
    cells = [("lda", f, c) for f in (TD5, ALL7, ALL_FEATURES) for c in ((1, 1), (4, 1), (4, 2))]
    cells += [("mlp", f, c) for f in (ALL7, ALL_FEATURES) for c in ((1, 1), (4, 2))]
    out = []
    for kind, feats, (ctx, step) in cells:
        for v in VOTES:
            out.append(Candidate(kind, feats, ctx, step, vote=v))
    for ctx, step in ((1, 1), (4, 2)):
        for v in VOTES:
            out.append(Candidate("mlp", ALL_FEATURES, ctx, step, hidden=64, vote=v, alpha=1.0))
    return out


def extended_candidates() -> list[Candidate]:
    """:func:`default_candidates` plus the LDA cells that led a cross-validation on the
    3DC participants' ``train/`` files only (leave one repetition out; ``test/`` unread):
    the amplitude features and AR without ZC and SSC (``AMP_AR``) x context (1, 4x1, 3x2),
    and all eleven with context 3x2 and 6x1; the same with the neighbouring channels'
    correlations CR1..CR3 (``AMP_AR_CR``) x context (1, 4x1, 3x2), and the amplitude features
    with them but without AR (``AMP_CR``, context 3x2); each x vote (1, 5, 9)."""
    cells = [(AMP_AR, c) for c in ((1, 1), (4, 1), (3, 2))] + [(ALL_FEATURES, c) for c in ((3, 2), (6, 1))]
    cells += [(AMP_AR_CR, c) for c in ((1, 1), (4, 1), (3, 2))] + [(AMP_CR, (3, 2))]
    extra = [Candidate("lda", f, ctx, step, vote=v) for f, (ctx, step) in cells for v in VOTES]
    return default_candidates() + extra


def voted(decisions: np.ndarray, k: int) -> np.ndarray:
    """The device's majority vote over the last k decisions of one stream (class indices)."""
    from garment.models.reference import majority_vote

    return majority_vote(np.asarray(decisions), k)


def columns(all_names: Sequence[str], n_ch: int, want: Sequence[str]) -> np.ndarray:
    """Column indices of features ``want`` in channel-major rows of ``all_names`` per channel."""
    nf = len(all_names)
    return np.array([c * nf + list(all_names).index(f) for c in range(n_ch) for f in want], dtype=np.int64)


def stream_rows(X: np.ndarray, cols: np.ndarray, cand: Candidate) -> np.ndarray:
    """One recording's rows for a candidate: its feature columns, temporal context stacked."""
    return stack_context(X[:, cols], cand.context, cand.step)


def loso_select(scores: Mapping[Candidate, Mapping[str, float]], exclude: Callable[[str, str], bool] | None = None,
                ) -> dict[str, tuple[Candidate, float]]:
    """Per subject: the candidate best on the other subjects, and this subject's score under it.

    ``scores[candidate][subject]``; ``exclude(s, t)`` True keeps subject t out of s's
    selection (e.g. subjects that share recordings).
    """
    cands = list(scores)
    subjects = sorted(next(iter(scores.values())))
    out = {}
    for s in subjects:
        others = [t for t in subjects if t != s and not (exclude and exclude(s, t))]
        best = max(cands, key=lambda c: (np.mean([scores[c][t] for t in others]), -cands.index(c)))
        out[s] = (best, float(scores[best][s]))
    return out


def overall_best(scores: Mapping[Candidate, Mapping[str, float]]) -> Candidate:
    """The candidate with the best mean over every subject (the shipped default's source)."""
    cands = list(scores)
    return max(cands, key=lambda c: (np.mean(list(scores[c].values())), -cands.index(c)))


def table(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column plain-text table."""
    rows = list(rows)
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"  {a:<{w}}  {b}" for a, b in rows)
