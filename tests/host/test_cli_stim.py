"""``garment stim`` and ``garment bench latency`` end to end on a simulated garment (with
its rig), and their refusals: one line on stderr, non-zero exit, nothing stimulated."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Iterator

import pytest

from garment.auth import ensure_authenticated
from garment.client import GarmentClient
from garment.stimulation import Calibration, Limits, TrainRequest, check_train
from garment.devices import make_transport
from garment.sim import SimGarment


CLI = [sys.executable, "-m", "garment.cli"]
CAL = Calibration(0, 5000, 10000, 20000, 2500, 300, 30)
LIM = Limits(50000, 500, 10, 100, 25000, 20000, 500, 5000, 3600, 2000000)


def run(*args: str, stdin: int | None = subprocess.PIPE, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, stdin=stdin)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimGarment]:
    """A simulated garment, provisioned with this test session's secret, channel 0 calibrated."""
    s = SimGarment()
    s.start()

    async def setup() -> None:
        g = GarmentClient(make_transport(s.url), timeout=5)
        await g.connect()
        try:
            await ensure_authenticated(g)
            await g.set_calibration(CAL)
        finally:
            await g.close()

    asyncio.run(setup())
    yield s
    s.stop()


# ---- the checks before anything is sent --------------------------------------------------
@pytest.mark.parametrize(
    "req,needle",
    [
        (TrainRequest(0, 20001, 300, 30, 1000), "above channel 0's calibrated max_ua=20000"),
        (TrainRequest(0, 0, 300, 30, 1000), "amplitude_ua=0"),
        (TrainRequest(0, 10000, 501, 30, 1000), "width_us=501 outside 20..500"),
        (TrainRequest(0, 10000, 300, 101, 1000), "freq_hz=101 outside 10..100"),
        (TrainRequest(0, 20000, 500, 100, 1000), "density"),
        (TrainRequest(0, 10000, 300, 30, 60001), "duration_ms=60001"),
    ],
)
def test_check_train_refusals(req: TrainRequest, needle: str) -> None:
    cal = Calibration(0, 5000, 10000, 20000, 200, 300, 30) if needle == "density" else CAL
    bad = check_train(req, cal, LIM)
    assert bad is not None and needle in bad, bad


def test_check_train_accepts_what_the_calibration_allows() -> None:
    assert check_train(TrainRequest(0, 20000, 300, 30, 1000), CAL, LIM) is None
    assert "no calibration" in (check_train(TrainRequest(1, 1000, 300, 30, 1000), Calibration(1, 0, 0, 0, 0, 0, 0), LIM) or "")


# ---- refusals end to end ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "args,needle",
    [
        (["--channel", "0", "--amplitude", "25"], "amplitude 25 mA above channel 0's calibrated maximum of 20 mA"),
        (["--channel", "1", "--amplitude", "5"], "channel 1 has no calibration"),
        (["--channel", "0", "--amplitude", "5", "--width", "600"], "pulse width 600 us outside 20..500 us"),
        (["--channel", "0", "--amplitude", "5", "--freq", "120"], "frequency 120 Hz outside 10..100"),
        (["--channel", "7", "--amplitude", "5"], "channel 7: the garment's stimulation channels are 0..3"),
        (["--channel", "0", "--amplitude", "-1"], "amplitude"),
    ],
)
def test_stim_refusals_are_one_line(sim: SimGarment, args: list[str], needle: str) -> None:
    assert sim.feeder is not None
    before = len(sim.feeder.pulses)
    p = run("stim", "--device", sim.url, *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], p.stderr
    assert lines[0].startswith("garment: error: ")
    assert len(sim.feeder.pulses) == before


def test_stim_on_a_fresh_sim_has_no_calibration() -> None:
    p = run("stim", "--device", "sim", "--channel", "0", "--amplitude", "5")
    assert p.returncode == 2 and "no calibration" in p.stderr and "Traceback" not in p.stderr


# ---- a held train ---------------------------------------------------------------------------------
def test_stim_runs_until_stdin_closes(sim: SimGarment) -> None:
    feeder = sim.feeder
    assert feeder is not None
    mark = len(feeder.pulses)
    proc = subprocess.Popen([*CLI, "stim", "--device", sim.url, "--channel", "0", "--amplitude", "12", "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ok = feeder.wait_pulses(lambda ps: sum(1 for p in ps[mark:] if p.channel == 0) >= 10, timeout=30)
        assert ok, "no stimulation while stdin was open"
        assert proc.poll() is None  # still holding
        assert proc.stdin is not None
        proc.stdin.close()  # EOF: released
        proc.stdin = None
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["channel"] == 0 and summary["pulses"] >= 10 and 0 < summary["peak_ua"] <= 12000, summary
    amps = [p.amplitude_ua for p in feeder.pulses_since(mark) if p.channel == 0]
    assert amps[0] <= 1000 and amps == sorted(amps), amps[:10]  # ramped from zero
    after = len(feeder.pulses)
    with feeder.progress:
        start = feeder.afe_total
        feeder.progress.wait_for(lambda: feeder.afe_total - start >= 600, 10)
    assert len(feeder.pulses) == after, "pulses went on after the command exited"


def test_stim_in_a_terminal_stops_when_the_key_is_released(sim: SimGarment) -> None:
    feeder = sim.feeder
    assert feeder is not None
    master, slave = os.openpty()
    mark = len(feeder.pulses)
    proc = subprocess.Popen([*CLI, "stim", "--device", sim.url, "--channel", "0", "--amplitude", "10"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(slave)
    try:
        # nothing before a key press (1.5 s of AFE time)
        with feeder.progress:
            start = feeder.afe_total
            assert feeder.progress.wait_for(lambda: feeder.afe_total - start >= 3000, 15)
        assert len(feeder.pulses) == mark
        t_end = time.monotonic() + 30
        # a key held down: the terminal's auto-repeat (~25/s)
        while sum(1 for p in feeder.pulses_since(mark) if p.channel == 0) < 8:
            assert time.monotonic() < t_end and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            os.write(master, b" ")
            time.sleep(0.04)  # the user's key auto-repeat interval (pacing input, not synchronising)
        released = time.monotonic()
        proc.wait(timeout=10)
        stopped = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert stopped - released < 3.0
    n = len(feeder.pulses)
    with feeder.progress:
        start = feeder.afe_total
        feeder.progress.wait_for(lambda: feeder.afe_total - start >= 600, 10)
    assert len(feeder.pulses) == n


# ---- the latency benchmark --------------------------------------------------------------------------
def test_bench_latency_json() -> None:
    p = run("bench", "latency", "--device", "sim", "--json", "--trials", "5", timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout
    r = json.loads(lines[0])
    assert set(r) == {"median_ms", "p99_ms", "trials"} and r["trials"] == 5
    assert 0 < r["median_ms"] <= r["p99_ms"] < 500, r


def test_bench_latency_needs_the_rig() -> None:
    p = run("bench", "latency", "--device", "socket://127.0.0.1:1", "--json")
    assert p.returncode == 2 and "rig" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
