"""Apply a calibration's filters to a live stream in batches, adapting them as the signal drifts.

Per batch (at most 100 ms): causal band-pass, every unit's source in one product with the
extended channels (R-1 samples of history carried over), peaks of ``s|s|`` above each unit's
threshold (the last few samples held back so a peak at the batch edge is judged with the
samples after it).  Adaptation:

- *whitening*: the extended covariance is a running average (time constant ``cov_tau_s``) and
  the precision ``P`` is recomputed from it every ``rewhiten_s``;
- *filters*: each discharge moves the unit's potential ``a`` toward the observation at it
  (time constant ``unit_tau`` discharges), the filter is ``P a``;
- *thresholds*: running centres of spike and noise peak heights, threshold half-way;
- *detection lag*: fatigue stretches the potentials about their discharges, so detections move
  later; each unit's reported discharges are corrected by the shift :mod:`.stretch` measures.

A unit is *lost* when it has not discharged for ``lost_after_s`` while a unit recruited after it
(:func:`recruitment_rank`) discharges (its source no longer separates) and *found* again at its
next discharge.

A filter can also drift onto another source and go on firing (a moving muscle): every
``check_s`` each unit's last ``quality_window_s`` is judged (:mod:`.quality`): the silhouette of
its ``s|s|`` peaks split at its threshold, the CoV of its inter-discharge intervals, and whether
its discharges have become those of another kept unit.  A unit that fails is *dropped* (reported
lost, its discharges held back), re-seeded with its calibration potential and judged on the
discharges it would report; passing again, it is *found*.

Kept only while it meets the field's own quality criteria, measured without truth
(:mod:`.quality`): a unit whose causal filter gives SIL < 0.9 or CoV of ISI > 0.4 on the
calibration baseline is never kept, and a tracked unit whose judged windows since it was kept
(the last 30 at most) have a median SIL < 0.9 or CoV > 0.3 is dropped (reason ``quality``, with
the figures in ``UnitEvent.detail``); found again only once 30 windows after the drop pass (optional
hysteresis, off by default: see :mod:`.quality`).  :attr:`kept` counts only units some check has a
verdict on in the last minute (a unit too sparse for a 5 s window: its last 30 s at the keep levels; a
unit firing a few times a minute is reported, not kept).  By the
size principle a unit must also go on firing while the units recruited after it fire (it has a
discharge within 100 ms of 90 % of theirs, :func:`.quality.size_principle`): a filter that matches
a moving muscle at some positions only misses the discharges at the others, with good SIL and CoV.

Calibrate on the task.  Measured on the HD phantom's cycling (60 rpm, the muscle sliding +-4 mm
under the grid, bursts to 35 %MVC): the units a 20 %MVC isometric hold gives are small,
low-threshold ones; while pedalling, larger units recruited in each burst swamp them, and their
potentials change with the muscle's position, so even a filter rebuilt from the true discharges on
the ride itself (8 delays, the best threshold) reaches RoA >= 0.9 for 2 of the 27 (16 delays: 3 of 9
tried).  Adapted, their filters drift onto the large units (a filter's RoA against the unit it
was calibrated on: median 8 % in the first 10 s, 1.6 % over a 10-minute ride).  Calibrated on the
first 30 s of the ride instead, the units are those that separate while the muscle moves, and the
tracker keeps them (see the README's Benchmarks).  What is left:
a unit whose potential changes with the muscle's position is detected only at the positions its
filter matches (the decomposition misses the same discharges), so it is kept at a lower RoA.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from garment.decomposition.extension import apply_extended
from garment.decomposition.spikes import MIN_ISI_S

from .calibrate import Calibration, extended_at, precision, toeplitz_covariance
from .quality import (QualityRules, UnitQuality, baseline_refusal, covered_mask, duplicate_pairs, running_refusal, size_principle,
                      window_quality)
from .stretch import POST, PRE, StretchLag

#: Longest batch (s) the tracker accepts: the live path's latency budget.
MAX_BATCH_S = 0.1


@dataclass(frozen=True)
class UnitEvent:
    """A unit lost or found at ``t_s`` (seconds from the start of the stream)."""

    t_s: float
    unit: int
    kind: str  # "lost" | "found"
    reason: str = ""  # lost: "silent" (larger units fire), "drift" (poor source), "duplicate" (of another unit),
    #                   "quality" (below the field's SIL / CoV criteria)
    detail: str = ""  # quality: the figures that failed, e.g. "CoV of ISI 0.38 > 0.3 (median of 5 windows)"


@dataclass
class BatchResult:
    """Output of one batch: discharges (absolute samples) per unit, events, and the batch's cost."""

    discharges: list[np.ndarray]
    events: list[UnitEvent]
    seconds: float
    end_sample: int
    active: list[bool] = field(default_factory=list)


