"""The rider-and-crank model on its own (no garment): kinematics, the Ding force and
fatigue model, and what stimulation does to a ride."""
from __future__ import annotations

import numpy as np
import pytest

from garment.rider.ding import DingMuscles
from garment.rider.kinematics import CrankTable, LegGeometry
from garment.rider.patterns import (UNB_OPENSIM_KNEE_FLEX_DEG, controller_policy, effectiveness_windows, emg_timing_windows,
                                    knee_flexion_peak_deg, unb_opensim_windows)
from garment.rider.rider import Rider


def test_knee_extends_in_the_downstroke_and_legs_are_half_a_cycle_apart() -> None:
    t = CrankTable()
    assert np.all(t.dknee[30:150] < 0)  # 30..150 deg: the knee extends
    assert np.all(t.dknee[210:330] > 0)
    right = LegGeometry().angles(np.deg2rad(np.arange(360) + 180.0))[0]
    assert np.allclose(np.roll(t.knee, -180), right)
    with pytest.raises(ValueError, match="reach"):
        LegGeometry(crank_y_m=-1.2).angles(np.zeros(1))


def _train(hz: float, ms: int = 1000) -> tuple[list[float], DingMuscles]:
    m = DingMuscles(1)
    period = int(round(1000 / hz))
    f = []
    for k in range(ms):
        if k % period == 0:
            m.pulse(0, float(k), 20.0, 300.0)
        f.append(m.step(1.0)[0])
    return f, m


def test_ding_force_sums_with_frequency_and_the_muscle_fatigues() -> None:
    f10, _ = _train(10)
    f33, _ = _train(33)
    assert max(f33) > 1.5 * max(f10)  # summation of twitches (force-frequency)
    m = DingMuscles(1)
    peaks = []
    for k in range(60_000):  # 60 s of 1 s trains at 33 Hz, 40 % duty
        if k % 1000 < 400 and k % 30 == 0:
            m.pulse(0, float(k), 20.0, 300.0)
        f = m.step(1.0)[0]
        if k % 1000 == 399:
            peaks.append(f)
    assert peaks[-1] < 0.8 * peaks[0]
    assert 0.1 < m.fatigue[0] < 1.0
    below, _ = DingMuscles(1), None
    below.pulse(0, 0.0, 5.0, 300.0)  # under the motor threshold: nothing recruited
    assert max(below.step(1.0)[0] for _ in range(200)) == 0.0


def _windows_stimulator(on_off: list[tuple[float, float]], ma: float = 15.0):
    def stim(r: Rider) -> None:
        if int(r.t_ms) % 33:
            return
        for ch, (on, off) in enumerate(on_off):
            if (r.angle_deg - on) % 360.0 < off - on:
                r.pulse(r.time_s, ch, ma, 300.0)

    return stim


def test_stimulation_in_effective_windows_adds_power_and_stimulating_against_it_does_not() -> None:
    base = Rider(60, settle_s=2.0)
    base.run(8.0)
    good = Rider(60, settle_s=2.0)
    good.run(8.0, _windows_stimulator(effectiveness_windows()))
    bad = Rider(60, settle_s=2.0)
    bad.run(8.0, _windows_stimulator([((on + 180) % 360, (on + 180) % 360 + off - on) for on, off in effectiveness_windows()]))
    b, g, w = base.summary(), good.summary(), bad.summary()
    assert b["charge_mc"] == 0 and b["stim_power_w"] == 0
    assert g["stim_power_w"] > 3.0, g
    assert w["stim_power_w"] < 0.0, w  # the same muscles, out of phase, brake the crank
    assert g["mean_cadence_rpm"] > b["mean_cadence_rpm"]
    assert 0 < g["charge_per_joule_mc"] < float("inf") and g["fatigue"] > 0


def test_patterns_are_valid_cycling_sections() -> None:
    for w in (effectiveness_windows(), emg_timing_windows(), unb_opensim_windows()):
        assert len(w) == 4
        for on, off in w:
            assert 0 <= on < 360 and 0 < off - on < 360
    assert controller_policy("voluntary")["preset"] == "off"
    with pytest.raises(ValueError, match="unknown controller"):
        controller_policy("nope")


def test_unb_opensim_windows_are_the_published_ones_turned_to_this_rider() -> None:
    """de Sousa, Shimabuko & Bo (UnB, profile.m): right quadriceps 300-40, hamstrings 70-170
    of that model's crank; here the left leg's, one rotation by its knee's largest flexion,
    and the right leg's 180 degrees away."""
    shift = knee_flexion_peak_deg() - UNB_OPENSIM_KNEE_FLEX_DEG
    (lq, lq_off), (lh, lh_off), (rq, rq_off), (rh, rh_off) = unb_opensim_windows()
    assert abs((lq - (300 + shift)) % 360) < 0.11 and abs((lh - (70 + shift)) % 360) < 0.11
    assert abs((rq - lq) % 360 - 180) < 0.11 and abs((rh - lh) % 360 - 180) < 0.11
    assert all(abs(off - on - 100) < 0.11 for on, off in unb_opensim_windows())
    r = Rider(60, settle_s=2.0)
    r.run(8.0, _windows_stimulator(unb_opensim_windows()))
    assert r.summary()["stim_power_w"] > 3.0  # they turn the crank forwards on this rider
