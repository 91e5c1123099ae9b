"""Garment montage and thigh geometry: which muscle each channel sits over and how far apart they are.

The default garment is a pair of cycling shorts with one bipolar EMG electrode pair (and a
co-located stimulation electrode) over each of eight thigh muscles.  Distances between
electrodes drive crosstalk (volume conduction to a neighbouring electrode) and the spread of
stimulation artefacts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default channel order of the garment (channel i records muscle i).
MONTAGE: tuple[str, ...] = ("L_RF", "L_VL", "L_BF", "L_ST", "R_RF", "R_VL", "R_BF", "R_ST")

#: Thigh radius (mm) used to turn angular positions into skin distances (~50 cm circumference).
THIGH_RADIUS_MM = 80.0
#: Inter-electrode distance of each bipolar pair along the fibres (SENIAM recommends 20 mm).
IED_MM = 20.0
#: Effective electrode length along the fibres (mm): a 10 mm disc averages the potential
#: over its surface, which filters like a boxcar of about 0.6 x its diameter.
ELECTRODE_MM = 6.0


@dataclass(frozen=True)
class MuscleSite:
    """One muscle under one electrode pair.

    Attributes:
        name: channel / muscle name, e.g. ``"L_VL"``.
        side: ``"L"`` or ``"R"``.
        muscle: ``"RF"``, ``"VL"``, ``"BF"`` or ``"ST"``.
        group: ``"quadriceps"`` or ``"hamstrings"``.
        angle_deg: position of the muscle belly around the thigh (0 = anterior, + lateral).
        fat_mm: skin + subcutaneous fat thickness over the muscle.
        thickness_mm: depth range of the muscle under the fat (motor units are spread over it).
        mvc_rms_uV: RMS of this muscle's own surface EMG at maximal voluntary drive (calibration).
    """

    name: str
    side: str
    muscle: str
    group: str
    angle_deg: float
    fat_mm: float
    thickness_mm: float
    mvc_rms_uV: float


# Per-muscle anatomy: (group, angle, fat, thickness, MVC RMS).  Values are typical for a lean
# adult thigh; MVC RMS values are in the range reported for bipolar 20 mm sEMG of these muscles.
_ANATOMY: dict[str, tuple[str, float, float, float, float]] = {
    "RF": ("quadriceps", 0.0, 5.0, 18.0, 350.0),
    "VL": ("quadriceps", 60.0, 5.5, 24.0, 450.0),
    "BF": ("hamstrings", 150.0, 6.0, 20.0, 300.0),
    "ST": ("hamstrings", 205.0, 6.5, 18.0, 330.0),
}


def site(name: str) -> MuscleSite:
    """The :class:`MuscleSite` for a montage name such as ``"R_BF"``."""
    side, muscle = name.split("_", 1)
    if side not in ("L", "R") or muscle not in _ANATOMY:
        raise ValueError(f"unknown muscle site {name!r}")
    group, angle, fat, thick, mvc = _ANATOMY[muscle]
    return MuscleSite(name, side, muscle, group, angle, fat, thick, mvc)


def montage_sites(channels: int = 8) -> list[MuscleSite]:
    """The first ``channels`` sites of the default montage (1..8)."""
    if not 1 <= int(channels) <= len(MONTAGE):
        raise ValueError(f"channels must be 1..{len(MONTAGE)}, got {channels}")
    return [site(n) for n in MONTAGE[: int(channels)]]


def skin_distance_mm(a: MuscleSite, b: MuscleSite) -> float:
    """Distance over the skin between two sites (``inf`` across legs)."""
    if a.side != b.side:
        return float("inf")
    d = abs(a.angle_deg - b.angle_deg) % 360.0
    d = min(d, 360.0 - d)
    return THIGH_RADIUS_MM * np.deg2rad(d)


def crosstalk_matrix(sites: list[MuscleSite], decay_mm: float = 40.0) -> np.ndarray:
    """Amplitude of muscle ``m``'s crosstalk on channel ``c`` relative to its own channel, (C, M).

    Surface potentials of a neighbouring muscle fall off roughly exponentially with distance;
    the diagonal (own muscle) is 0 because the own signal is synthesised separately, and
    the other leg contributes nothing.
    """
    n = len(sites)
    w = np.zeros((n, n))
    for c in range(n):
        for m in range(n):
            if c != m:
                d = skin_distance_mm(sites[c], sites[m])
                w[c, m] = 0.0 if not np.isfinite(d) else float(np.exp(-d / decay_mm))
    return w


def stim_spread_matrix(sites: list[MuscleSite], decay_mm: float = 25.0, other_leg: float = 0.003) -> np.ndarray:
    """Relative stimulation-artefact amplitude on channel ``c`` when electrode ``s`` is pulsed, (S, C).

    The stimulated electrode sees the full artefact; neighbours see it attenuated by distance;
    the other leg sees a small common-mode residue through the body.
    """
    n = len(sites)
    w = np.zeros((n, n))
    for s in range(n):
        for c in range(n):
            d = skin_distance_mm(sites[s], sites[c])
            w[s, c] = other_leg if not np.isfinite(d) else float(np.exp(-d / decay_mm))
    return w
