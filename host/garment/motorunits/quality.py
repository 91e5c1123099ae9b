"""Is a tracked filter still on its unit?  The quality of a unit's last few seconds, and duplicates.

A filter that drifts onto another source keeps firing, so silence does not reveal it.  Three
signs do (measured on the HD phantom's cycling, where filters drift as the muscle moves):

- its ``s|s|`` peaks no longer split cleanly into discharges and noise: the silhouette of the
  split at the unit's threshold (as the decomposition's SIL) falls below 0.8;
- its discharges turn irregular (a mixture of sources): CoV of the inter-discharge intervals
  above 0.6;
- its discharges become those of another tracked unit (both filters on one source): rate of
  agreement >= 0.5 at +-0.5 ms and the best lag within 25 ms.

On 5 s windows of 2 min of phantom cycling (60 rpm, the muscle sliding +-4 mm), SIL < 0.8 or
CoV > 0.6 flagged none of the windows where a unit agreed with a true unit at RoA >= 0.8 and
57 % of those below 0.5; a dropped unit must pass the stricter levels (SIL >= 0.9, CoV <= 0.45)
three checks in a row to be found again.

Kept only while it meets the field's own criteria, measured without any truth (the levels are
the literature's, not fitted to the phantom):

- SIL >= 0.9: the acceptance level of Negro et al. 2016 (J Neural Eng 13:026027), the default
  of MUedit (Avrillon et al. 2024) and openhdemg; Holobar et al. 2014 (J Neural Eng 11:016008)
  give the equivalent PNR >= 30 dB (sensitivity > 90 %, false alarms < 2 % against intramuscular
  EMG).  PNR is not used here: this package's PNR (source power at the discharges over elsewhere,
  on the raw source, not CKC's pulse train) reads 15-30 dB for units of every quality.
- CoV of the inter-discharge intervals <= 0.3 on steady parts: a common exclusion level of
  HD-EMG studies (missed or extra discharges raise it; the steady discharges of a correctly
  identified unit are 0.1-0.3, see the tutorial of Del Vecchio et al. 2020, J Electromyogr
  Kinesiol 53:102426); the decomposition's refinement minimises it and accepts at 0.35.
- on the calibration baseline, the unit's causal filter (what the tracker applies, not the
  offline decomposition's) must give SIL >= 0.9 and CoV <= 0.4 (the baseline includes the ramps,
  not a steady part: the upper end of the field's 0.3-0.4) with at least 10 discharges, or the
  unit is never kept (reason ``quality``);
- while tracking, the median over its judged windows since it was kept (the last 30 at most,
  judged from the fifth) must stay at SIL >= 0.9 and CoV <= 0.3, or it is dropped (reason
  ``quality``); it is kept again only once 30 windows after the drop pass.  One 5 s window is
  noisy (a good unit's CoV reaches 0.46 on the phantom's hold, and the median of the last five
  crossed 0.3 for 5 of 21 good units), the median since it was kept is not; a unit dropped and
  kept again has lost discharges in between, so it is kept again only on as much evidence
  as a user judging a recording would want (30 s), not after a few good windows.
  Hysteresis, a common practice for accept / reject decisions on a running figure, is an option (``drop_sil`` /
  ``drop_cov``, ``drift_windows``; off by default): once a unit has passed the keep levels it is
  dropped only when the median clearly fails (e.g. SIL < 0.85 or CoV > 0.35) and the drift check
  judges the median of its last 5 windows, while admission stays at 0.9 / 0.3.  Measured on the
  phantom's 10-minute rides of ``benchmarks/bench_motorunits.py`` (tracked with ``QualityRules(drop_sil=0.85,
  drop_cov=0.35, drift_windows=5)``, with the kept rule below): fatiguing,
  the kept units' median RoA 87.9 -> 93.2 % and 4 -> 5 of 8 >= 90 % (a good unit whose CoV median
  wanders about 0.3 is no longer held back 30 s at every crossing); fresh, a unit at RoA 76 % whose
  CoV median sits at 0.30 stays kept (6/6 -> 6/7 >= 90 %): it trades one goal for the other, so it is
  not the default;
- kept (:attr:`.tracker.MotorUnitTracker.kept`) means judged good: a unit is counted kept only while
  some check has a verdict on it in the last minute: the median of its 5 s windows, the size
  principle, or, for a unit with fewer than ``min_discharges`` in 5 s (a high-threshold unit firing
  in a few bursts), its last 30 s at the keep levels (``slow_window_s``; it is not dropped on them).
  A unit firing too rarely for any check (18 discharges in 10 minutes on the fatiguing ride) is
  reported, but not counted kept.

The size principle (Henneman): a unit recruited earlier cannot stop while units recruited after it
discharge.  A filter that matches its unit only at some positions of a moving muscle (the phantom's
pedalling: the muscle slides +-4 mm under the grid) misses the discharges at the other positions;
it has no false discharges, so SIL (0.95-1.0) and CoV (0.21-0.27) stay good and the criteria
above keep it (RoA 49 % on a 10-minute ride).  While it misses, the units recruited after it go on
firing without it: kept only while it has a discharge within 100 ms of at least 90 % of theirs
(median over the units after it, two or more with 20 or more discharges in the last minute;
:func:`size_principle`).  Measured (not fitted) on the phantom's fresh ride: that unit 70-82 %, every
unit at RoA >= 90 % 97 % or more.  90 %: a unit that misses more than a tenth of its discharges
cannot agree with its true train at the 90 % the field accepts.  Recruitment order is the tracker's
(:func:`.tracker.recruitment_rank`, by baseline discharges), so a unit ranked too late (it missed
discharges on the baseline too) or a false unit fires while units ranked before it do not; it
would fail them all, so a reference counts only while the units before it that pass cover it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.signal import find_peaks

from garment.decomposition.spikes import MIN_ISI_S, cov_isi

if TYPE_CHECKING:
    from .calibrate import Calibration


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the drift check (see the module doc for where they come from)."""

    window_s: float = 5.0
    #: a unit with fewer than ``min_discharges`` in ``window_s`` is counted kept only while its last
    #: ``slow_window_s`` pass the keep levels (None: never); it is not dropped on them
    slow_window_s: float | None = 30.0
    sil_min: float = 0.8
    cov_max: float = 0.6
    dup_roa: float = 0.5
    min_discharges: int = 10
    #: a dropped unit is found again after this many checks in a row at the stricter levels below
    found_checks: int = 3
    found_sil: float = 0.9
    found_cov: float = 0.45
    #: re-seed a drifted unit with its calibration potential (a duplicate always is)
    reseed_drift: bool = False
    dup_lag_s: float = 0.025
    dup_tol_s: float = 0.0005
    #: kept only while the median of its judged windows since it was kept (the last ``keep_windows``
    #: at most, judged from ``keep_checks``) meets these; kept again after ``keep_windows`` passing (module doc)
    keep_sil: float = 0.9
    keep_cov: float = 0.3
    keep_checks: int = 5
    keep_windows: int = 30
    #: hysteresis (off by default, see the module doc for why): once a unit has passed the keep levels, it is
    #: dropped only when the median fails these looser ones (None: the keep levels, e.g. 0.85 / 0.35)
    drop_sil: float | None = None
    drop_cov: float | None = None
    #: hysteresis of the drift check: an admitted unit is judged on the median of its last this many windows
    drift_windows: int = 1
    #: the unit's causal filter on the calibration baseline must meet these, or it is never kept
    baseline_sil: float = 0.9
    baseline_cov: float = 0.4
    baseline_discharges: int = 10
    #: size principle (:func:`size_principle`): kept only while it discharges within ``cover_s`` of at
    #: least ``cover_min`` (the median over the units recruited after it, ``cover_refs`` or more of them,
    #: each with ``cover_count`` discharges or more in the last ``cover_checks`` checks); None: off
    cover_min: float | None = 0.9
    cover_s: float = 0.1
    cover_count: int = 20
    cover_refs: int = 2
    cover_checks: int = 60