def recruitment_rank(trains: list[np.ndarray]) -> np.ndarray:
    """Rank of each unit in recruitment order (0 = lowest threshold) from its baseline discharges:
    more discharges first, ties by the earlier first discharge."""
    n = np.array([t.size for t in trains], np.int64)
    first = np.array([t[0] if t.size else np.iinfo(np.int64).max for t in trains], np.int64)
    order = np.lexsort((first, -n))
    rank = np.empty(len(trains), np.int64)
    rank[order] = np.arange(len(trains))
    return rank


class MotorUnitTracker:
    """Live decomposition: a :class:`Calibration` applied and adapted batch by batch."""

    def __init__(self, cal: Calibration, *, adapt: bool = True, cov_tau_s: float = 10.0, rewhiten_s: float = 5.0,
                 unit_tau: float = 200.0, lost_after_s: float = 1.5, check_s: float = 1.0,
                 quality: QualityRules | None = QualityRules(), follow_stretch: bool = True,
                 stretch_tau: float = 40.0, judged_s: float = 60.0) -> None:
        self.cal = cal
        self.fs = cal.fs
        self.r = cal.delays
        self.adapt = adapt
        self.cov_tau_s = cov_tau_s
        self.rewhiten_every = max(1, int(round(rewhiten_s * self.fs)))
        self.gamma = 1.0 / unit_tau
        self.lost_after = int(round(lost_after_s * self.fs))
        self.bp = cal.filter_state.__class__(cal.n_channels, cal.fs)
        c, r = cal.n_channels, cal.delays
        blocks = cal.cov.reshape(c, r, c, r)
        self._lags = [np.ascontiguousarray(blocks[:, k, :, 0]) for k in range(r)]  # E[x(t-k) x(t)']
        self.p = precision(cal.cov)
        self.a = np.stack([u.a for u in cal.units]).astype(np.float32)  # (K, C*R)
        self.lags = np.array([u.lag for u in cal.units], np.int64)
        self.hi = np.array([u.spike_height for u in cal.units])
        self.lo = np.array([u.noise_height for u in cal.units])
        self.f = self.a @ self.p  # P is symmetric: rows are P a
        k = len(cal.units)
        self.hold = int(round(MIN_ISI_S * self.fs)) + 1
        self.min_isi = int(round(MIN_ISI_S * self.fs))
        self._hist = np.zeros((cal.n_channels, self.r - 1), np.float32)  # band-passed history for the delays
        self._tail = np.zeros((k, self.hold), np.float32)  # sources held back for edge peaks
        self._n = 0  # samples consumed
        self._last = np.full(k, -10**12, np.int64)  # last discharge (absolute sample)
        self._since_rewhiten = 0
        self.lost = np.zeros(k, bool)
        # Recruitment order (lower = recruited earlier), the size principle's ranking: by discharges on
        # the baseline, most first (a lower threshold fires longer and faster: on a ramp and in every
        # pedal burst), then by first discharge.  The first discharge alone misranks a pedalling
        # baseline (its first burst), and a high-threshold unit silent between strong bursts was
        # then reported lost each cycle.
        self.onset = recruitment_rank(cal.baseline_discharges)
        self.batch_seconds: list[float] = []
        self.batch_cpu_seconds: list[float] = []  # the thread's CPU time: the cost without the machine's load
        # Drift: the last quality window of every unit's s|s| (a ring) and of its discharges.
        self.rules = quality
        self.dropped = np.zeros(k, bool)  # lost by a failed quality check: its discharges held back
        self._a0 = self.a.copy()
        self._fa0 = np.einsum("ij,ij->i", self.f, self.a)
        self._hi0, self._lo0 = self.hi.copy(), self.lo.copy()
        self._check_every = max(1, int(round(check_s * self.fs)))
        self._since_check = 0
        wq = int(round((quality.window_s if quality else 0.0) * self.fs))
        self._wq = wq
        # the ring holds the slow window too: a unit too sparse for the quality window is judged on it
        self._wslow = max(wq, int(round((quality.slow_window_s or 0.0) * self.fs))) if quality else 0
        self._win = np.zeros((k, self._wslow), np.float32)
        self._wpos = 0
        self._wfill = 0
        self._recent: list[list[np.ndarray]] = [[] for _ in range(k)]
        self._passes = np.zeros(k, np.int64)  # checks in a row a dropped unit has passed
        self._admitted = np.zeros(k, bool)  # passed the keep levels since it was last kept: judged at the drop levels
        self.judged_s = judged_s
        self._judged_at = np.full(k, -1, np.int64)  # sample of the last check that gave a verdict on it
        # The field's criteria (truth-free): a filter poor on its own baseline is never kept; a kept
        # unit is judged on the median of its last judged windows.
        self._sils: list[list[float]] = [[] for _ in range(k)]
        self._covs: list[list[float]] = [[] for _ in range(k)]
        # Size principle: per check, hits[k, j] of the tots[k, j] discharges of kept unit j had one of unit
        # k's within ``cover_s`` (rows of a dropped unit start again at the drop).
        self._cover_hits: list[np.ndarray] = []
        self._cover_tots: list[np.ndarray] = []
        self._cover_counts: list[np.ndarray] = []  # per check, each kept unit's counted discharges (never reset)
        self._cover_ready = np.zeros(k, bool)  # enough references for a verdict
        self._cover_upto = 0  # later units' discharges before this sample have been counted
        #: why each unit is not kept now ("" while kept or only silent): the last drop's reason and figures
        self.why: list[str] = [""] * k
        self.refused = np.zeros(k, bool)  # failed on the baseline: never kept
        self._pending: list[UnitEvent] = []
        if quality is not None:
            for i, u in enumerate(cal.units):
                why = baseline_refusal(u.baseline_sil, u.baseline_cov, u.baseline_discharges, quality)
                if why:
                    self.refused[i] = self.dropped[i] = self.lost[i] = True
                    self.why[i] = why
                    self._pending.append(UnitEvent(0.0, i, "lost", "quality", why))
            # the baseline's verdict is the first: a unit that passed it is judged good from the start
            self._judged_at[~self.refused] = 0
        # Fatigue stretches every potential about its discharge: the detections move later (see .stretch).
        self.stretch = StretchLag(k, cal.n_channels, stretch_tau, references=cal.stas) if follow_stretch else None
        self._xh = np.zeros((cal.n_channels, PRE + int(self.lags.max(initial=0)) + self.hold + POST), np.float32)

    @property
    def kept(self) -> np.ndarray:
        """Units kept: not lost and judged good, i.e. with a verdict (its causal filter's on the baseline at
        the start, then the SIL / CoV median of enough windows of ``quality.min_discharges`` discharges, or the
        size principle's) in the last ``judged_s``.  A unit that fires too rarely for any check is reported
        but, once its baseline's verdict is ``judged_s`` old, not kept.  Without quality rules: not lost."""
        if self.rules is None:
            return ~self.lost
        recent = self._n - self._judged_at <= int(round(self.judged_s * self.fs))
        return ~self.lost & (self._judged_at >= 0) & recent

    @property
    def n_units(self) -> int:
        """Units tracked (lost ones included)."""
        return int(self.a.shape[0])

    def _adapt_whitening(self, xe: np.ndarray, nb: int) -> None:
        """Running lagged covariances from this batch; the precision is rebuilt from them every ``rewhiten_s``."""
        r = self.r
        m = xe.shape[1]
        beta = min(1.0, nb / (self.cov_tau_s * self.fs))
        for k in range(r):  # E[x(t-k) x(t)'] over the batch: R small products, no D x D work per batch
            self._lags[k] *= 1.0 - beta
            self._lags[k] += (beta / nb) * (xe[:, r - 1 - k : m - k] @ xe[:, r - 1 :].T)
        self._since_rewhiten += nb
        if self._since_rewhiten >= self.rewhiten_every:
            self._since_rewhiten = 0
            self.p = precision(toeplitz_covariance(self._lags))
            self._refilter(np.arange(self.n_units))

    def process(self, batch: np.ndarray) -> BatchResult:
        """Consume ``batch`` (n, C) microvolts, n <= 100 ms of samples; returns the discharges it finalised.

        Raises:
            ValueError: a batch longer than 100 ms or with a different channel count.
        """
        t0, c0 = time.perf_counter(), time.thread_time()
        nb, c = batch.shape
        if c != self.cal.n_channels:
            raise ValueError(f"calibrated on {self.cal.n_channels} channels, batch has {c}")
        if nb > MAX_BATCH_S * self.fs + 1e-9:
            raise ValueError(f"batch of {nb} samples is longer than {MAX_BATCH_S * 1000:g} ms at {self.fs:g} Hz")
        x = self.bp(batch)
        xe = np.concatenate([self._hist, x], axis=1)  # (C, R-1+nb)
        src = apply_extended(self.f, xe, self.r)[:, self.r - 1 :]  # (K, nb), sample j = batch sample j
        allsrc = np.concatenate([self._tail, src], axis=1)
        base = self._n - self.hold  # absolute sample of allsrc[:, 0]
        s2 = allsrc * np.abs(allsrc)
        thr = 0.5 * (self.hi + self.lo)
        final = allsrc.shape[1] - self.hold
        # Local maxima of s|s| above each unit's threshold, all units at once (candidates are few).
        mid = s2[:, 1:final + 1]
        cand = (mid > s2[:, :final]) & (mid >= s2[:, 2:final + 2]) & (mid > thr[:, None])
        ku, pu = np.nonzero(cand)
        pu = pu + 1
        out: list[np.ndarray] = []
        xs = np.concatenate([self._xh, x], axis=1)  # band-passed history for the STAs
        xs0 = self._n - self._xh.shape[1]  # absolute sample of xs[:, 0]
        for k in range(self.n_units):
            pk = pu[ku == k]
            h = s2[k, pk]
            keep: list[int] = []
            last = int(self._last[k])
            for i, p in enumerate(pk):  # a few per batch; the higher of two peaks closer than the shortest ISI wins
                if base + p - last < self.min_isi:
                    if keep and h[i] > s2[k, keep[-1]] and base + p - (base + keep[-1]) < self.min_isi:
                        keep[-1] = int(p)
                        last = base + int(p)
                    continue
                keep.append(int(p))
                last = base + int(p)
            pk = np.asarray(keep, np.int64)
            self._last[k] = last
            d = base + pk - self.lags[k]
            if self.stretch is not None:
                if pk.size:
                    self.stretch.add(k, xs, d - xs0)
                d = d - self.stretch.shift[k]
            out.append(d)
            if self.rules is not None and pk.size:
                self._recent[k].append(out[-1])
            if self.adapt and pk.size:
                self.hi[k] += (1.0 - (1.0 - self.gamma) ** pk.size) * (float(np.mean(s2[k, pk])) - self.hi[k])
        if self.adapt:
            self._adapt_units(out, xe)
            self._adapt_whitening(xe, nb)
        events = self._pending + self._lost_and_found(out, x)
        self._pending = []
        if self.rules is not None:
            self._push_window(s2[:, :final])
            self._since_check += nb
            if self._since_check >= self._check_every:
                self._since_check = 0
                events += self._check_quality(self._n + nb)
        out = [np.zeros(0, np.int64) if self.dropped[k] else d for k, d in enumerate(out)]
        self._hist = xe[:, -(self.r - 1):] if self.r > 1 else self._hist
        if self.stretch is not None:
            self._xh = xs[:, -self._xh.shape[1]:]
            self.stretch.refit_one()
        self._tail = allsrc[:, -self.hold:]
        self._n += nb
        dt = time.perf_counter() - t0
        self.batch_seconds.append(dt)
        self.batch_cpu_seconds.append(time.thread_time() - c0)
        return BatchResult(out, events, dt, self._n, [not lost for lost in self.lost])

    def _adapt_units(self, out: list[np.ndarray], xe: np.ndarray) -> None:
        """Move each unit's potential toward its observations at this batch's discharges."""
        first = self._n - (self.r - 1)  # absolute sample of xe[:, 0]
        changed = []
        shift = self.stretch.shift if self.stretch is not None else np.zeros(self.n_units, np.int64)
        for k, d in enumerate(out):
            t = d + self.lags[k] + shift[k] - first  # back to the detection sample
            t = t[(t >= self.r - 1) & (t < xe.shape[1])]
            if not t.size:
                continue
            obs = extended_at(xe, t, self.r).mean(axis=0)
            g = 1.0 - (1.0 - self.gamma) ** t.size
            # Keep the unit's scale (its source ~1 at a discharge): obs'Pa / a'Pa with Pa = f.
            proj = float(obs @ self.f[k]) / max(float(self.a[k] @ self.f[k]), 1e-12)
            if proj > 0:
                self.a[k] += g * (obs / proj - self.a[k])
                changed.append(k)
        if changed:
            self._refilter(np.asarray(changed))

    def _refilter(self, ks: np.ndarray) -> None:
        """Filters ``P a`` of units ``ks``, scaled so each unit's own potential still gives the same source value
        (its thresholds stay valid when ``P`` or ``a`` change)."""
        old = np.einsum("ij,ij->i", self.f[ks], self.a[ks])
        new = self.a[ks] @ self.p
        gain = old / np.maximum(np.einsum("ij,ij->i", new, self.a[ks]), 1e-12)
        self.f[ks] = new * gain[:, None]

    def _lost_and_found(self, out: list[np.ndarray], x: np.ndarray) -> list[UnitEvent]:
        """Lost: silent for ``lost_after_s`` while a unit recruited after it (higher threshold) discharges.

        By the size principle a unit cannot stop while larger units still fire, so that silence
        is a failure of its filter, not derecruitment.  Its next discharge finds it again.
        """
        now = self._n + x.shape[1]
        recent = now - self._last <= self.lost_after
        events: list[UnitEvent] = []
        for k, d in enumerate(out):
            larger = recent & (self.onset > self.onset[k]) & ~self.lost
            if self.dropped[k]:
                continue  # found again only by a passing quality check
            if self.lost[k] and d.size:
                self.lost[k] = False
                events.append(UnitEvent(float(d[0] / self.fs), k, "found"))
            elif not self.lost[k] and not recent[k] and bool(larger.any()):
                self.lost[k] = True
                events.append(UnitEvent(float(now / self.fs), k, "lost", "silent", "silent while larger units fire"))
        return events

    def _push_window(self, s2: np.ndarray) -> None:
        """Append this batch's final ``s|s|`` samples to the quality window (a ring)."""
        w = self._win.shape[1]
        n = s2.shape[1]
        if not w or not n:
            return
        if n >= w:
            self._win[:] = s2[:, -w:]
            self._wpos, self._wfill = 0, w
            return
        end = self._wpos + n
        if end <= w:
            self._win[:, self._wpos:end] = s2
        else:
            cut = w - self._wpos
            self._win[:, self._wpos:] = s2[:, :cut]
            self._win[:, : n - cut] = s2[:, cut:]
        self._wpos = end % w
        self._wfill = min(w, self._wfill + n)

    def _check_quality(self, now: int) -> list[UnitEvent]:
        """Judge every unit on the last quality window: drop the failing, find the recovered."""
        rules = self.rules
        assert rules is not None
        w = self._wq
        if self._wfill < w:
            return []
        ring = self._win.shape[1]
        win = self._win[:, (self._wpos - w + np.arange(w)) % ring]  # oldest first; sample 0 is `start`
        start = now - self.hold - w  # the window ends where the final samples end
        ws = min(self._wfill, self._wslow)
        slow_start = now - self.hold - ws
        recent: list[np.ndarray] = []
        slow: list[np.ndarray] = []
        for k in range(self.n_units):
            d = np.concatenate(self._recent[k]) if self._recent[k] else np.zeros(0, np.int64)
            d = d[d >= slow_start - self.lags[k]]
            self._recent[k] = [d] if d.size else []
            slow.append(d)
            recent.append(d[d >= start - self.lags[k]])
        thr = 0.5 * (self.hi + self.lo)
        q = [window_quality(win[k], recent[k], float(thr[k]), self.fs, rules) for k in range(self.n_units)]
        cover = self._count_cover(recent, start, now) if rules.cover_min is not None else [""] * self.n_units
        cover_now = [bool(c) for c in cover]
        if ws > w:
            # Too few discharges in the quality window (a unit firing in a few bursts): its last ``slow_window_s``
            # decide only whether it is counted kept (judged good at the keep levels); it is not dropped on it.
            idx = None
            for k in range(self.n_units):
                if q[k] is None and slow[k].size >= rules.min_discharges and not self.dropped[k]:
                    if idx is None:
                        idx = (self._wpos - ws + np.arange(ws)) % ring
                    qs = window_quality(self._win[k, idx], slow[k], float(thr[k]), self.fs, rules)
                    if (qs is not None and qs.sil >= rules.keep_sil and qs.cov <= rules.keep_cov
                            and not cover_now[k]):
                        self._judged_at[k] = now
        judged = np.array([x is not None for x in q])
        good = np.array([x is not None and x.ok for x in q])
        clean = np.array([x is not None and x.clean for x in q])
        # Of two units firing together the one with the less regular discharges goes (CoV, then SIL).
        score = np.array([(x.cov, -x.sil) if x is not None else (np.inf, 0.0) for x in q])
        dup = np.zeros(self.n_units, bool)
        for i, j in duplicate_pairs(recent, judged & (~self.dropped | clean), self.fs, rules):
            worse = i if (score[i, 0], score[i, 1]) > (score[j, 0], score[j, 1]) else j
            other = j if worse == i else i
            if self.dropped[other] and not self.dropped[worse]:
                worse = other  # a kept unit is never dropped for a unit on probation
            dup[worse] = True
        events: list[UnitEvent] = []
        t = float(now / self.fs)
        if rules.cover_min is not None:
            self._judged_at[self._cover_ready] = now  # the size principle has a verdict on it
        for k in range(self.n_units):
            if self.refused[k]:
                continue
            if not judged[k]:  # too few discharges for SIL / CoV; the size principle still judges it
                if not self.dropped[k] and cover[k]:
                    self._drop(k, t, "quality", cover[k], events)
                continue
            qk = q[k]
            assert qk is not None
            self._sils[k] = (self._sils[k] + [qk.sil])[-rules.keep_windows:]
            self._covs[k] = (self._covs[k] + [qk.cov])[-rules.keep_windows:]
            enough = len(self._sils[k]) >= (rules.keep_windows if self.dropped[k] else rules.keep_checks)
            if self._admitted[k] and rules.drift_windows > 1 and not self.dropped[k]:
                # hysteresis: an admitted unit drifts off only on the median of its last few windows
                sil = float(np.median(self._sils[k][-rules.drift_windows:]))
                cov = float(np.median(self._covs[k][-rules.drift_windows:]))
                if sil >= rules.sil_min and cov <= rules.cov_max:
                    good[k] = True
                else:
                    good[k] = False
                    qk = UnitQuality(sil, cov, qk.n, False, False)
            poor = (running_refusal(self._sils[k], self._covs[k], rules, bool(self._admitted[k])) if enough else "") or cover[k]
            if enough:
                self._judged_at[k] = now
                if not self.dropped[k] and not poor:
                    self._admitted[k] = True
            if not self.dropped[k] and (not good[k] or dup[k] or poor):
                reason = "drift" if not good[k] else "duplicate" if dup[k] else "quality"
                self._drop(k, t, reason, {"drift": f"SIL {qk.sil:.2f} / CoV of ISI {qk.cov:.2f} (drift levels "
                                                   f"{rules.sil_min:g} / {rules.cov_max:g})",
                                          "duplicate": "fires with another kept unit", "quality": poor}[reason], events)
            elif self.dropped[k]:
                self._passes[k] = self._passes[k] + 1 if clean[k] and not dup[k] else 0
                # kept again only on evidence that it follows the size principle (when units recruited after it fire)
                evidence = rules.cover_min is None or self._cover_ready[k] or not self._cover_possible(k)
                if self._passes[k] >= rules.found_checks and enough and not poor and evidence:
                    self.dropped[k] = False
                    self._admitted[k] = True  # passed the keep levels over keep_windows windows
                    self.lost[k] = False
                    self._passes[k] = 0
                    self.why[k] = ""
                    events.append(UnitEvent(t, k, "found"))
        return events

    def _drop(self, k: int, t: float, reason: str, why: str, events: list[UnitEvent]) -> None:
        """Drop unit ``k`` (reported lost with ``reason`` and the figures ``why``; its discharges held back)."""
        rules = self.rules
        assert rules is not None
        self.dropped[k] = True
        self.lost[k] = True
        self.why[k] = why
        self._admitted[k] = False
        events.append(UnitEvent(t, k, "lost", reason, why))
        self._sils[k], self._covs[k] = [], []  # found again only on windows after the drop
        for h, n in zip(self._cover_hits, self._cover_tots):
            h[k], n[k] = 0, 0
        if reason == "duplicate" or rules.reseed_drift:  # a duplicate is on another unit's source: start it again
            self._reseed(k)

    def _count_cover(self, recent: list[np.ndarray], start: int, now: int) -> list[str]:
        """Size principle (:func:`.quality.size_principle`): counts, for every pair of units, the discharges
        of kept unit ``j`` since the last check (those whose neighbourhood of +-``cover_s`` is reported in
        full) and how many had one of unit ``k``'s within ``cover_s``; returns per unit why it fails ("")
        over the last ``cover_checks`` checks.

        A unit whose filter matches its potential only at some positions of a moving muscle misses the
        discharges at the others; it has no false discharges, so its SIL and CoV stay good, but while it
        misses, the units recruited after it go on firing without it."""
        rules = self.rules
        assert rules is not None and rules.cover_min is not None
        cw = int(round(rules.cover_s * self.fs))
        hi = now - self.hold - int(round(0.05 * self.fs)) - cw  # later than this: lags and shift may still report
        lo = max(self._cover_upto, start + cw)
        k = self.n_units
        if hi > lo:
            self._cover_upto = hi
            kept = ~self.lost & ~self.refused
            part = [d[(d >= lo) & (d < hi)] if kept[j] else np.zeros(0, np.int64) for j, d in enumerate(recent)]
            tots = np.broadcast_to(np.array([p.size for p in part], np.int64), (k, k)).copy()
            hits = np.zeros((k, k), np.int64)
            if tots[0].any():
                allo = np.concatenate(part)
                who = np.repeat(np.arange(k), tots[0])
                for i in range(k):
                    if recent[i].size:
                        near = covered_mask(recent[i], allo, cw)
                        hits[i] = np.bincount(who[near], minlength=k)
            self._cover_hits.append(hits)
            self._cover_tots.append(tots)
            self._cover_counts.append(tots[0].copy())
            del self._cover_hits[:-rules.cover_checks], self._cover_tots[:-rules.cover_checks]
            del self._cover_counts[:-rules.cover_checks]
        if not self._cover_tots:
            return [""] * k
        why, self._cover_ready = size_principle(sum(self._cover_hits), sum(self._cover_tots), self.onset,
                                                ~self.dropped & ~self.refused, rules)
        return why

    def _cover_possible(self, k: int) -> bool:
        """Whether enough kept units recruited after unit ``k`` fire often enough (``cover_count`` discharges
        in the last ``cover_checks`` checks) for a size-principle verdict on it: a dropped unit is kept again
        only after that verdict when one is possible."""
        assert self.rules is not None
        if not self._cover_counts:
            return False
        n = sum(self._cover_counts)
        later = (self.onset > self.onset[k]) & ~self.dropped & ~self.refused & (n >= self.rules.cover_count)
        return int(later.sum()) >= self.rules.cover_refs

    def _reseed(self, k: int) -> None:
        """Start unit ``k`` again from its calibration potential and detection levels."""
        self.a[k] = self._a0[k]
        self.hi[k], self.lo[k] = self._hi0[k], self._lo0[k]
        f = self._a0[k] @ self.p
        # scaled as calibrated: its own potential gives the source value the thresholds expect
        self.f[k] = f * (self._fa0[k] / max(float(f @ self._a0[k]), 1e-12))
        self._recent[k] = []
        if self.stretch is not None:
            self.stretch.reset(k)

    def batch_ms(self, cpu: bool = False) -> dict[str, float]:
        """Median and 99th percentile of the batch times so far (ms): wall clock, or with ``cpu`` the
        thread's CPU time (what the batch costs one core, whatever else the machine runs)."""
        b = np.asarray(self.batch_cpu_seconds if cpu else self.batch_seconds) * 1000.0
        if not b.size:
            return {"median": 0.0, "p99": 0.0}
        return {"median": float(np.median(b)), "p99": float(np.percentile(b, 99))}
