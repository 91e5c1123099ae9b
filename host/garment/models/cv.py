"""Cross-validation groups that can score every class.

Windows of one group never sit on both sides of a split. Grouping by recording is the
honest default when every class occurs in several recordings; when each recording
holds one class (a guided session: one recording per movement), holding a recording
out means its class is never trained on, so such a fold can only be wrong. Then the
recordings are cut into contiguous time blocks (or repetitions) and fold k holds out
block k of every recording: every class is trained on and tested in every fold.
"""
from __future__ import annotations

from typing import Any

import numpy as np

SCHEMES = ("auto", "recording", "blocks")


def block_groups(recording: np.ndarray, n_blocks: int) -> np.ndarray:
    """Block index (0..n_blocks-1) of each window: its recording's windows, in time
    order, cut into ``n_blocks`` contiguous runs of (nearly) equal length."""
    recording = np.asarray(recording)
    out = np.zeros(len(recording), dtype=np.int64)
    for r in np.unique(recording):
        idx = np.flatnonzero(recording == r)
        out[idx] = (np.arange(len(idx)) * n_blocks) // max(len(idx), 1)
    return out


def unscorable_classes(labels: np.ndarray, groups: np.ndarray) -> list[str]:
    """Classes that some held-out group contains but the rest of the data does not."""
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    bad = set()
    for g in np.unique(groups):
        test = set(labels[groups == g].tolist())
        train = set(labels[groups != g].tolist())
        bad |= test - train
    return sorted(str(c) for c in bad)


def choose_groups(
    labels: np.ndarray, recording: np.ndarray, scheme: str = "auto", n_blocks: int = 5,
) -> tuple[np.ndarray, str, str | None]:
    """CV groups for ``scheme``; returns ``(groups, scheme used, warning or None)``.

    ``auto`` groups by recording when that can score every class, else by time blocks.
    A scheme that leaves some class untrained in a fold gets a warning naming it.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"cv scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if n_blocks < 2:
        raise ValueError(f"cv blocks must be >= 2, got {n_blocks}")
    rec = np.asarray(recording)
    used = scheme
    if scheme == "auto":
        used = "recording" if len(np.unique(rec)) >= 2 and not unscorable_classes(labels, rec) else "blocks"
    groups = rec if used == "recording" else block_groups(rec, n_blocks)
    bad = unscorable_classes(labels, groups)
    warn = None
    if bad:
        warn = (f"cross-validation by {used} cannot score class(es) {', '.join(bad)}: a held-out fold holds "
                f"windows of a class that no training fold has" + ("; try --cv blocks" if used == "recording" else ""))
    return groups, used, warn


def describe(groups: Any, used: str, n_blocks: int) -> str:
    """One line saying how CV was done."""
    n = len(np.unique(np.asarray(groups)))
    return f"by recording ({n} groups)" if used == "recording" else f"by {n_blocks} time blocks within each recording"
