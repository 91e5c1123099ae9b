"""Convolutive blind source separation of monopolar HD-EMG into motor-unit discharge trains.

Pipeline (Negro et al. 2016, organised for speed): band-pass -> channel extension ->
whitening (noise-floor cut) -> rounds of block fixed-point ICA seeded at the samples of highest
activity, deflated against the units already accepted -> CoV-of-ISI refinement -> acceptance by
silhouette (SIL) and regularity -> peel-off of accepted units -> duplicate removal -> per unit:
discharges, SIL, PNR, rate, CoV of ISI, the action potential on every electrode and the
separation filter (usable on a live stream: ``apply_extended(filter, bandpassed, R)``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy.signal import butter, sosfiltfilt

from .agreement import rate_of_agreement
from .duplicates import unique_units
from .extension import apply_extended, extension_factor
from .fastica import fixed_point, orthogonalise
from .muap import spike_triggered_average
from .peel_off import peel_off, peel_sources
from .preprocess import bandpass, check_input
from .refine import refine
from .spikes import cov_isi, detect, mean_rate, peak_threshold, pnr
from .whitening import whiten


@dataclass(frozen=True)
class DecompositionOptions:
    """Settings of :func:`decompose`.

    Attributes:
        extension: delays per channel (None: ~1000 extended channels).
        batch: separation vectors iterated together per round.
        rounds: most rounds (a round that accepts no unit ends the search).
        max_iter: fixed-point iterations per round.
        refine_iter: CoV-of-ISI refinement iterations.
        sil_threshold: a source is a unit when its SIL reaches this.
        max_cov: ... and its CoV of ISI is below this (steady firing is 0.1-0.3; on the
            phantom every unit above 0.4 was a merge or a miss, RoA 0.75-0.84).
        rate_hz: plausible range of mean discharge rates.
        peel_off: subtract accepted units before seeding the next round.
        peel_sources: remove every other unit's leak from a unit's source at that unit's
            discharges before the final detection (:func:`.peel_off.peel_sources`).
        ica_stride: the fixed-point iteration uses every ``ica_stride``-th sample (refinement
            and detection use all of them).
    """

    extension: int | None = None
    batch: int = 24
    rounds: int = 6
    max_iter: int = 40
    refine_iter: int = 10
    sil_threshold: float = 0.9
    max_cov: float = 0.35
    rate_hz: tuple[float, float] = (3.0, 60.0)
    peel_off: bool = True
    peel_sources: bool = True
    ica_stride: int = 3


@dataclass
class MotorUnit:
    """One decomposed motor unit.

    Attributes:
        discharges: discharge samples (sorted, int64).
        sil: silhouette of the source's spike/noise split.
        pnr: pulse-to-noise ratio (dB).
        cov_isi: coefficient of variation of the inter-spike intervals.
        mean_rate: mean discharge rate (Hz).
        muap: (L, E) action potential on every electrode (uV; sample ``muap_offset`` = discharge).
        filter: (C, R) separation filter on the band-passed channels.
        properties: forward-model estimates (depth_mm, iz_mm, cv, lateral_mm, r2) when computed.
        scale: the filter's source is divided by this before detection ...
        threshold: ... and a discharge is a peak of ``s|s|`` above this (for :mod:`.apply`).
    """

    discharges: np.ndarray
    sil: float
    pnr: float
    cov_isi: float
    mean_rate: float
    muap: np.ndarray
    filter: np.ndarray
    properties: dict[str, float] = field(default_factory=dict)
    scale: float = 1.0
    threshold: float = 0.0


@dataclass
class Decomposition:
    """Result of :func:`decompose` for one recording."""

    fs: float
    n_samples: int
    units: list[MotorUnit]
    extension: int
    n_whitened: int
    seconds: float
    muap_offset: int
    labels: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def _seeds(act: np.ndarray, k: int, used: np.ndarray, guard: int) -> np.ndarray:
    """The ``k`` samples of highest activity, at least ``guard`` apart and not used before."""
    cand = np.argpartition(act, -min(act.size, 50 * k))[-min(act.size, 50 * k):]
    cand = cand[np.argsort(act[cand])[::-1]]
    picks: list[int] = []
    for c in cand:
        if used[c]:
            continue
        picks.append(int(c))
        used[max(0, c - guard) : c + guard + 1] = True
        if len(picks) == k:
            break
    return np.array(picks, dtype=np.int64)


def decompose(emg: np.ndarray, fs: float, labels: Sequence[str] | None = None,
              options: DecompositionOptions | None = None) -> Decomposition:
    """Decompose monopolar HD-EMG ``emg`` (n_samples, n_channels, microvolts) sampled at ``fs``.

    Raises:
        DecompositionInputError: too few channels, too low a rate, too short, flat channels.
    """
    opt = options or DecompositionOptions()
    t0 = time.perf_counter()
    check_input(emg, fs, labels)
    x = bandpass(emg, fs)
    c, n = x.shape
    r = opt.extension or extension_factor(c)
    wh = whiten(x, r)
    z = wh.z
    d = z.shape[1]
    used = np.zeros(n, bool)
    used[: r] = True  # extension edge
    accepted: list[tuple[np.ndarray, np.ndarray, float, float]] = []
    b = np.zeros((d, 0), np.float32)
    half = int(round(0.02 * fs))
    peel = int(round(0.03 * fs))
    stats: dict[str, Any] = {"rounds": 0, "candidates": 0, "duplicates": 0}
    empty = 0
    for _ in range(opt.rounds):
        act = np.einsum("ij,ij->i", z, z)
        seeds = _seeds(act, opt.batch, used, half)
        if seeds.size == 0:
            break
        stats["rounds"] += 1
        w = fixed_point(np.ascontiguousarray(z[:: opt.ica_stride]), z[seeds].T, b, opt.max_iter)
        w, spk, sil, cov = refine(z, w, fs, opt.refine_iter)
        stats["candidates"] += w.shape[1]
        got = 0
        for i in np.argsort(cov):
            rate = mean_rate(spk[i], fs)
            if sil[i] < opt.sil_threshold or cov[i] > opt.max_cov or not opt.rate_hz[0] <= rate <= opt.rate_hz[1]:
                continue
            if any(rate_of_agreement(a[1], spk[i], fs, tol_s=0.0005)[0] >= 0.3 for a in accepted):
                stats["duplicates"] += 1
                continue
            accepted.append((w[:, i].copy(), spk[i], float(sil[i]), float(cov[i])))
            b = np.concatenate([b, orthogonalise(w[:, i : i + 1], b)], axis=1)
            if opt.peel_off:
                peel_off(z, spk[i], peel)
            got += 1
        empty = 0 if got else empty + 1
        if empty >= 2:
            break
    keep = unique_units([a[1] for a in accepted], np.array([a[3] for a in accepted]), fs)
    hp = sosfiltfilt(butter(2, 10.0, btype="highpass", fs=fs, output="sos"), np.asarray(emg, np.float64), axis=0).T
    units: list[MotorUnit] = []
    if keep:
        wv = np.stack([accepted[i][0] for i in keep], axis=1).astype(np.float64)  # (D, K)
        filters = (wh.w.T @ wv).T.astype(np.float32)  # (K, C*R) on the band-passed channels
        sources = apply_extended(filters, x, r)  # every unit's source in one pass, from the unpeeled data
        scales = np.maximum(np.abs(sources).max(axis=1), 1e-12)
        first = [detect(sources[k] / scales[k], fs) for k in range(len(keep))]
        clean = peel_sources(sources / scales[:, None], [f[0] for f in first], half) if opt.peel_sources else None
        for k in range(len(keep)):
            src, scale = sources[k], float(scales[k])
            spk, sil = first[k]
            if clean is not None:
                # The peeled source times the discharges when they are at least as regular (the
                # refinement's criterion: a moving muscle's leak is no fixed waveform).  A unit
                # must still pass on its own source: one that passes only once peeled gained
                # true units at 10 %MVC but also a false one while pedalling.
                spk2, sil2 = detect(clean[k], fs)
                if spk2.size >= 10 and cov_isi(spk2, fs) <= cov_isi(spk, fs):
                    spk, sil = spk2, min(sil, sil2)
            if spk.size < 10 or sil < opt.sil_threshold:
                continue
            units.append(MotorUnit(spk, float(sil), pnr(src, spk), cov_isi(spk, fs), mean_rate(spk, fs),
                                   spike_triggered_average(hp, spk, fs), filters[k].reshape(c, r),
                                   scale=scale, threshold=peak_threshold(src / scale, spk, fs)))
    units.sort(key=lambda u: (u.discharges[0] if u.discharges.size else 0))
    from .muap import WINDOW_S

    dec = Decomposition(float(fs), n, units, r, d, 0.0, int(round(WINDOW_S[0] * fs)), list(labels or []), stats)
    dec.seconds = time.perf_counter() - t0
    return dec