def baseline_refusal(sil: float, cov: float, n: int, rules: QualityRules) -> str:
    """Why a unit's causal filter on its baseline is not good enough to keep ("" when it is)."""
    if n < rules.baseline_discharges:
        return f"{n} discharges on the baseline < {rules.baseline_discharges}"
    if sil < rules.baseline_sil:
        return f"baseline SIL {sil:.2f} < {rules.baseline_sil:g}"
    if cov > rules.baseline_cov:
        return f"baseline CoV of ISI {cov:.2f} > {rules.baseline_cov:g}"
    return ""


def kept_baseline_trains(cal: Calibration, rules: QualityRules | None = QualityRules()) -> list[np.ndarray]:
    """The baseline discharges of the units the tracker can keep (those whose causal filter passes
    :func:`baseline_refusal`): the neural drive's full scale counts only the units that can add to it."""
    return [t for u, t in zip(cal.units, cal.baseline_discharges)
            if rules is None or not baseline_refusal(u.baseline_sil, u.baseline_cov, u.baseline_discharges, rules)]


def covered_mask(train: np.ndarray, others: np.ndarray, within: int) -> np.ndarray:
    """Which of ``others`` (discharge samples) have a discharge of ``train`` (sorted) within ``within`` samples."""
    if not train.size or not others.size:
        return np.zeros(others.shape, bool)
    i = np.searchsorted(train, others)
    before = np.abs(others - train[np.clip(i - 1, 0, train.size - 1)])
    after = np.abs(train[np.clip(i, 0, train.size - 1)] - others)
    return np.minimum(before, after) <= within


