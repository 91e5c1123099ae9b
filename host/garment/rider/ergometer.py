"""The ergometer: crank inertia and resistance, integrated one step at a time."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Ergometer:
    """Flywheel-and-brake ergometer seen at the crank.

    ``resistance = static_nm + viscous_nms * omega``; at 60 rpm the defaults ask 3.2 N m
    (20 W), at 80 rpm 3.9 N m (33 W): the range FES riders reach (8-35 W, see the README).
    The freewheel stops the crank from turning backwards.
    """

    inertia_kgm2: float = 3.0  # flywheel referred to the crank (through the gearing), plus the legs
    static_nm: float = 1.0
    viscous_nms: float = 0.35
    omega: float = 0.0  # rad/s
    angle_rad: float = 0.0  # left crank, unwrapped

    def resistance(self) -> float:
        """Brake torque (N m) at the current speed."""
        return self.static_nm + self.viscous_nms * self.omega if self.omega > 0 else 0.0

    def step(self, torque_nm: float, dt_s: float) -> None:
        """Advance by ``dt_s`` under the riders' crank torque (semi-implicit Euler)."""
        drive = torque_nm
        if self.omega <= 0.0 and drive <= self.static_nm:
            self.omega = 0.0  # stiction: the brake holds until the rider overcomes it
            return
        acc = (drive - self.static_nm - self.viscous_nms * self.omega) / self.inertia_kgm2
        self.omega = max(0.0, self.omega + acc * dt_s)
        self.angle_rad += self.omega * dt_s

    @property
    def cadence_rpm(self) -> float:
        return self.omega * 60.0 / (2 * 3.141592653589793)
