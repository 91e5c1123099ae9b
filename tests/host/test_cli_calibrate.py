"""``garment calibrate`` end to end on a simulated garment: the threshold ramp steered by
keys (the TUI's core, synchronised here on the pulses the garment delivers), known
thresholds written as given, and the refusals (nothing saved, nothing left stimulating)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Iterator

import pytest

from garment.client import Calibration, GarmentClient
from garment.devices import make_transport
from garment.sim import SimGarment

GARMENT = [sys.executable, "-m", "garment.cli"]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimGarment]:
    with SimGarment() as s:
        yield s


def calibration(sim: SimGarment, channel: int) -> Calibration:
    async def get() -> Calibration:
        g = GarmentClient(make_transport(sim.url), timeout=5)
        await g.connect()
        try:
            return await g.get_calibration(channel)
        finally:
            await g.close()

    return asyncio.run(get())


def no_pulses_after(sim: SimGarment, channel: int) -> bool:
    """No pulse on ``channel`` during the next 0.3 s of AFE time."""
    feeder = sim.feeder
    assert feeder is not None
    mark = len(feeder.pulses)
    with feeder.progress:
        start = feeder.afe_total
        assert feeder.progress.wait_for(lambda: feeder.afe_total - start >= 600, 10)
    return not any(p.channel == channel for p in feeder.pulses_since(mark))


def test_ramp_finds_the_thresholds_the_keys_mark(sim: SimGarment) -> None:
    feeder = sim.feeder
    assert feeder is not None
    mark = len(feeder.pulses)
    proc = subprocess.Popen([*GARMENT, "calibrate", "--device", sim.url, "--channel", "1", "--step-seconds", "0.3",
                             "--json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        def reached(ua: int) -> bool:
            return feeder.wait_pulses(lambda ps: any(p.channel == 1 and p.amplitude_ua >= ua for p in ps[mark:]), 60)

        assert reached(2000), "the ramp never reached 2 mA"
        proc.stdin.write(b"f")
        proc.stdin.flush()
        assert reached(3500)
        proc.stdin.write(b"c")
        proc.stdin.close()
        proc.stdin = None
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    d = json.loads(out)
    assert 2.0 <= d["sensory_ma"] < d["motor_ma"] and d["motor_ma"] >= 3.5, d
    assert d["max_ma"] == pytest.approx(1.5 * d["motor_ma"], abs=0.001)
    cal = calibration(sim, 1)
    assert (cal.sensory_ua, cal.motor_ua, cal.max_ua) == (round(d["sensory_ma"] * 1000), round(d["motor_ma"] * 1000),
                                                          round(d["max_ma"] * 1000))
    amps = [p.amplitude_ua for p in feeder.pulses_since(mark) if p.channel == 1]
    assert max(amps) <= cal.motor_ua  # the ramp stopped at the contraction
    assert no_pulses_after(sim, 1)


def test_ramp_without_a_contraction_saves_nothing(sim: SimGarment) -> None:
    feeder = sim.feeder
    assert feeder is not None
    mark = len(feeder.pulses)
    before = calibration(sim, 2)
    proc = subprocess.Popen([*GARMENT, "calibrate", "--device", sim.url, "--channel", "2", "--step-seconds", "0.3"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    try:
        assert feeder.wait_pulses(lambda ps: any(p.channel == 2 for p in ps[mark:]), 60)
        proc.stdin.write("f")
        proc.stdin.close()  # the end of the input stops the ramp
        proc.stdin = None
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("garment: error: no motor threshold") and "nothing saved" in line, err
    assert calibration(sim, 2) == before
    assert no_pulses_after(sim, 2)


def test_known_thresholds_are_written_and_checked(sim: SimGarment) -> None:
    p = subprocess.run([*GARMENT, "calibrate", "--device", sim.url, "--channel", "0", "--sensory", "5", "--motor",
                        "10", "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"channel": 0, "sensory_ma": 5.0, "motor_ma": 10.0, "max_ma": 15.0,
                                    "width_us": 300, "freq_hz": 30, "area_cm2": 25.0}
    assert calibration(sim, 0) == Calibration(0, 5000, 10000, 15000, 2500, 300, 30)
    p = subprocess.run([*GARMENT, "calibrate", "--device", sim.url, "--channel", "0", "--sensory", "5", "--motor",
                        "10", "--max", "80"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip() == ("garment: error: refused: at --max 80 mA: amplitude 80 mA outside 0..50 mA "
                                "(the garment's limit)"), p.stderr
    assert calibration(sim, 0) == Calibration(0, 5000, 10000, 15000, 2500, 300, 30)
