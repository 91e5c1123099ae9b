"""Force and fatigue of electrically stimulated muscle: the Ding et al. model.

Force (Ding, Wexler & Binder-Macleod 2003, J Electromyogr Kinesiol 13:575-588, eqs. 1-2),
per muscle, time in ms::

    dCN/dt = (1/tau_c) * sum_i R_i exp(-(t - t_i)/tau_c) - CN/tau_c
    R_i    = 1 + (R0 - 1) exp(-(t_i - t_{i-1})/tau_c),   R0 = Km + 1.04
    dF/dt  = A * CN/(Km + CN) - F / (tau1 + tau2 * CN/(Km + CN))

Fatigue (same paper, eqs. 5, 9, 11): A, Km and tau1 drift with the force produced and
recover with tau_fat::

    dA/dt    = -(A - A_rest)/tau_fat + alpha_A * F
    dKm/dt   = -(Km - Km_rest)/tau_fat + alpha_Km * F
    dtau1/dt = -(tau1 - tau1_rest)/tau_fat + alpha_tau1 * F

Parameters are the 2003 paper's quadriceps values (A_rest 3.009 N/ms, Km_rest 0.103,
tau1_rest 50.957 ms, tau2 124.4 ms, tau_c 20 ms; alpha_A -4.0e-7 ms^-2, alpha_Km 1.9e-8
ms^-1 N^-1, alpha_tau1 2.1e-5 N^-1, tau_fat 127 s). Pulse amplitude and width enter as
the fraction of the muscle a pulse recruits (the phantom's recruitment curve, the same
one that sizes its evoked M-wave), scaling A: a simplification of the force-intensity
terms of Ding et al. 2007 (Muscle Nerve 36:214-222). ``fatigue`` = 1 - A/A_rest, the
drop in force capacity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from garment.phantom.artefacts import recruited_fraction


@dataclass(frozen=True)
class DingParams:
    """Ding et al. 2003 parameters (ms, N)."""

    a_rest: float = 3.009  # N/ms
    km_rest: float = 0.103
    tau1_rest: float = 50.957  # ms
    tau2: float = 124.4  # ms
    tau_c: float = 20.0  # ms
    r0_offset: float = 1.04  # R0 = Km + 1.04
    alpha_a: float = -4.0e-7  # ms^-2
    alpha_km: float = 1.9e-8  # ms^-1 N^-1
    alpha_tau1: float = 2.1e-5  # N^-1
    tau_fat: float = 127_000.0  # ms


class DingMuscles:
    """``n`` stimulated muscles, one step of ``dt_ms`` at a time (plain floats: a handful
    of muscles stepped every millisecond is faster without numpy's per-call cost)."""

    def __init__(self, n: int, params: DingParams | None = None) -> None:
        self.p = params or DingParams()
        self.n = n
        p = self.p
        self.x = [0.0] * n  # sum_i R_i exp(-(t - t_i)/tau_c): the input of CN
        self.cn = [0.0] * n
        self.f = [0.0] * n
        self.a = [p.a_rest] * n
        self.km = [p.km_rest] * n
        self.tau1 = [p.tau1_rest] * n
        self.rho = [0.0] * n  # recruited fraction of the latest pulse
        self.last_ms = [-1e9] * n  # time of the previous pulse (for R_i)
        self._e_dt = (0.0, 1.0)

    def pulse(self, muscle: int, t_ms: float, amplitude_ma: float, width_us: float) -> None:
        """A stimulation pulse reaches ``muscle`` at ``t_ms`` (the current step)."""
        p = self.p
        r0 = self.km[muscle] + p.r0_offset
        r = 1.0 + (r0 - 1.0) * math.exp(-(t_ms - self.last_ms[muscle]) / p.tau_c)
        self.x[muscle] += r
        self.last_ms[muscle] = t_ms
        self.rho[muscle] = recruited_fraction(amplitude_ma, width_us)

    def step(self, dt_ms: float) -> list[float]:
        """Advance by ``dt_ms``; returns the force (N) of each muscle."""
        p = self.p
        if self._e_dt[0] != dt_ms:
            self._e_dt = (dt_ms, math.exp(-dt_ms / p.tau_c))
        e = self._e_dt[1]
        k = dt_ms / p.tau_c
        for i in range(self.n):
            # exact for the linear CN pair over the step
            cn = (self.cn[i] + self.x[i] * k) * e
            self.cn[i] = cn
            self.x[i] *= e
            km = self.km[i]
            s = cn / (km + cn)
            f = self.f[i] + dt_ms * (self.a[i] * self.rho[i] * s - self.f[i] / (self.tau1[i] + p.tau2 * s))
            f = f if f > 0.0 else 0.0
            self.f[i] = f
            a = self.a[i] + dt_ms * (-(self.a[i] - p.a_rest) / p.tau_fat + p.alpha_a * f)
            self.a[i] = a if a > 0.0 else 0.0
            self.km[i] = km + dt_ms * (-(km - p.km_rest) / p.tau_fat + p.alpha_km * f)
            self.tau1[i] += dt_ms * (-(self.tau1[i] - p.tau1_rest) / p.tau_fat + p.alpha_tau1 * f)
        return self.f

    @property
    def fatigue(self) -> np.ndarray:
        """Force-capacity drop per muscle, 0 (rested) .. 1."""
        return 1.0 - np.asarray(self.a) / self.p.a_rest
