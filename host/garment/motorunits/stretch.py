"""Keep a unit's detection lag current while its potential stretches (a fatiguing muscle).

As a muscle fatigues its fibres conduct slower and every unit's potential lengthens about the
moment it starts (the discharge, at the innervation zone).  The tracker detects a unit at a
feature of its potential some way after the discharge, so that feature, and with it the reported
discharge time, moves later by ``(alpha - 1) * (distance from the origin)`` while the filter stays
perfectly on its source (per-window RoA stays high, one lag for a whole ride does not).

Each unit keeps a spike-triggered average (STA) of the band-passed channels around its reported
discharges (an exponential average, ``tau`` discharges); its reference is the STA at the
calibration's baseline discharges (:func:`sta`), or else its first ``ref_discharges`` live.  Periodically the current STA is fitted by the reference stretched by ``alpha`` about
the reference's origin (where its energy first rises) and shifted by ``e`` samples; ``e`` is how
far the detections have moved from the discharges, and the tracker subtracts it.  Causal: only
discharges already reported enter the STA.
"""
from __future__ import annotations

import numpy as np

#: STA window relative to the reported discharge (samples): [-PRE, POST).
PRE = 80
POST = 16
#: stretch factors and shifts (samples) tried.
ALPHAS = np.round(np.arange(0.94, 1.321, 0.01), 3)
MAX_SHIFT = 12
#: least correlation of the fitted reference with the current STA for its shift to count.
MIN_CORR = 0.9
#: channels fitted (those with the most energy in the reference).
FIT_CHANNELS = 16
#: the origin: where the reference's energy first reaches this share of its peak.
ONSET_SHARE = 0.05


def sta(x: np.ndarray, at: np.ndarray) -> np.ndarray | None:
    """Mean window [-PRE, POST) of ``x`` (C, n) at columns ``at`` (None when none fits)."""
    at = np.asarray(at, np.int64)
    at = at[(at >= PRE) & (at + POST <= x.shape[1])]
    if not at.size:
        return None
    return x[:, at[:, None] + np.arange(-PRE, POST)[None, :]].mean(axis=1).astype(np.float32)


class StretchLag:
    """Per-unit STA, reference and current detection shift (samples) of ``k`` units on ``c`` channels."""

    def __init__(self, k: int, c: int, tau: float = 40.0, ref_discharges: int = 100,
                 references: list[np.ndarray | None] | None = None) -> None:
        self.w = PRE + POST
        self.sta = np.zeros((k, c, self.w), np.float32)
        self.count = np.zeros(k, np.int64)
        self.ref: list[np.ndarray | None] = [None] * k  # (FIT_CHANNELS, w + 2*MAX_SHIFT) per alpha, built once
        self.ref_ch: list[np.ndarray | None] = [None] * k
        self.shift = np.zeros(k, np.int64)
        self.fit_corr = np.zeros(k)
        self.gamma = 1.0 / tau
        self.ref_n = ref_discharges
        self._next = 0
        for j, r in enumerate(references or []):
            if r is not None:
                self.sta[j] = r
                self.count[j] = self.ref_n
                self._make_reference(j)

    def add(self, k: int, x: np.ndarray, at: np.ndarray) -> None:
        """Add the windows of ``x`` (C, n) at columns ``at`` (the reported discharges) to unit ``k``'s STA."""
        obs = sta(x, at)
        if obs is None:
            return
        at = at[(at >= PRE) & (at + POST <= x.shape[1])]
        n = int(self.count[k])
        if n < self.ref_n:  # plain mean until the reference is made
            self.sta[k] += (obs - self.sta[k]) * (at.size / (n + at.size))
        else:
            self.sta[k] += (1.0 - (1.0 - self.gamma) ** at.size) * (obs - self.sta[k])
        self.count[k] = n + at.size
        if n < self.ref_n <= self.count[k]:
            self._make_reference(k)

    def _make_reference(self, k: int) -> None:
        """Unit ``k``'s reference stretched by every alpha about its origin, padded for the shifts."""
        s = self.sta[k]
        e = (s ** 2).sum(axis=1)
        ch = np.argsort(e)[::-1][:FIT_CHANNELS]
        en = (s[ch] ** 2).sum(axis=0)
        origin = float(np.argmax(en >= ONSET_SHARE * en.max()))
        tau = np.arange(-MAX_SHIFT, self.w + MAX_SHIFT, dtype=np.float64)
        grid = np.arange(self.w, dtype=np.float64)
        out = np.empty((ALPHAS.size, ch.size, tau.size), np.float32)
        for i, a in enumerate(ALPHAS):
            src = origin + (tau - origin) / a
            for j, c in enumerate(ch):
                out[i, j] = np.interp(src, grid, s[c], left=0.0, right=0.0)
        self.ref[k] = out
        self.ref_ch[k] = ch

    def refit_one(self) -> None:
        """Refit the next unit with a reference (round-robin: one unit per call keeps batches short)."""
        k_all = len(self.ref)
        for _ in range(k_all):
            k = self._next
            self._next = (self._next + 1) % k_all
            if self.ref[k] is not None and self.count[k] >= self.ref_n + 20:
                self._fit(k)
                return

    def _fit(self, k: int) -> None:
        ref, ch = self.ref[k], self.ref_ch[k]
        assert ref is not None and ch is not None
        s = self.sta[k][ch]  # (F, w)
        s = s - s.mean()
        # windows of the stretched references: shift e compares s(t) with ref(t + e)
        win = np.lib.stride_tricks.sliding_window_view(ref, self.w, axis=2)  # (A, F, 2*MS+1, w)
        num = np.einsum("afew,fw->ae", win, s)
        den = np.sqrt(np.einsum("afew,afew->ae", win, win)) * (float(np.sqrt((s * s).sum())) + 1e-12) + 1e-12
        corr = num / den
        i, j = np.unravel_index(int(np.argmax(corr)), corr.shape)
        self.fit_corr[k] = float(corr[i, j])
        best = int(j) - MAX_SHIFT
        # A noisy average (a weak unit, other units' potentials in it) must not move a unit: only a
        # confident fit counts, and only when it is 2 or more samples away (+-1 is the fit's jitter).
        if self.fit_corr[k] >= MIN_CORR and abs(best - int(self.shift[k])) >= 2:
            self.shift[k] = best

    def reset(self, k: int) -> None:
        """Unit ``k`` re-seeded on its calibration potential: its STA starts again (the reference stays)."""
        self.shift[k] = 0
        if self.ref[k] is None:
            self.sta[k] = 0.0
            self.count[k] = 0