def size_principle(hits: np.ndarray, totals: np.ndarray, rank: np.ndarray, kept: np.ndarray,
                   rules: QualityRules) -> tuple[list[str], np.ndarray]:
    """Which units break the size principle: a unit recruited earlier cannot stop while units recruited
    after it discharge.  ``hits[k, j]`` of the ``totals[k, j]`` discharges of unit ``j`` had one of unit
    ``k``'s within ``cover_s``; ``rank``: recruitment order; ``kept``: units that may be references.

    A unit's share is the median over the references recruited after it (each with ``cover_count``
    discharges or more; ``cover_refs`` or more of them, else no verdict); below ``cover_min`` it fails.
    A reference must itself be covered by the units recruited before it that pass (median share >=
    ``cover_min``): a unit ranked too late (its baseline count was low because it missed discharges) or
    a false unit fires while the units ranked before it do not, and would otherwise fail them all.  The
    two judgements are iterated to a fixed point.  Returns (why each unit fails, "" when it does not;
    whether each unit has the ``cover_refs`` references a verdict needs, passing or not)."""
    k = rank.size
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(totals >= rules.cover_count, hits / np.maximum(totals, 1), np.nan)
    np.fill_diagonal(share, np.nan)
    later = rank[None, :] > rank[:, None]  # later[i, j]: j recruited after i
    ref = kept.copy()
    ok = np.ones(k, bool)
    med = np.full(k, np.nan)
    nref = np.zeros(k, np.int64)
    for _ in range(2 * k + 2):
        use = later & ref[None, :] & np.isfinite(share)
        nref = use.sum(axis=1)
        med = np.array([np.median(share[i, use[i]]) if nref[i] >= rules.cover_refs else np.nan for i in range(k)])
        ok = ~(med < rules.cover_min)
        before = later.T & (ok & kept)[None, :] & np.isfinite(share.T)  # before[j, i]: i recruited before j, passing
        col = np.array([np.median(share.T[j, before[j]]) if before[j].any() else np.inf for j in range(k)])
        new = kept & (col >= rules.cover_min)
        if (new == ref).all():
            break
        ref = new
    why = ["" if ok[i] else (f"fires at {100 * med[i]:.0f} % of the discharges of the units recruited after it "
                             f"(median of {nref[i]}) < {100 * rules.cover_min:.0f} % (size principle, within "
                             f"{1000 * rules.cover_s:g} ms)") for i in range(k)]
    return why, nref >= rules.cover_refs


