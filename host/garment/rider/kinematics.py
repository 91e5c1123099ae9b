"""Crank and leg kinematics of a rider on an upright ergometer (sagittal plane).

Hip at the origin, x forward, y up. Crank angle 0 = the left pedal at top dead centre,
increasing in the pedalling direction; the right crank is 180 degrees away. Each leg is a
two-link chain (thigh, shank-to-pedal) closed by the crank, so the hip and knee angles are
functions of the crank angle. Joint torques reach the crank by virtual work:
``tau_crank = -tau_knee_ext * dk/dtheta - tau_hip_ext * dh/dtheta`` (k = knee flexion,
h = hip flexion), which is what makes the same muscle help in one part of the cycle and
brake in another (the kinematic effectiveness of Bellman et al. 2016).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: table resolution: one entry per degree of crank angle
TABLE_N = 360


@dataclass(frozen=True)
class LegGeometry:
    """Segment lengths and seat position (metres); defaults: an adult on an upright bike."""

    thigh_m: float = 0.44
    shank_m: float = 0.47  # knee to pedal spindle (shank + foot, the ankle held by an orthosis)
    crank_m: float = 0.17
    crank_x_m: float = 0.20  # crank centre relative to the hip
    crank_y_m: float = -0.62

    def angles(self, theta_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Knee flexion and hip flexion (rad) of the leg whose crank is at ``theta_rad``.

        Raises ValueError if the pedal leaves the leg's reach (a seat that cannot be ridden)."""
        th = np.asarray(theta_rad, dtype=float)
        px = self.crank_x_m + self.crank_m * np.sin(th)
        py = self.crank_y_m + self.crank_m * np.cos(th)
        d = np.hypot(px, py)
        l1, l2 = self.thigh_m, self.shank_m
        if np.any(d >= l1 + l2) or np.any(d <= abs(l1 - l2)):
            raise ValueError("the pedal leaves the leg's reach: check the seat position")
        inner = np.arccos(np.clip((l1 * l1 + l2 * l2 - d * d) / (2 * l1 * l2), -1.0, 1.0))
        alpha = np.arccos(np.clip((l1 * l1 + d * d - l2 * l2) / (2 * l1 * d), -1.0, 1.0))
        thigh = np.arctan2(py, px) + alpha  # the knee is above the hip-pedal line
        return np.pi - inner, thigh + np.pi / 2


class CrankTable:
    """Knee/hip angles and their derivatives by crank angle, per degree (looked up each step)."""

    def __init__(self, geom: LegGeometry | None = None) -> None:
        self.geom = geom or LegGeometry()
        th = np.deg2rad(np.arange(TABLE_N) * 360.0 / TABLE_N)
        self.knee, self.hip = self.geom.angles(th)
        h = 1e-4
        kp, hp = self.geom.angles(th + h)
        km, hm = self.geom.angles(th - h)
        self.dknee = (kp - km) / (2 * h)  # rad per rad of crank
        self.dhip = (hp - hm) / (2 * h)
        self.dknee_l: list[float] = self.dknee.tolist()  # per-step lookups without numpy
        self.dhip_l: list[float] = self.dhip.tolist()

    def index(self, theta_deg: float | np.ndarray) -> np.ndarray:
        """Table rows of crank angles in degrees (any real value; wraps)."""
        return (np.floor(np.asarray(theta_deg) * TABLE_N / 360.0).astype(np.int64)) % TABLE_N

    def effectiveness(self, knee_ext: float, hip_ext: float) -> np.ndarray:
        """Crank torque per unit of a muscle's joint torques (knee extension, hip extension
        moments in N m per unit force) over the cycle: (TABLE_N,) N m."""
        return -knee_ext * self.dknee - hip_ext * self.dhip
