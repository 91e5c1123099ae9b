"""Separation filters for the garment's motor-unit stage, made from a calibration.

The garment runs each unit's filter on a few channels with a short delay line, in int16
(``garmentfw/mu_spec.py``).  For each decomposed unit this rebuilds its filter where the
garment can run it, the way convolution kernel compensation does on the whole grid: on the
baseline *as the garment filters it* (its fixed-point high-pass and notch, the host's bit-exact
twin), it takes the ``n_sub`` channels where the unit's spike-triggered potential is largest,
the extended observation of those channels over ``delays`` samples, and the filter
``f = R^-1 a`` (``R``: their covariance, ``a``: the mean observation at the unit's discharges,
at the lag where the unit is strongest).  The filter is quantised to int16 with the shifts
the stage's overflow rule allows; the threshold is the one whose integer detections (the
stage's own detector, :func:`.onboard.stage_discharges`) agree best with the decomposition's
discharges on the baseline.  Units that agree below ``min_roa`` there stay on the host.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from garment.decomposition.agreement import rate_of_agreement

from .onboard import GarmentUnit, spec, stage_discharges, stage_sources

#: Defaults: 16 channels x 8 delays = 128 taps per unit (on the phantom: 4 delays or 8 channels lose units).
N_SUB = 16
DELAYS = 8
MAX_LAG_S = 0.006
REFRACTORY_S = 0.015


@dataclass
class ExportedUnit:
    """A garment unit with where it came from and how it did on the baseline."""

    unit: GarmentUnit
    source_unit: int  # index in the decomposition
    baseline_roa: float  # its integer detections vs the decomposition's discharges on the baseline
    float_filter: np.ndarray  # (n_sub * delays,) the filter before quantisation, on filtered codes
    scale: float  # integer source = scale * float source (for the float twin's threshold)


def extended(x: np.ndarray, channels: list[int], delays: int) -> np.ndarray:
    """(n, len(channels) * delays): row ``t``, column ``j * delays + d`` = ``x[t - d, channels[j]]`` (zeros before 0)."""
    n = x.shape[0]
    cols = []
    for c in channels:
        col = x[:, c].astype(np.float64)
        for d in range(delays):
            cols.append(np.concatenate([np.zeros(d), col[: n - d]]) if d else col)
    return np.stack(cols, axis=1)


def garment_filtered(codes: np.ndarray, fs: int, mains_hz: int = 50) -> np.ndarray:
    """The garment's high-pass and notches (its quantised sections, ``FilterBank``'s defaults) on
    AFE codes (n, C), in floating point: within a few codes of the firmware's integers, which is
    all a calibration needs (the bit-exact twin, ``garment.features.filters.filter_block``, takes
    minutes for a 64-channel baseline)."""
    from scipy.signal import sosfilt

    from garment.features.filters import sections_to_sos, select_sections

    sos = sections_to_sos(select_sections(fs, mains_hz, hp=True, notch=True))
    return np.rint(sosfilt(sos, np.asarray(codes, np.float64), axis=0)).astype(np.int64)


def input_shift(x: np.ndarray) -> int:
    """The stage's input shift: the filtered codes' 99.99th percentile fits int16 with 2x margin."""
    top = float(np.percentile(np.abs(x), 99.99)) * 2.0
    return int(max(0, int(np.ceil(np.log2(max(top, 1.0) / 32767.0)))))


def _float_filter(x: np.ndarray, train: np.ndarray, channels: list[int], delays: int,
                  max_lag: int) -> tuple[np.ndarray, int] | None:
    xe = extended(x, channels, delays)
    r = xe.T @ xe / xe.shape[0]
    r += np.eye(r.shape[0]) * (1e-3 * np.trace(r) / r.shape[0])
    ri = np.linalg.inv(r)
    best = None
    for lag in range(max_lag + 1):
        t = train + lag
        t = t[(t >= delays) & (t < x.shape[0])]
        if t.size < 5:
            continue
        a = xe[t].mean(axis=0)
        score = float(a @ ri @ a)
        if best is None or score > best[0]:
            best = (score, lag, ri @ a)
    if best is None:
        return None
    return best[2], best[1]


def export_unit(x: np.ndarray, train: np.ndarray, fs: int, slot: int, in_shift: int, *, n_sub: int = N_SUB,
                delays: int = DELAYS, source_unit: int = 0) -> ExportedUnit | None:
    """One unit's garment filter from the garment-filtered baseline ``x`` (n, n_ch codes) and its discharges."""
    n, n_ch = x.shape
    train = np.asarray(train, np.int64)
    max_lag = int(round(MAX_LAG_S * fs))
    # channels: where its spike-triggered potential (over the lags the filter may read) is largest
    idx = train[(train + max_lag < n)][:, None] + np.arange(max_lag + 1)[None, :]
    if idx.shape[0] < 5:
        return None
    sta = x[idx].astype(np.float64).mean(axis=0)  # (lags, n_ch)
    energy = (sta ** 2).sum(axis=0)
    channels = sorted(int(c) for c in np.argsort(energy)[::-1][: min(n_sub, n_ch)])
    got = _float_filter(x, train, channels, delays, max_lag)
    if got is None:
        return None
    f, lag = got
    # int16 weights whose |w| sum to at most MAX_WEIGHT_SUM (rounding adds at most 0.5 per tap)
    gain = (spec.MAX_WEIGHT_SUM - f.size) / float(np.abs(f).sum())
    w = np.clip(np.rint(f * gain), -32768, 32767).astype(np.int16)
    scale = gain / 2.0 ** in_shift
    u = GarmentUnit(slot, fs, n_ch, channels, w.reshape(len(channels), delays), in_shift, lag,
                    int(round(REFRACTORY_S * fs)), 1)
    s = stage_sources([u], x)[0]
    at = train[(train + lag < n)] + lag
    heights = s[at]
    hi = float(np.median(heights)) if heights.size else 0.0
    if hi <= 0:
        return None
    best = (-1.0, 1)
    for q in np.linspace(0.25, 0.85, 13):
        thr = max(1, int(q * hi))
        found = stage_discharges(s, thr, u.refractory, lag)
        roa = rate_of_agreement(train, found, fs)[0] if found.size else 0.0
        if roa > best[0]:
            best = (roa, thr)
    u.threshold = best[1]
    if u.threshold >= 2 ** 31:
        return None
    return ExportedUnit(u, source_unit, float(best[0]), f, scale)


