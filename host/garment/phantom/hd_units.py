"""Motor units under a monopolar HD grid: anatomy and the forward model of their action potentials.

Each unit's fibres lie at a ``depth`` below the skin and a ``lateral`` offset from the grid's
midline; action potentials start at the innervation zone (``iz``, position along the fibres)
and travel both ways at the conduction velocity ``cv`` until they extinguish at the fibre ends
(``semi`` mm from the innervation zone on each side).  The potential on electrode ``(x, y)`` is
the monopolar profile of the conductor (:func:`.volume_conductor.monopolar_profiles`) at the
transverse distance ``sqrt(depth^2 + (y - lateral)^2)``, read along both travelling wave fronts.
The same function is the forward model that :mod:`garment.decomposition.properties` inverts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .afe import sinc3_smooth
from .hd_grid import GridLayout
from .muap import _read_profiles
from .volume_conductor import DX_MM, monopolar_profiles

#: Oversampling of the time axis before the AFE's decimation filter.
OVERSAMPLE = 4
#: Half-width (mm) of the spatial profiles: grid (+-50 mm) plus the longest fibre half (75 mm).
HALF_SPAN_MM = 160.0
#: Length of the wave-front generation at the innervation zone and extinction at the tendon (mm).
EDGE_MM = 3.0
#: Template duration (s): the slowest wave over the longest half-fibre, plus the filter.
TEMPLATE_S = 0.03


@dataclass
class GridUnits:
    """Anatomy of the motor units of one muscle under a grid (one row per unit).

    Attributes:
        depth_mm: depth of the unit's fibres below the skin (fat included).
        lateral_mm: offset across the fibres from the grid's midline.
        iz_mm: innervation-zone position along the fibres (0 = grid centre).
        cv: conduction velocity (m/s == mm/ms).
        semi_mm: (U, 2) fibre length from the innervation zone towards -x and +x.
        spread_mm: end-plate / fibre scatter along the fibres (SD).
        amp: amplitude scale (microvolts per profile unit).
    """

    depth_mm: np.ndarray
    lateral_mm: np.ndarray
    iz_mm: np.ndarray
    cv: np.ndarray
    semi_mm: np.ndarray
    spread_mm: np.ndarray
    amp: np.ndarray

    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self.depth_mm.size)


def draw_units(n_units: int, rng: np.random.Generator, size: np.ndarray, fat_mm: float = 5.5,
               thickness_mm: float = 24.0, width_mm: float = 60.0) -> GridUnits:
    """Draw the anatomy of ``n_units`` units spread over the muscle's cross-section.

    Units are in recruitment order (``size`` ascending): bigger units have more fibres (larger
    potentials), wider end-plate scatter and faster fibres, as in :mod:`.muap`.
    """
    rank = np.linspace(0.0, 1.0, n_units)
    depth = fat_mm + rng.uniform(1.0, thickness_mm, n_units)
    lateral = rng.uniform(-width_mm / 2, width_mm / 2, n_units)
    iz = rng.normal(0.0, 4.0, n_units)
    cv = np.clip(4.0 + 1.4 * (rank - 0.5) + rng.normal(0.0, 0.15, n_units), 2.8, 5.8)
    semi = rng.uniform(45.0, 70.0, (n_units, 2))
    spread = 1.0 + 1.5 * rank
    amp = np.asarray(size, dtype=float) ** 0.7
    return GridUnits(depth, lateral, iz, cv, semi, spread, amp)


def _edge(d: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 over ``EDGE_MM`` of travel (generation and extinction of the wave)."""
    u = np.clip(d / EDGE_MM, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def grid_muaps(units: GridUnits, layout: GridLayout, fs: float, shift_mm: float = 0.0,
               length: int | None = None) -> np.ndarray:
    """Action potential of every unit on every electrode, (U, L, E) microvolts.

    ``muap[u, i, e]`` is sample ``i`` after the discharge (sample 0 = the discharge).  The
    AFE's sinc^3 decimation filter is applied, as on the bipolar garment.

    Args:
        units: anatomy.
        layout: the grid.
        fs: sampling rate (Hz).
        shift_mm: displacement of the whole muscle along the fibres under the skin (moving
            joints slide the innervation zones under a grid).
        length: samples per template (default ``TEMPLATE_S``).
    """
    u_n = units.n_units
    n_len = int(length or int(np.ceil(TEMPLATE_S * fs)))
    xs = (np.arange(layout.rows) - (layout.rows - 1) / 2) * layout.ied_mm
    ys = (np.arange(layout.cols) - (layout.cols - 1) / 2) * layout.ied_mm
    dist = np.sqrt(units.depth_mm[:, None] ** 2 + (ys[None, :] - units.lateral_mm[:, None]) ** 2)  # (U, cols)
    spread = np.repeat(units.spread_mm, layout.cols)
    x0, prof = monopolar_profiles(dist.ravel(), spread, half_span_mm=HALF_SPAN_MM)
    tau = (np.arange(n_len * OVERSAMPLE) + 0.5) / (OVERSAMPLE * fs)
    d = units.cv[:, None] * 1000.0 * tau[None, :]  # (U, T) mm travelled
    iz = units.iz_mm[:, None] + shift_mm
    w_plus = _edge(d) * _edge(units.semi_mm[:, 1:2] - d)  # (U, T)
    w_minus = _edge(d) * _edge(units.semi_mm[:, 0:1] - d)
    # Relative positions (front minus electrode) on the profile grid, per (unit, col): (U*cols, T, rows).
    rel_plus = (iz + d)[:, :, None] - xs[None, None, :]
    rel_minus = (xs[None, None, :] - (iz - d)[:, :, None])
    rel_plus = np.repeat(rel_plus, layout.cols, axis=0) - x0[0]
    rel_minus = np.repeat(rel_minus, layout.cols, axis=0) - x0[0]
    v = (_read_profiles(prof, DX_MM, rel_plus) * np.repeat(w_plus, layout.cols, axis=0)[:, :, None]
         + _read_profiles(prof, DX_MM, rel_minus) * np.repeat(w_minus, layout.cols, axis=0)[:, :, None])
    v = v.reshape(u_n, layout.cols, -1, layout.rows)  # (U, cols, T, rows)
    fine = np.transpose(v, (0, 3, 1, 2)).reshape(u_n, layout.rows * layout.cols, -1)[:, layout.sites]
    smooth = sinc3_smooth(fine, OVERSAMPLE)[..., OVERSAMPLE - 1 :: OVERSAMPLE][..., :n_len]
    return np.transpose(smooth, (0, 2, 1)) * units.amp[:, None, None]
