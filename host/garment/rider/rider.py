"""The rider on the ergometer: voluntary drive and stimulated force -> joint torques ->
crank torque -> cadence, with the work, charge and fatigue bookkeeping of a ride.

Muscles: per leg a quadriceps (vasti + rectus femoris) and a hamstrings group. The rider
pedals with its own, weakened drive (``strength``: an incomplete spinal-cord injury) and
tries to hold the target cadence (a PI "effort" on the cadence error, saturating at full
effort). The garment's four stimulation channels sit over the left quadriceps (vastus
lateralis), left hamstrings (biceps femoris), right quadriceps and right hamstrings
(``STIM_MUSCLES``); a pulse on one drives that group's Ding model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import math

import numpy as np

from garment.phantom.montage import MONTAGE, montage_sites

from .ding import DingMuscles, DingParams
from .drive import RiderDrive
from .ergometer import Ergometer
from .kinematics import TABLE_N, CrankTable, LegGeometry

#: stimulation channel -> montage channel of the muscle under its electrodes
STIM_MUSCLES: tuple[str, ...] = ("L_VL", "L_BF", "R_VL", "R_BF")
#: moment arms (m per N of Ding force, which is measured at the ankle in Ding's set-up)
QUAD_KNEE_M = 0.30
HAM_KNEE_M = -0.07  # knee flexion (arm ratio knee/hip ~0.4)
HAM_HIP_M = 0.18  # hip extension
RF_HIP_M = -0.3  # rectus femoris: hip flexion per unit of its knee extension
#: voluntary joint torque per unit of drive, each group lumped with its synergists (vasti
#: with rectus femoris; hamstrings with the gluteus, which has no electrode): scaled so
#: that a healthy rider (strength 1.0) at the phantom's moderate pedalling drive makes
#: about 100 W at 60 rpm, as an untrained adult at moderate endurance effort
VOL_QUAD_NM = 1800.0
VOL_HAM_NM = 1200.0
#: Hill force-velocity: maximal joint shortening velocity (rad/s) and curvature
V_MAX = 20.0
HILL_K = 0.3


def _fv(v: float) -> float:
    """:func:`force_velocity` of one velocity."""
    if v <= 0.0:
        return 1.0
    s = v / V_MAX if v < V_MAX else 1.0
    return (1.0 - s) / (1.0 + s / HILL_K)


def force_velocity(v: np.ndarray) -> np.ndarray:
    """Hill's force-velocity factor for joint shortening velocity ``v`` (rad/s; <0 lengthening)."""
    v = np.asarray(v, dtype=float)
    s = np.clip(v / V_MAX, 0.0, 1.0)
    return np.where(v > 0, (1.0 - s) / (1.0 + s / HILL_K), 1.0)


#: a stretch without any pulse this long counts as a stop: a withdrawal holds 3 s, and the
#: crank windows leave no channel-wide pause near it while the rider pedals; the cadence
#: tracker turning the intensity to 0 counts too, so stim_gaps bounds the stops from above
STIM_GAP_S = 2.5


@dataclass
class RideStats:
    """What a ride measured (see :meth:`Rider.summary`)."""

    work_j: float = 0.0
    stim_work_j: float = 0.0
    charge_uc: float = 0.0
    pulses: int = 0
    last_pulse_s: float = -1.0
    stim_gaps: int = 0  # pulse-free stretches of at least STIM_GAP_S after the first pulse
    cadence_sq: float = 0.0
    cadence_abs: float = 0.0
    cadence_n: int = 0
    trace: list[tuple[float, float, float, float, float]] = field(default_factory=list)


