"""The thigh IMU's ideal motion, from the rider's leg kinematics (for the sim board's
LSM6DSO model, ``garmentfw/sim/imu_model.py``, which adds the part's bias, noise, range,
resolution and rate).

The IMU sits on the thigh ``r_m`` from the hip, x along the thigh (hip -> knee), z normal
to it in the sagittal plane (up when the thigh is level), y the pitch axis. With the thigh
at angle phi above the forward horizontal (the hip fixed on the saddle), the gyro reads
phi' and the accelerometer the specific force: along x ``-r phi'^2 + g sin(phi)``, along z
``r phi'' + g cos(phi)``. phi is a function of the crank angle (``kinematics``), so
``phi' = dphi/dtheta * omega`` and ``phi'' = d2phi/dtheta2 * omega^2 + dphi/dtheta * alpha``.
"""
from __future__ import annotations

import numpy as np

from .kinematics import LegGeometry

G = 9.80665
#: where the IMU sits on the thigh (from the hip): above the knee, as IMUSEF places it
IMU_R_M = 0.30
_N = 3600  # table: 0.1 degree of crank


class ThighImuMotion:
    """Thigh angle and its derivatives per crank angle; ideal IMU readings."""

    def __init__(self, geometry: LegGeometry | None = None, r_m: float = IMU_R_M) -> None:
        self.geom = geometry or LegGeometry()
        self.r_m = float(r_m)
        th = np.arange(_N) * (2 * np.pi / _N)
        _, hip = self.geom.angles(th)
        self.phi = hip - np.pi / 2  # the thigh's direction above the forward horizontal
        h = 2 * np.pi / _N
        self.dphi = (np.roll(self.phi, -1) - np.roll(self.phi, 1)) / (2 * h)
        self.d2phi = (np.roll(self.phi, -1) - 2 * self.phi + np.roll(self.phi, 1)) / (h * h)

    def peaks_deg(self) -> tuple[float, float]:
        """Crank angles (degrees, left leg) at which the thigh is highest and lowest: the
        events the garment's phase estimator is told (policy imu_max_deg / imu_min_deg)."""
        return float(np.argmax(self.phi)) * 360.0 / _N, float(np.argmin(self.phi)) * 360.0 / _N

    def ideal(self, theta_deg: np.ndarray, omega_rad_s: np.ndarray | float, alpha_rad_s2: np.ndarray | float = 0.0) -> np.ndarray:
        """(n, 3) int: pitch rate mdps, specific force along x and z in ug (the wire's units)."""
        i = np.rint(np.asarray(theta_deg, dtype=float) * (_N / 360.0)).astype(np.int64) % _N
        w = np.asarray(omega_rad_s, dtype=float)
        phi, d1, d2 = self.phi[i], self.dphi[i], self.d2phi[i]
        rate = d1 * w
        acc = d2 * w * w + d1 * np.asarray(alpha_rad_s2, dtype=float)
        fx = -self.r_m * rate * rate + G * np.sin(phi)
        fz = self.r_m * acc + G * np.cos(phi)
        out = np.stack([np.rad2deg(rate) * 1000.0, fx / G * 1e6, fz / G * 1e6], axis=-1)
        return np.rint(out).astype(np.int64).reshape(-1, 3)
