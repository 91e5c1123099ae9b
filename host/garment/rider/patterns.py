"""Stimulation patterns and the controllers ``garment ride`` knows, as model-file policies.

Every controller is a stimulation section of the model file (``garmentfw/stim_policy.py``
reads it on the garment); the host only chooses it. Windows are per stimulation channel
(``STIM_MUSCLES``: L quadriceps, L hamstrings, R quadriceps, R hamstrings), in degrees of
the left crank (0 = top dead centre); the right leg's windows are 180 degrees later.

Patterns:
- ``effectiveness``: each group is stimulated where its joint torques turn the crank
  forwards with at least half their best effect, the kinematic-effectiveness method of
  Bellman et al. 2016 (IEEE TNSRE 24:1373) applied to this rider's geometry
  (``kinematics.py``); the windows are computed, not copied.
- ``emg-timing``: the muscles' own bursts in voluntary pedalling (the phantom's cycling
  profiles: centre +- half the burst width), the approach of stimulating with the timing
  of able-bodied EMG (Arnin et al. 2017, Eur J Transl Myol 27:7111, Cybathlon 2016).
- ``unb-opensim``: the published windows of the UnB OpenSim FES-cycling model (de Sousa,
  Shimabuko and Bo, LARA, Universidade de Brasilia, github.com/anacsousa1/
  opensim-fes-cycling-control, ``CyclingLibrary/profile.m``, 2019): right leg, degrees of
  that model's crank, quadriceps 300-40, hamstrings 70-170 (gluteus 30-100, which this
  garment does not stimulate), left leg 180 degrees away, and a cadence-based phase
  adjustment of up to 30 degrees at 500 deg/s (here the firmware's own delay_ms advance).
  Moved to this rider by the knee: that pattern's right leg becomes this rider's left leg
  (crank angle 0), turned so that each knee's largest flexion falls at the same place.
  That model's right knee is most flexed at 266.6 degrees of its crank: its initial poses
  (``init_states_45/90/135.m``) put the left knee at 104.6, 112.5 and 101.8 degrees of
  flexion at 45, 90 and 135 degrees, the right knee's at 225, 270 and 315, and a parabola
  through them peaks at 266.6; this rider's is at :func:`knee_flexion_peak_deg` (342).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from garment.phantom.montage import MONTAGE
from garment.phantom.scenarios import CYCLING_PROFILES

from .kinematics import CrankTable, LegGeometry
from .rider import HAM_HIP_M, HAM_KNEE_M, QUAD_KNEE_M, STIM_MUSCLES

#: fraction of the best effectiveness that opens an effectiveness window
EFFECTIVENESS_FRACTION = 0.5
#: stimulation intensity within [motor threshold, max comfortable] at full tracking output
INTENSITY = 1.0  # the cadence tracking scales it
#: electromechanical delay the windows are advanced by (cadence-proportional)
DELAY_MS = 100


def _longest_run(mask: np.ndarray) -> tuple[float, float]:
    """(on, off) degrees of the longest circular run of True in a per-degree mask."""
    n = mask.size
    if mask.all():
        return 0.0, 359.0
    start = int(np.argmin(mask))  # a False: runs do not wrap past it
    best, cur, best_end = 0, 0, 0
    for k in range(1, n + 1):
        i = (start + k) % n
        cur = cur + 1 if mask[i] else 0
        if cur > best:
            best, best_end = cur, start + k
    on = (best_end - best + 1) * 360.0 / n
    return on % 360.0, on % 360.0 + best * 360.0 / n


def effectiveness_windows(geometry: LegGeometry | None = None, fraction: float = EFFECTIVENESS_FRACTION) -> list[tuple[float, float]]:
    """Windows (on, off) per stimulation channel from the kinematic effectiveness."""
    t = CrankTable(geometry)
    quad = t.effectiveness(QUAD_KNEE_M, 0.0)
    ham = t.effectiveness(HAM_KNEE_M, HAM_HIP_M)
    out = []
    for m in STIM_MUSCLES:
        e = quad if m.endswith("VL") else ham
        on, off = _longest_run(e >= fraction * e.max())
        if m.startswith("R_"):
            on, off = on + 180.0, off + 180.0
        out.append((round(on % 360.0, 1), round(on % 360.0 + (off - on), 1)))
    return out


#: the UnB OpenSim pattern (module docstring): (start, range) in degrees of that model's
#: crank for its right leg, and the angle at which its right knee is most flexed
UNB_OPENSIM_RIGHT = {"quadriceps": (300.0, 100.0), "hamstrings": (70.0, 100.0)}
UNB_OPENSIM_KNEE_FLEX_DEG = 266.6


def knee_flexion_peak_deg(geometry: LegGeometry | None = None) -> float:
    """The left crank's angle (degrees) at which this rider's left knee is most flexed."""
    t = CrankTable(geometry)
    return float(np.argmax(t.knee)) * 360.0 / t.knee.size


def unb_opensim_windows(geometry: LegGeometry | None = None) -> list[tuple[float, float]]:
    """The UnB OpenSim windows per stimulation channel, moved to this rider by the angle
    of the knee's largest flexion."""
    shift = knee_flexion_peak_deg(geometry) - UNB_OPENSIM_KNEE_FLEX_DEG
    out = []
    for m in STIM_MUSCLES:
        start, width = UNB_OPENSIM_RIGHT["quadriceps" if m.endswith("VL") else "hamstrings"]
        on = (start + shift + (180.0 if m.startswith("R_") else 0.0)) % 360.0
        out.append((round(on, 1), round(on + width, 1)))
    return out