class Rider:
    """The rider-and-crank model, advanced in fixed steps (default 1 ms)."""

    def __init__(
        self,
        target_rpm: float = 60.0,
        strength: float = 0.08,
        geometry: LegGeometry | None = None,
        ergometer: Ergometer | None = None,
        ding: DingParams | None = None,
        seed: int = 0,
        settle_s: float = 10.0,
        dt_ms: float = 1.0,
    ) -> None:
        if target_rpm <= 0:
            raise ValueError("target cadence must be > 0 rpm")
        if not 0.0 <= strength <= 1.0:
            raise ValueError("strength must be within 0..1")
        self.target_rpm = float(target_rpm)
        self.strength = float(strength)
        self.table = CrankTable(geometry)
        self.erg = ergometer or Ergometer()
        if self.erg.omega == 0.0:  # the ergometer's motor spins the crank up to the target first
            self.erg.omega = self.target_rpm * 2 * np.pi / 60.0
        self.muscles = DingMuscles(len(STIM_MUSCLES), ding)
        self.sites = montage_sites(len(MONTAGE))
        self.drive_model = RiderDrive(self.sites, seed, self.plan)
        idx = {n: i for i, n in enumerate(MONTAGE)}
        self._vl = (idx["L_VL"], idx["R_VL"])
        self._rf = (idx["L_RF"], idx["R_RF"])
        self._bf = (idx["L_BF"], idx["R_BF"])
        self._st = (idx["L_ST"], idx["R_ST"])
        self.dt_ms = float(dt_ms)
        self.t_ms = 0.0
        self._t_begin = 0.0
        self.effort = 0.3
        self._integ = 0.3
        self.settle_s = float(settle_s)
        self.stats = RideStats()
        self._pending: list[tuple[float, int, float, float]] = []
        self._trace_every = max(1, int(round(20.0 / self.dt_ms)))
        self._k = 0
        self.stim_torque = 0.0
        self.vol_torque = 0.0
        self._dc: list[list[float]] = []
        self._dc_i = 0

    # ---- inputs --------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        return self.t_ms / 1000.0

    @property
    def angle_deg(self) -> float:
        """Left crank angle (0..360, 0 = top dead centre)."""
        return float(np.rad2deg(self.erg.angle_rad) % 360.0)

    @property
    def cadence_rpm(self) -> float:
        return self.erg.cadence_rpm

    def plan(self, t: np.ndarray) -> tuple[np.ndarray, float]:
        """The drive planner (see :mod:`garment.rider.drive`): the crank angle extrapolated
        from now to the times ``t`` (s), and the current effort."""
        ang = np.rad2deg(self.erg.angle_rad) + 6.0 * self.cadence_rpm * (np.asarray(t) - self.time_s)
        return ang, self.effort

    def pulse(self, t_s: float, channel: int, amplitude_ma: float, width_us: float) -> None:
        """A delivered stimulation pulse (stimulation channel ``channel``); one arriving
        after its time acts at the next step."""
        if not 0 <= channel < len(STIM_MUSCLES):
            return
        self._pending.append((t_s * 1000.0, int(channel), float(amplitude_ma), float(width_us)))
        st = self.stats
        st.charge_uc += amplitude_ma * width_us * 1e-3  # one phase: mA * us = nC
        st.pulses += 1
        if st.last_pulse_s >= 0 and t_s - st.last_pulse_s >= STIM_GAP_S:
            st.stim_gaps += 1
        st.last_pulse_s = max(st.last_pulse_s, t_s)

    # ---- the step ------------------------------------------------------------------
    def step(self, drive8: np.ndarray | None = None) -> None:
        """Advance one step. ``drive8``: the rider's drive per montage muscle (what the
        phantom rendered); None: computed here from the current crank state."""
        dt_ms = self.dt_ms
        t_end = self.t_ms + dt_ms
        if self._pending:
            keep = []
            for p in self._pending:
                if p[0] < t_end:
                    self.muscles.pulse(p[1], max(p[0], self.t_ms), p[2], p[3])
                else:
                    keep.append(p)
            self._pending = keep
        if drive8 is None:
            drive8 = self._own_drive()
        elif isinstance(drive8, np.ndarray):
            drive8 = drive8.tolist()
        f = self.muscles.step(dt_ms)
        d = drive8
        w = self.erg.omega
        tab = self.table
        stim_t = vol_t = 0.0
        base = self.erg.angle_rad * (180.0 / math.pi)
        sv = self.strength * 0.5
        for leg in (0, 1):
            i = int(math.floor((base + 180.0 * leg) * TABLE_N / 360.0)) % TABLE_N
            dk, dh = tab.dknee_l[i], tab.dhip_l[i]
            fv_ext = _fv(-dk * w)  # knee extensors shorten while the knee extends
            fv_flex = _fv(dk * w)
            fv_hip = _fv(-dh * w)
            fq, fh = f[2 * leg], f[2 * leg + 1]  # channels: L quad, L ham, R quad, R ham
            s_knee = fq * QUAD_KNEE_M * fv_ext + fh * HAM_KNEE_M * fv_flex
            s_hip = fh * HAM_HIP_M * fv_hip
            vl, rf = d[self._vl[leg]], d[self._rf[leg]]
            q = (vl + rf) * VOL_QUAD_NM * sv
            h = (d[self._bf[leg]] + d[self._st[leg]]) * VOL_HAM_NM * sv
            v_knee = q * fv_ext - 0.4 * h * fv_flex
            v_hip = h * fv_hip + RF_HIP_M * rf * VOL_QUAD_NM * sv
            stim_t -= s_knee * dk + s_hip * dh
            vol_t -= v_knee * dk + v_hip * dh
        self.stim_torque, self.vol_torque = stim_t, vol_t
        dt = dt_ms / 1000.0
        self.erg.step(stim_t + vol_t, dt)
        w = self.erg.omega
        st = self.stats
        st.work_j += (stim_t + vol_t) * w * dt
        st.stim_work_j += stim_t * w * dt
        self.t_ms = t_end
        err = self.target_rpm - self.erg.cadence_rpm
        # the rider's effort: PI on the cadence error, saturating (anti-windup) at 0..1
        self._integ = float(np.clip(self._integ + 0.02 * err * dt, 0.0, 1.0))
        self.effort = float(np.clip(self._integ + 0.05 * err, 0.0, 1.0))
        if self.t_ms - self._t_begin >= self.settle_s * 1000.0:
            st.cadence_sq += err * err
            st.cadence_abs += abs(err)
            st.cadence_n += 1
        self._k += 1
        if self._k % self._trace_every == 0:
            st.trace.append(((self.t_ms - self._t_begin) / 1000.0, self.erg.cadence_rpm, stim_t, vol_t, float(np.mean(self.muscles.fatigue))))

    def _own_drive(self) -> list[float]:
        # planned 20 ms at a time, as the phantom plans its segments (one numpy call)
        if self._dc_i >= len(self._dc):
            t = self.time_s + np.arange(20) * (self.dt_ms / 1000.0)
            self._dc = self.drive_model.drive(t).tolist()
            self._dc_i = 0
        self._dc_i += 1
        return self._dc[self._dc_i - 1]  # type: ignore[no-any-return]

    def begin(self) -> None:
        """Start measuring here (the ride proper; what came before was setting up)."""
        self.stats = RideStats()
        self._t_begin = self.t_ms

    def run(self, seconds: float, stimulator: "object | None" = None) -> None:
        """Host-only ride (no garment): ``stimulator(rider)`` is called every step and
        may call :meth:`pulse`; used by tests and learning, faster than real time."""
        n = int(round(seconds * 1000.0 / self.dt_ms))
        for _ in range(n):
            if stimulator is not None:
                stimulator(self)  # type: ignore[operator]
            self.step()

    # ---- results -------------------------------------------------------------------
    def summary(self) -> dict[str, float]:
        """``power_w`` (mean crank power of the rider's muscles), ``cadence_error_rpm``
        (rms after ``settle_s``), ``charge_per_joule_mc`` (stimulation charge, one phase
        per pulse, per joule of crank work), ``fatigue`` (mean force-capacity drop of the
        stimulated muscles), and the parts they come from."""
        st = self.stats
        t = max((self.t_ms - self._t_begin) / 1000.0, 1e-9)
        n = max(st.cadence_n, 1)
        work = st.work_j
        return {
            "power_w": work / t,
            "stim_power_w": st.stim_work_j / t,
            "cadence_error_rpm": float(np.sqrt(st.cadence_sq / n)) if st.cadence_n else float("nan"),
            "cadence_mae_rpm": st.cadence_abs / n if st.cadence_n else float("nan"),
            "mean_cadence_rpm": float(np.mean([r[1] for r in st.trace if r[0] >= self.settle_s])) if st.cadence_n else float("nan"),
            "charge_per_joule_mc": (st.charge_uc / 1000.0) / work if work > 0 else float("inf") if st.charge_uc else 0.0,
            "charge_mc": st.charge_uc / 1000.0,
            "pulses": st.pulses,
            "stim_gaps": st.stim_gaps,
            "fatigue": float(np.mean(self.muscles.fatigue)),
            "duration_s": t,
            "target_rpm": self.target_rpm,
        }
