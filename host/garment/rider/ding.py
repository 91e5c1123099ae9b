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
    """``n`` stimulated muscles integrated together (vectorised), one step of ``dt_ms``."""

    def __init__(self, n: int, params: DingParams | None = None) -> None:
        self.p = params or DingParams()
        self.n = n
        p = self.p
        self.x = np.zeros(n)  # sum_i R_i exp(-(t - t_i)/tau_c): the input of CN
        self.cn = np.zeros(n)
        self.f = np.zeros(n)
        self.a = np.full(n, p.a_rest)
        self.km = np.full(n, p.km_rest)
        self.tau1 = np.full(n, p.tau1_rest)
        self.rho = np.zeros(n)  # recruited fraction of the latest pulse
        self.last_ms = np.full(n, -1e9)  # time of the previous pulse (for R_i)

    def pulse(self, muscle: int, t_ms: float, amplitude_ma: float, width_us: float) -> None:
        """A stimulation pulse reaches ``muscle`` at ``t_ms`` (the current step)."""
        p = self.p
        r0 = self.km[muscle] + p.r0_offset
        r = 1.0 + (r0 - 1.0) * np.exp(-(t_ms - self.last_ms[muscle]) / p.tau_c)
        self.x[muscle] += r
        self.last_ms[muscle] = t_ms
        self.rho[muscle] = recruited_fraction(amplitude_ma, width_us)

    def step(self, dt_ms: float) -> np.ndarray:
        """Advance by ``dt_ms``; returns the force (N) of each muscle."""
        p = self.p
        e = np.exp(-dt_ms / p.tau_c)
        # exact for the linear CN pair over the step
        self.cn = (self.cn + self.x * dt_ms / p.tau_c) * e
        self.x = self.x * e
        s = self.cn / (self.km + self.cn)
        a_eff = self.a * self.rho
        self.f = np.maximum(self.f + dt_ms * (a_eff * s - self.f / (self.tau1 + p.tau2 * s)), 0.0)
        f = self.f
        self.a = np.maximum(self.a + dt_ms * (-(self.a - p.a_rest) / p.tau_fat + p.alpha_a * f), 0.0)
        self.km = self.km + dt_ms * (-(self.km - p.km_rest) / p.tau_fat + p.alpha_km * f)
        self.tau1 = self.tau1 + dt_ms * (-(self.tau1 - p.tau1_rest) / p.tau_fat + p.alpha_tau1 * f)
        return f

    @property
    def fatigue(self) -> np.ndarray:
        """Force-capacity drop per muscle, 0 (rested) .. 1."""
        return 1.0 - self.a / self.p.a_rest
