"""Motor-neuron properties by inverting the grid forward model (the BMISS idea).

Each unit's spike-triggered action potential on the grid is fitted with the phantom's
volume-conductor model (:func:`garment.phantom.hd_units.grid_muaps`): fibre depth, lateral
position, innervation-zone position along the fibres, conduction velocity and the time of the
discharge within the average; amplitude is solved in closed form.  Initial values come from
the potential itself (the column where it is largest, the row where it appears first, the
spread of its arrival times along the fibres).  The fit's explained variance (``r2``) tells
whether a physiological action potential explains the unit at all.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from garment.phantom.hd_grid import GridLayout
from garment.phantom.hd_units import GridUnits, grid_muaps

from .decompose import Decomposition

#: Fixed model parts: fibre half-lengths (mm) and end-plate scatter (mm) of a typical unit.
SEMI_MM = 57.0
SPREAD_MM = 1.5
#: Bounds of the fitted parameters: depth, lateral, iz (mm), cv (m/s), time shift (samples).
LOWER = np.array([2.0, -60.0, -40.0, 2.0, -40.0])
UPPER = np.array([40.0, 60.0, 40.0, 7.0, 40.0])


def _model(p: np.ndarray, layout: GridLayout, fs: float, length: int) -> np.ndarray:
    depth, lat, iz, cv, shift = p
    u = GridUnits(np.array([depth]), np.array([lat]), np.array([iz]), np.array([cv]),
                  np.array([[SEMI_MM, SEMI_MM]]), np.array([SPREAD_MM]), np.array([1.0]))
    m = grid_muaps(u, layout, fs, length=length)[0]  # (L, E), discharge at sample 0
    # Fractional delay by ``shift`` samples (phase ramp), on a zero-padded axis.
    n = 2 * length
    f = np.fft.rfftfreq(n)
    spec = np.fft.rfft(m, n, axis=0) * np.exp(-2j * np.pi * f * shift)[:, None]
    return np.fft.irfft(spec, n, axis=0)[:length]


def _initial(muap: np.ndarray, layout: GridLayout, fs: float, offset: int) -> np.ndarray:
    pos = layout.positions_mm()
    energy = (muap**2).sum(axis=0)
    e = int(np.argmax(energy))
    col_y = pos[e, 1]
    same_col = np.flatnonzero(np.isclose(pos[:, 1], col_y))
    peak_t = np.abs(muap[:, same_col]).argmax(axis=0).astype(float)
    x = pos[same_col, 0]
    iz = float(x[int(np.argmin(peak_t))])
    far = np.abs(x - iz) > 0
    if far.sum() >= 2:
        slope = np.polyfit(np.abs(x[far] - iz), peak_t[far] / fs * 1000.0, 1)[0]  # ms per mm
        cv = float(np.clip(1.0 / slope if slope > 0 else 4.0, 2.5, 6.5))
    else:
        cv = 4.0
    t_first = float(peak_t.min())
    return np.array([12.0, col_y, iz, cv, t_first - 4.0])


def fit_unit(muap: np.ndarray, layout: GridLayout, fs: float, offset: int) -> dict[str, float]:
    """Fit the forward model to one unit's action potential (L, E); returns its properties.

    Keys: ``depth_mm``, ``lateral_mm``, ``iz_mm``, ``cv`` (m/s), ``delay_ms`` (discharge to the
    averaging window's start), ``r2`` (explained variance of the action potential).
    """
    y = muap.astype(np.float64)
    y = y - y.mean(axis=0, keepdims=True)
    length = y.shape[0]
    norm = float(np.sqrt((y**2).sum())) or 1.0

    def resid(p: np.ndarray) -> np.ndarray:
        m = _model(p, layout, fs, length)
        m = m - m.mean(axis=0, keepdims=True)
        a = float((m * y).sum() / max((m * m).sum(), 1e-30))
        return ((a * m - y) / norm).ravel()

    p0 = np.clip(_initial(y, layout, fs, offset), LOWER + 1e-6, UPPER - 1e-6)
    best = None
    # The innervation zone is the fit's worst local minimum: start from the estimate and the grid centre.
    for iz in sorted({float(p0[2]), 0.0}):
        p = p0.copy()
        p[2] = iz
        r = least_squares(resid, p, bounds=(LOWER, UPPER), x_scale=np.array([5.0, 5.0, 5.0, 1.0, 2.0]),
                          diff_step=1e-3, max_nfev=40)
        if best is None or r.cost < best.cost:
            best = r
    assert best is not None
    depth, lat, iz, cv, shift = best.x
    r2 = 1.0 - 2.0 * best.cost
    return {"depth_mm": float(depth), "lateral_mm": float(lat), "iz_mm": float(iz), "cv": float(cv),
            "delay_ms": float(shift / fs * 1000.0), "r2": float(r2)}


def estimate_properties(dec: Decomposition, layout: GridLayout) -> None:
    """Fill ``properties`` of every unit of ``dec`` (in place)."""
    for u in dec.units:
        u.properties = fit_unit(u.muap, layout, dec.fs, dec.muap_offset)
