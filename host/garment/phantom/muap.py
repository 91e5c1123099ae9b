"""Motor-unit action potentials of one muscle: per-unit spatial profiles and sampled templates.

Each unit gets a depth in the muscle, an end-plate scatter, a size and a conduction velocity
(CV): bigger, later-recruited units have more fibres (larger potentials), wider territories and
faster fibres.  Profiles are computed once in space (see :mod:`.volume_conductor`); a template
at a given CV is the profile read along ``x = x0 + v t``, so slowing the CV (fatigue) stretches
every MUAP in time and compresses the spectrum in proportion.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .afe import sinc3_smooth
from .montage import MuscleSite
from .motor_units import MotorUnitPool
from .volume_conductor import DX_MM, bipolar_profiles

#: Profiles are cut where |g| < this fraction of the unit's peak (energy lost < 0.3 %).
SUPPORT_THRESHOLD = 0.04
#: Longest profile kept (mm); deep units' long, tiny tails are tapered off beyond it.
MAX_SPAN_MM = 100.0
#: Sub-sample spike-time resolution of template banks (phases per sample).
PHASES = 8
#: Oversampling used to apply the AFE's decimation filter to templates.
OVERSAMPLE = 4


@dataclass
class MuscleMuaps:
    """Calibrated spatial MUAP profiles of one muscle (microvolts).

    Attributes:
        dx: spatial step (mm).
        prof: (U, G) each unit's profile starting at its support start, zero-padded.
        span_mm: (U,) support length of each profile.
        cv: (U,) fresh conduction velocity of each unit (m/s == mm/ms).
        depth_mm: (U,) depth below the skin (fat included).
        far_prof: (G2,) profile of a typical unit of this muscle seen from a neighbouring
            electrode (deeper, smoother), calibrated for ``far_weight``.
        far_span_mm: support of ``far_prof``.
        far_weight: (U,) per-unit amplitude of the far-field (crosstalk) template.
        cv_far: conduction velocity used for the far template (m/s).
        onset_mm: (U,) where each profile first exceeds 10 % of its peak (visible onset).
    """

    dx: float
    prof: np.ndarray
    span_mm: np.ndarray
    cv: np.ndarray
    depth_mm: np.ndarray
    far_prof: np.ndarray
    far_span_mm: float
    far_weight: np.ndarray
    cv_far: float
    onset_mm: np.ndarray

    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self.prof.shape[0])


def _support(g: np.ndarray, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut each profile to where it matters, taper the ends; return (profiles, spans)."""
    a = np.abs(g)
    peak = a.max(axis=1, keepdims=True)
    above = a > SUPPORT_THRESHOLD * peak
    first = above.argmax(axis=1)
    last = g.shape[1] - 1 - above[:, ::-1].argmax(axis=1)
    max_n = int(round(MAX_SPAN_MM / dx))
    centre = a.argmax(axis=1)
    # Too long (deep units): keep MAX_SPAN_MM around the peak.
    lo = np.maximum(first, np.minimum(centre - max_n // 2, last - max_n))
    hi = np.minimum(last, lo + max_n)
    width = hi - lo + 1
    out = np.zeros((g.shape[0], int(width.max())))
    for u in range(g.shape[0]):
        seg = g[u, lo[u] : hi[u] + 1].copy()
        t = max(2, seg.size // 10)  # cosine taper over 10 % at each end: no steps in time
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(t) / t)
        seg[:t] *= ramp
        seg[-t:] *= ramp[::-1]
        out[u, : seg.size] = seg
    return out, width * dx


def build_muscle_muaps(
    site: MuscleSite,
    pool: MotorUnitPool,
    rng: np.random.Generator,
    cv_mean: float = 4.0,
    cv_range: float = 1.4,
) -> MuscleMuaps:
    """Draw unit properties for a muscle and compute its calibrated MUAP profiles.

    Amplitudes are calibrated (Campbell's theorem: variance of a sum of spike trains =
    sum of rate x template energy) so that the muscle's own channel has RMS
    ``site.mvc_rms_uV`` at drive 1.0.

    Args:
        site: muscle and electrode geometry.
        pool: the muscle's motor-neuron pool (unit sizes, peak rates).
        rng: random generator for depths and CV scatter.
        cv_mean: mean conduction velocity (m/s).
        cv_range: CV difference between the largest and smallest units (m/s).
    """
    u_n = pool.n_units
    rank = np.linspace(0.0, 1.0, u_n)
    depth = site.fat_mm + rng.uniform(1.0, site.thickness_mm, u_n)
    spread = 1.0 + 1.5 * rank  # bigger units: wider territory and end-plate zone
    cv = cv_mean + cv_range * (rank - 0.5) + rng.normal(0.0, 0.15, u_n)
    cv = np.clip(cv, 2.8, 5.8)
    amp = pool.size**0.7  # more fibres -> larger potential (sub-linear: territory spreads)
    _, g = bipolar_profiles(depth, spread)
    prof, span = _support(g * amp[:, None], DX_MM)
    # Energy of each unit's time waveform at its CV: int g(x)^2 dx / v.
    energy = (prof**2).sum(axis=1) * DX_MM / (cv * 1000.0)
    scale = site.mvc_rms_uV / np.sqrt(np.sum(pool.pfr * energy))
    prof *= scale
    # Crosstalk: a typical unit from the middle of the muscle, seen through extra tissue.
    far_depth = site.fat_mm + 0.5 * site.thickness_mm + 12.0
    _, gf = bipolar_profiles(np.array([far_depth]), 3.0)
    far_prof, far_span = _support(gf, DX_MM)
    cv_far = float(np.median(cv))
    far_energy = float((far_prof**2).sum() * DX_MM / (cv_far * 1000.0))
    # Normalise so that crosstalk at MVC has the own channel's RMS (the matrix then scales it).
    w = amp / np.sqrt(np.sum(pool.pfr * amp**2) * far_energy / site.mvc_rms_uV**2)
    a = np.abs(prof)
    onset = (a > 0.1 * a.max(axis=1, keepdims=True)).argmax(axis=1) * DX_MM
    return MuscleMuaps(DX_MM, prof, span, cv, depth, far_prof[0], float(far_span[0]), w, cv_far, onset)


def _read_profiles(prof: np.ndarray, dx: float, x_mm: np.ndarray) -> np.ndarray:
    """Linear interpolation of row-wise profiles at positions ``x_mm`` (U, ...); zero outside."""
    u_n, g_n = prof.shape
    pos = x_mm / dx
    i0 = np.floor(pos).astype(np.int64)
    w = pos - i0
    ok0 = (i0 >= 0) & (i0 < g_n)
    ok1 = (i0 + 1 >= 0) & (i0 + 1 < g_n)
    rows = np.arange(u_n).reshape((u_n,) + (1,) * (x_mm.ndim - 1))
    v0 = np.where(ok0, prof[rows, np.clip(i0, 0, g_n - 1)], 0.0)
    v1 = np.where(ok1, prof[rows, np.clip(i0 + 1, 0, g_n - 1)], 0.0)
    return v0 * (1.0 - w) + v1 * w


def template_length(span_mm: np.ndarray | float, cv: np.ndarray | float, cv_factor: float, fs: float) -> int:
    """Samples needed for the longest template at this CV (plus the filter's delay)."""
    dur = np.max(np.asarray(span_mm) / (np.asarray(cv) * cv_factor * 1000.0))
    return int(np.ceil(dur * fs)) + 4


def template_bank(muaps: MuscleMuaps, cv_factor: float, fs: float, phases: int = PHASES) -> np.ndarray:
    """Sampled MUAP of every unit for every sub-sample spike phase, (U, phases, L) microvolts.

    ``bank[u, p, i]`` is unit ``u``'s potential at sample ``j + i`` for a spike at time
    ``j + (p + 0.5) / phases`` (samples); templates start at the spike (causal) and include the
    AFE's sinc^3 decimation filter.  One template per unit is computed on a grid ``phases``
    times finer than the output; each phase is a decimation of it at a different offset.
    """
    length = template_length(muaps.span_mm, muaps.cv, cv_factor, fs)
    q = np.arange(length * phases + phases)  # fine index; q = i*P - p + (P-1)
    tau = (q - (phases - 1) - 0.5) / (phases * fs)  # seconds after the spike
    v = muaps.cv * cv_factor * 1000.0  # mm/s
    fine = sinc3_smooth(_read_profiles(muaps.prof, muaps.dx, v[:, None] * tau[None, :]), phases)
    i = np.arange(length)
    p = np.arange(phases)
    return fine[:, i[None, :] * phases - p[:, None] + (phases - 1)]


def far_template(muaps: MuscleMuaps, cv_factor: float, fs: float) -> np.ndarray:
    """Crosstalk template (L,) for a spike at the start of sample 0 (weights in ``far_weight``)."""
    length = template_length(muaps.far_span_mm, muaps.cv_far, cv_factor, fs)
    os = OVERSAMPLE
    tau = np.arange(length * os) / os / fs
    x = (muaps.cv_far * cv_factor * 1000.0) * tau[None, :]
    fine = _read_profiles(muaps.far_prof[None, :], muaps.dx, x)
    return sinc3_smooth(fine, os)[0, ::os]