def emg_timing_windows() -> list[tuple[float, float]]:
    """Windows per stimulation channel from the voluntary EMG bursts."""
    out = []
    for m in STIM_MUSCLES:
        centre, width, _ = CYCLING_PROFILES[m[2:]]
        centre += 180.0 if m.startswith("R_") else 0.0
        on = (centre - width / 2) % 360.0
        out.append((round(on, 1), round(on + width, 1)))
    return out


def windows_policy(windows: list[tuple[float, float]], intensity: float = INTENSITY, delay_ms: int = DELAY_MS, **extra: Any) -> dict[str, Any]:
    """The ``cycling`` stimulation section for these windows."""
    params: dict[str, Any] = {
        "phase_on": [w[0] for w in windows],
        "phase_off": [w[1] for w in windows],
        "delay_ms": delay_ms,
        "intensity": intensity,
        "min_rpm": 10,
    }
    params.update(extra)
    return {"preset": "cycling", "params": params}


#: envelope-decoder output (= EMG channel) of the muscle under each stimulation electrode
EMG_INPUTS = [MONTAGE.index(m) for m in STIM_MUSCLES]
#: the cycling policy's modes (garmentfw/stim_policy.py)
MODE_WINDOWS, MODE_EMG, MODE_CPG = 0, 1, 2
#: EMG trigger level (activation; rest ~0.01, the rider's own burst 0.2-0.45)
EMG_LEVEL = 0.12


def _tracked(policy: dict[str, Any], cadence_rpm: float) -> dict[str, Any]:
    policy["params"]["target_rpm"] = cadence_rpm
    return policy


def controller_policy(name: str, cadence_rpm: float = 60.0) -> dict[str, Any]:
    """The stimulation section of controller ``name`` (see :data:`CONTROLLERS`); every
    stimulating controller tracks ``cadence_rpm`` (the firmware's PI on the intensity)."""
    if name not in CONTROLLERS:
        raise ValueError(f"unknown controller {name!r} (known: {', '.join(CONTROLLERS)})")
    pol = CONTROLLERS[name][0]()
    return pol if pol["preset"] == "off" else _tracked(pol, cadence_rpm)


def with_reflex(policy: dict[str, Any]) -> dict[str, Any]:
    """``policy`` (a stimulating controller's) with the withdrawal reflex on: the EMG under
    the four electrodes and the four electrodes' impedance (``garmentfw/reflex.py``)."""
    if policy["preset"] != "cycling":
        raise ValueError("the withdrawal reflex needs a stimulating (cycling) controller")
    policy["params"].update({"reflex": 1, "reflex_inputs": list(EMG_INPUTS), "reflex_z": [0, 1, 2, 3]})
    return policy


def imu_policy() -> dict[str, Any]:
    """The effectiveness windows timed by the thigh IMU instead of a crank sensor: the
    crank angles of the thigh's highest and lowest points, from this rider's geometry."""
    from .thigh_imu import ThighImuMotion

    hi, lo = ThighImuMotion().peaks_deg()
    return windows_policy(effectiveness_windows(), crank_source=1, imu_max_deg=round(hi, 1), imu_min_deg=round(lo, 1))


def _cpg(**extra: Any) -> dict[str, Any]:
    # the pattern generator times the bursts; the windows stay as the documented pattern
    return windows_policy(effectiveness_windows(), mode=MODE_CPG, cpg_side=[0, 0, 1, 1], **extra)


CONTROLLERS: dict[str, tuple[Any, str]] = {
    "voluntary": (lambda: {"preset": "off", "params": {}}, "no stimulation: the rider alone"),
    "effectiveness": (lambda: windows_policy(effectiveness_windows()), "crank windows from the kinematic effectiveness (Bellman et al. 2016)"),
    "emg-timing": (lambda: windows_policy(emg_timing_windows()), "crank windows at the able-bodied EMG bursts (Arnin et al. 2017)"),
    "unb-opensim": (lambda: windows_policy(unb_opensim_windows()),
                    "crank windows of the UnB OpenSim FES-cycling model (de Sousa, Shimabuko & Bo 2019), moved to this rider by the knee"),
    "emg": (lambda: windows_policy(effectiveness_windows(), mode=MODE_EMG, level=EMG_LEVEL, inputs=EMG_INPUTS),
            "EMG-triggered assist: inside its window a muscle is stimulated once the rider's own drive rises"),
    "imu": (imu_policy, "the effectiveness windows, crank phase from the left thigh's IMU (no crank sensor; IMUSEF-style)"),
    "cpg": (lambda: _cpg(), "spiking half-centre pattern generator entrained by the crank"),
    "cpg-emg": (lambda: _cpg(cpg_weights=[0] * 16, cpg_w_emg=3000, cpg_inputs=[EMG_INPUTS[0], EMG_INPUTS[2]]),
                "spiking pattern generator entrained by the rider's quadriceps EMG only"),
}
