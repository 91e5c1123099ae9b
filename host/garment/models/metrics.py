"""Offline decoder metrics as the field reports them (LibEMG's ``OfflineMetrics``).

Definitions follow LibEMG (Eddy et al., "LibEMG: an open source library to facilitate
the exploration of myoelectric control", IEEE Access 2023), ``extract_offline_metrics``:

* rejection rate (REJ_RATE): share of windows the decoder rejected (decision -1);
* then, over the windows that were not rejected:
* classification accuracy (CA): share of decisions equal to the truth;
* active error (AER): share of wrong decisions among those that are not the null
  (no-motion / rest) class;
* instability (INS): share of consecutive decisions that differ from the previous one.

Inputs are class indices (or labels) per window in time order; -1 (or ``"<rejected>"``)
marks a rejected window.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: How a rejected window is marked among string labels.
REJECTED = "<rejected>"


def offline_metrics(
    truth: Sequence[Any] | np.ndarray, decisions: Sequence[Any] | np.ndarray, null_class: Any = None,
    streams: Sequence[Any] | np.ndarray | None = None,
) -> dict[str, float | None]:
    """CA, AER, INS and REJ_RATE of per-window decisions.

    ``null_class``: the no-motion label (AER is None without one, or when every kept
    decision is the null class). ``streams``: a stream / recording id per window, so
    that instability never counts the jump between two recordings.
    """
    t = np.asarray(truth)
    d = np.asarray(decisions)
    if t.shape != d.shape:
        raise ValueError(f"{t.shape[0]} labels but {d.shape[0]} decisions")
    n = len(t)
    if n == 0:
        raise ValueError("no windows to score")
    rej = (d == -1) if np.issubdtype(d.dtype, np.number) else (d == REJECTED)
    keep = ~rej
    tk, dk = t[keep], d[keep]
    out: dict[str, float | None] = {"REJ_RATE": float(rej.mean())}
    out["CA"] = float(np.mean(tk == dk)) if len(tk) else None
    active = dk != null_class if null_class is not None else np.zeros(len(dk), dtype=bool)
    out["AER"] = float(np.mean(tk[active] != dk[active])) if null_class is not None and active.any() else None
    if len(dk) > 1:
        change = dk[1:] != dk[:-1]
        if streams is not None:
            s = np.asarray(streams)[keep]
            same = s[1:] == s[:-1]
            out["INS"] = float(change[same].mean()) if same.any() else None
        else:
            out["INS"] = float(change.mean())
    else:
        out["INS"] = None
    return out
