"""The ``garment`` CLI end to end on the simulated garment, and its bad-input paths."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from garment.sim import SimGarment
from simkill import kill_when_streaming

GARMENT = [sys.executable, "-m", "garment.cli"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GARMENT, *args], capture_output=True, text=True, timeout=timeout)


def test_stream_sim_json_reports_no_loss() -> None:
    p = run("stream", "--device", "sim", "--seconds", "3", "--json")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout  # exactly one JSON object
    r = json.loads(lines[0])
    assert set(r) == {"channels", "fs", "samples", "dropped", "crc_errors", "duration_s"}
    assert (r["channels"], r["fs"], r["dropped"], r["crc_errors"]) == (8, 2000, 0, 0)
    assert abs(r["samples"] - 2000 * r["duration_s"]) < 2000 * 0.2, r


def test_info_sim() -> None:
    p = run("info", "--device", "sim", "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["board"] == "sim" and info["channels"] == 8 and info["fs"] == 2000


@pytest.mark.parametrize(
    "device,needle",
    [
        ("socket://127.0.0.1:1", "cannot open"),
        ("serial:/dev/does-not-exist", "cannot open"),
        ("bogus", "unknown device"),
    ],
)
def test_bad_device_is_one_line_no_traceback(device: str, needle: str) -> None:
    p = run("info", "--device", device)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert needle in p.stderr


def test_garment_that_dies_mid_stream_is_reported_and_data_kept() -> None:
    with SimGarment() as sim:
        proc = subprocess.Popen(
            [*GARMENT, "stream", "--device", sim.url, "--seconds", "30", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        t = kill_when_streaming(sim, 2000)
        out, err = proc.communicate(timeout=60)
        t.join()
    assert not sim.alive()
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["samples"] > 0 and "error" in report
    assert "stopped answering" in err