def export_units(x: np.ndarray, trains: list[np.ndarray], fs: int, *, max_units: int = spec.MAX_UNITS,
                 n_sub: int = N_SUB, delays: int = DELAYS, min_roa: float = 0.8) -> list[ExportedUnit]:
    """The garment's filter set: the ``max_units`` units whose integer filters agree best with
    the decomposition on the baseline (at least ``min_roa``), slots 0.. in that order."""
    x = np.asarray(x, np.int64)
    shift = input_shift(x)
    cands = []
    for k, tr in enumerate(trains):
        e = export_unit(x, tr, fs, 0, shift, n_sub=n_sub, delays=delays, source_unit=k)
        if e is not None and e.baseline_roa >= min_roa:
            cands.append(e)
    cands.sort(key=lambda e: -e.baseline_roa)
    out = cands[:max_units]
    for slot, e in enumerate(out):
        e.unit.unit = slot
    return out


def float_discharges(e: ExportedUnit, x: np.ndarray) -> np.ndarray:
    """The same unit on the host in floating point (the filter before quantisation, the threshold
    scaled to it): what quantising to the garment's int16 costs."""
    u = e.unit
    s = extended(np.asarray(x, np.float64), u.channels, u.delays) @ e.float_filter
    return stage_discharges(s * e.scale, u.threshold, u.refractory, u.lag)
