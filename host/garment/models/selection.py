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

ALL_FEATURES = ("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4")
TD5 = ("MAV", "WL", "ZC", "SSC", "RMS")


@dataclass(frozen=True)
class Candidate:
    """One decoder configuration."""

    kind: str
    features: tuple[str, ...]
    context: int = 1
    step: int = 1
    hidden: int = 32
    vote: int = 1

    @property
    def trained(self) -> "Candidate":
        """The same decoder before post-processing (one fit serves every vote length)."""
        return Candidate(self.kind, self.features, self.context, self.step, self.hidden)

    @property
    def name(self) -> str:
        f = "all7" if self.features == ALL_FEATURES else ("td5" if self.features == TD5 else "+".join(self.features))
        c = f" ctx{self.context}x{self.step}" if self.context > 1 else ""
        k = f"mlp{self.hidden}" if self.kind == "mlp" else self.kind
        v = f" vote{self.vote}" if self.vote > 1 else ""
        return f"{k} {f}{c}{v}"


VOTES = (1, 5, 9)


def default_candidates() -> list[Candidate]:
    """The grid the benchmarks select from: kind x features x context x majority vote
    (small: every trained cell is fitted per subject; votes reuse its decisions)."""
    out = []
    for kind in ("lda", "mlp"):
        for feats in (TD5, ALL_FEATURES):
            for ctx, step in ((1, 1), (4, 1), (4, 2)):
                for v in VOTES:
                    out.append(Candidate(kind, feats, ctx, step, vote=v))
    return out


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
