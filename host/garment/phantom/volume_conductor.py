"""Volume conduction from a muscle fibre to a bipolar surface electrode (spatial domain).

The intracellular action potential follows Rosenfalck (1969), ``Vm(z) = 96 z^3 exp(-z) - 90`` mV
(``z`` in mm behind the wave front).  The transmembrane current density is proportional to its
second spatial derivative (a zero-sum tripole).  Each current element is a point source in an
anisotropic conductor (conductivity along the fibres higher than across), so the potential of a
fibre at depth ``r`` is the current convolved with ``1/sqrt(a r^2 + x^2)``.  The electrode then
acts as spatial filters: a bipolar difference along the fibres (inter-electrode distance), an
average over the electrode's size and the scatter of end-plates/fibres within the motor unit.
Deeper sources therefore give smaller, wider (lower-frequency) potentials.

All profiles are functions of the source position ``x`` (mm) along the fibre relative to the
electrode centre; a wave travelling at ``v`` turns them into time waveforms ``g(x0 + v t)``.
"""
from __future__ import annotations

import numpy as np

from .montage import ELECTRODE_MM, IED_MM

#: Effective longitudinal / radial conductivity ratio: muscle is ~2..5, but the isotropic fat
#: and skin layers over it pull the effective value down.
ANISOTROPY = 1.5
#: Spatial step (mm) of all profiles.
DX_MM = 0.2
#: Half-width (mm) of the spatial grid the profiles are computed on.
HALF_SPAN_MM = 120.0


def rosenfalck_current(dx_mm: float = DX_MM) -> tuple[float, np.ndarray]:
    """Transmembrane current density of the Rosenfalck IAP, ``d^2 Vm / dz^2`` (mV/mm^2).

    Returns ``(z0, i)``: position of the first sample (mm) and samples every ``dx_mm``.
    Taken as a discrete second difference so that its sum (monopole) and first moment (dipole)
    vanish to rounding: far fields then decay fast and nothing leaks across the grid.
    """
    z = np.arange(-1.0, 25.0, dx_mm)
    zc = np.clip(z, 0.0, None)
    vm = 96.0 * zc**3 * np.exp(-zc)
    return float(z[1]), np.diff(vm, 2) / dx_mm**2


def _gauss(sigma_mm: float, dx: float) -> np.ndarray:
    k = np.arange(-4.0 * sigma_mm, 4.0 * sigma_mm + dx / 2, dx)
    g = np.exp(-0.5 * (k / sigma_mm) ** 2)
    return g / g.sum()


def bipolar_profiles(
    depth_mm: np.ndarray,
    spread_mm: np.ndarray | float = 2.0,
    ied_mm: float = IED_MM,
    electrode_mm: float = ELECTRODE_MM,
    anisotropy: float = ANISOTROPY,
    dx_mm: float = DX_MM,
    half_span_mm: float = HALF_SPAN_MM,
) -> tuple[np.ndarray, np.ndarray]:
    """Bipolar surface potential versus source position for fibres at the given depths.

    Args:
        depth_mm: (U,) distance from the skin surface to each source (fat included).
        spread_mm: scatter (SD, mm) of end-plates/fibres along the fibre direction, per unit
            or scalar; smooths the unit's potential.
        ied_mm: inter-electrode distance of the bipolar pair along the fibres.
        electrode_mm: electrode size along the fibres (boxcar average).
        anisotropy: longitudinal / radial conductivity ratio.
        dx_mm: spatial step.
        half_span_mm: grid half width.

    Returns:
        ``(x, g)``: the grid (G,) in mm and the profiles (U, G) in arbitrary units (mV-ish; the
        caller calibrates amplitude).
    """
    # Bipolar pair at +-ied/2: difference = 2j sin(pi f ied) in the Fourier domain.
    return _profiles(depth_mm, spread_mm, lambda f: 2j * np.sin(np.pi * f * ied_mm), electrode_mm,
                     anisotropy, dx_mm, half_span_mm)


def monopolar_profiles(
    distance_mm: np.ndarray,
    spread_mm: np.ndarray | float = 2.0,
    electrode_mm: float = 2.0,
    anisotropy: float = ANISOTROPY,
    dx_mm: float = DX_MM,
    half_span_mm: float = HALF_SPAN_MM,
) -> tuple[np.ndarray, np.ndarray]:
    """Monopolar surface potential versus position of the wave front, one fibre per distance.

    Same conductor as :func:`bipolar_profiles`, read by a single electrode against a distant
    reference (an HD-EMG grid): ``distance_mm`` is the transverse distance from the electrode
    to the fibre, ``sqrt(depth^2 + lateral^2)``, so a fibre beside the electrode is seen like
    a deeper one.  Returns ``(x, g)`` with ``g`` (K, G) for the wave front at ``x`` mm
    (travelling towards +x) relative to the electrode.
    """
    return _profiles(distance_mm, spread_mm, lambda f: np.ones_like(f, dtype=complex), electrode_mm,
                     anisotropy, dx_mm, half_span_mm)


def _profiles(depth_mm: np.ndarray, spread_mm: np.ndarray | float, pick_up, electrode_mm: float,
              anisotropy: float, dx_mm: float, half_span_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Current source convolved with the conductor's kernel, then the electrode's spatial filters."""
    depth = np.atleast_1d(np.asarray(depth_mm, dtype=float))
    spread = np.broadcast_to(np.asarray(spread_mm, dtype=float), depth.shape)
    n = int(round(2 * half_span_mm / dx_mm)) + 1
    x = -half_span_mm + np.arange(n) * dx_mm
    z0, cur = rosenfalck_current(dx_mm)
    nfft = 1 << int(np.ceil(np.log2(2 * n + cur.size)))
    # Kernel sampled on the circular grid of the FFT (lags symmetric around 0).
    lag = np.fft.fftfreq(nfft, 1.0 / (nfft * dx_mm))
    kern = 1.0 / np.sqrt(anisotropy * depth[:, None] ** 2 + lag[None, :] ** 2)
    spec = np.fft.rfft(kern, axis=1) * np.fft.rfft(cur, nfft)[None, :] * dx_mm
    f = np.fft.rfftfreq(nfft, dx_mm)  # cycles/mm
    spec *= pick_up(f)
    spec *= np.sinc(f * electrode_mm)  # boxcar average over the electrode
    spec = spec * np.exp(-2.0 * (np.pi * f[None, :] * spread[:, None]) ** 2)  # Gaussian scatter
    full = np.fft.irfft(spec, nfft, axis=1)
    # Output sample i corresponds to lag (x_i - z0); place lag 0 of the source at x = z0.
    shift = int(round((-half_span_mm - z0) / dx_mm))
    idx = (shift + np.arange(n)) % nfft
    return x, full[:, idx]
