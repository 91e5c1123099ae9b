"""Crank phase from the thigh IMU: the sim board's LSM6DSO model and the firmware's phase
estimator (both on the real unix port) against the rider model's own crank angle."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from garment.paths import firmware_lib, micropython_exe
from garment.rider.rider import Rider
from garment.rider.thigh_imu import ThighImuMotion

DRIVER = Path(__file__).parent / "mp" / "imu_phase_driver.py"
ODR = 104
PERIOD_S = (1_000_000 // ODR) / 1e6


def _truth(target_rpm: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """The rider alone (no stimulation) pedalling: crank angle (unwrapped deg) and angular
    velocity at each IMU sample time."""
    r = Rider(target_rpm=target_rpm, settle_s=0.0)
    n = int(seconds * 1000)
    ang = np.empty(n)
    w = np.empty(n)
    for i in range(n):
        r.step()
        ang[i] = np.rad2deg(r.erg.angle_rad)
        w[i] = r.erg.omega
    t_ms = np.arange(1, n + 1)
    ts = np.arange(1, int(seconds / PERIOD_S)) * PERIOD_S * 1000.0
    return np.interp(ts, t_ms, ang), np.interp(ts, t_ms, w)


def _estimate(tmp_path: Path, theta: np.ndarray, omega: np.ndarray) -> tuple[np.ndarray, str]:
    m = ThighImuMotion()
    alpha = np.gradient(omega, PERIOD_S)
    ideal = m.ideal(theta % 360.0, omega, alpha)
    f = tmp_path / "motion.txt"
    np.savetxt(f, ideal, fmt="%d")
    hi, lo = m.peaks_deg()
    p = subprocess.run([str(micropython_exe()), "-X", "heapsize=8m", str(DRIVER), str(firmware_lib()), str(f),
                        str(int(hi * 100)), str(int(lo * 100))], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.strip().splitlines()
    return np.array([int(v) for v in lines[0].split()]), lines[1]


@pytest.mark.parametrize("target_rpm", [60.0, 80.0])
def test_phase_from_the_thigh_follows_the_crank(tmp_path: Path, target_rpm: float) -> None:
    theta, omega = _truth(target_rpm, 12.0)
    est, tail = _estimate(tmp_path, theta, omega)
    ok = est >= 0
    assert ok[int(3.0 / PERIOD_S):].all(), "the estimate must hold a phase once two half-cycles were seen"
    sel = ok.copy()
    sel[: int(3.0 / PERIOD_S)] = False
    err = (est[sel] / 100.0 - theta[sel] + 180.0) % 360.0 - 180.0
    rms = float(np.sqrt(np.mean(err ** 2)))
    # the rider's cadence swings within each cycle (a weak rider's two pushes): the
    # estimator interpolates between the thigh's peaks at the last half-cycle's rate
    assert rms < 5.0 and float(np.max(np.abs(err))) < 20.0, (rms, float(np.max(np.abs(err))))
    assert "alloc 0 " in tail, tail  # the estimator's pass allocates nothing


def test_a_still_thigh_gives_no_phase(tmp_path: Path) -> None:
    theta = np.full(400, 90.0)
    est, _ = _estimate(tmp_path, theta, np.zeros(400))
    assert (est == -1).all()  # no crank sensor reading made up: the policy times out to off


def test_a_ride_timed_by_the_thigh_imu_helps_without_a_crank_sensor() -> None:
    from garment.rider.session import ride

    out, _ = ride("imu", 60.0, 8 / 60)  # the host sends no crank reading: only the thigh's motion
    assert out["policy"]["params"]["crank_source"] == 1
    assert out["garment_fault"] == "none", out.get("garment_events")
    assert out["pulses"] > 50 and out["stim_power_w"] > 2.0, out