def running_refusal(sils: list[float], covs: list[float], rules: QualityRules, admitted: bool = False) -> str:
    """Why the median of a unit's judged windows (the last ``keep_windows`` at most) fails ("" when it
    passes): the keep levels, or for a unit ``admitted`` (it has passed them since it was last kept) the
    looser drop levels (hysteresis)."""
    sil = float(np.median(sils[-rules.keep_windows:])) if sils else 0.0
    cov = float(np.median(covs[-rules.keep_windows:])) if covs else float("inf")
    n = min(len(sils), rules.keep_windows)
    lo_sil = rules.drop_sil if admitted and rules.drop_sil is not None else rules.keep_sil
    hi_cov = rules.drop_cov if admitted and rules.drop_cov is not None else rules.keep_cov
    if sil < lo_sil:
        return f"SIL {sil:.2f} < {lo_sil:g} (median of {n} windows)"
    if cov > hi_cov:
        return f"CoV of ISI {cov:.2f} > {hi_cov:g} (median of {n} windows)"
    return ""


@dataclass(frozen=True)
class UnitQuality:
    """One unit's window: silhouette, CoV of ISI, discharges, whether it passes (``ok``: kept;
    ``clean``: good enough to be found again)."""

    sil: float
    cov: float
    n: int
    ok: bool
    clean: bool


def split_sil(s2: np.ndarray, threshold: float, fs: float) -> float:
    """Silhouette of the ``s|s|`` peaks split at ``threshold`` (as the decomposition's SIL)."""
    pk, _ = find_peaks(s2, distance=max(1, int(round(MIN_ISI_S * fs))))
    h = s2[pk]
    hi, lo = h[h > threshold], h[h <= threshold]
    if not (hi.size and lo.size):
        return 1.0 if hi.size else 0.0
    ch, cl = float(hi.mean()), float(lo.mean())
    within = float(((hi - ch) ** 2).sum())
    between = float(((hi - cl) ** 2).sum())
    return (between - within) / max(within, between, 1e-30)


def window_quality(s2: np.ndarray, discharges: np.ndarray, threshold: float, fs: float,
                   rules: QualityRules) -> UnitQuality | None:
    """Quality of one unit from its ``s|s|`` over the window and its discharges in it; None when it
    discharged fewer than ``rules.min_discharges`` times (no verdict: silence is judged elsewhere)."""
    if discharges.size < rules.min_discharges:
        return None
    sil = split_sil(s2, threshold, fs)
    cov = cov_isi(discharges, fs)
    return UnitQuality(sil, cov, int(discharges.size), sil >= rules.sil_min and cov <= rules.cov_max,
                       sil >= rules.found_sil and cov <= rules.found_cov)


def agreement(a: np.ndarray, b: np.ndarray, fs: float, rules: QualityRules) -> float:
    """Rate of agreement of two discharge trains at their best lag (within ``dup_lag_s``), +-``dup_tol_s``."""
    if not a.size or not b.size:
        return 0.0
    lag = int(round(rules.dup_lag_s * fs))
    tol = max(1, int(round(rules.dup_tol_s * fs)))
    d = (b[None, :] - a[:, None]).ravel()
    d = d[np.abs(d) <= lag + tol]
    if not d.size:
        return 0.0
    hist = np.bincount(d + lag + tol, minlength=2 * (lag + tol) + 1)
    c = np.convolve(hist, np.ones(2 * tol + 1, np.int64), mode="same")[tol : tol + 2 * lag + 1]
    m = int(c.max())  # pairs within the tolerance of the best lag (at most one per discharge here)
    m = min(m, a.size, b.size)
    return m / float(a.size + b.size - m)


def duplicate_pairs(trains: list[np.ndarray], judged: np.ndarray, fs: float, rules: QualityRules) -> list[tuple[int, int]]:
    """Pairs (i < j) of ``judged`` units whose trains agree at ``rules.dup_roa`` or more."""
    idx = np.flatnonzero(judged)
    out = []
    for n, i in enumerate(idx):
        for j in idx[n + 1 :]:
            if agreement(trains[i], trains[j], fs, rules) >= rules.dup_roa:
                out.append((int(i), int(j)))
    return out
