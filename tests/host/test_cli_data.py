"""Data in and out through the CLI: phantom, import, stream --out (incl. a dying link), --lsl."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from garment.recordings import read_edf
from garment.sim import SimGarment
from simkill import kill_when_streaming

GARMENT = [sys.executable, "-m", "garment.cli"]
UCI = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "uci-lower-limb"


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GARMENT, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_phantom_writes_bdf_with_labels_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "g.bdf"
    p = run("phantom", "gestures", "--seconds", "12", "--out", str(out), "--seed", "3", "--channels", "4", "--fs", "1000")
    assert p.returncode == 0, p.stderr
    rec = read_edf(out)
    assert rec.fs == 1000 and rec.samples.shape == (12000, 4)
    assert rec.channel_names == ["L_RF", "L_VL", "L_BF", "L_ST"]
    labels = {a.text for a in rec.annotations}
    assert labels & {"knee_extension", "knee_flexion", "rest", "co_contraction"}, labels
    assert "drive" in rec.truth and rec.truth["drive"].shape[0] == 12000
    spikes = np.load(tmp_path / "g_spikes.npz")
    assert len(spikes.files) > 10
    assert (tmp_path / "g_emg.json").exists() and (tmp_path / "g_channels.tsv").exists()
    assert oct(out.stat().st_mode & 0o777) != "0o600"  # a finished file, not a temp file


def test_phantom_bad_arguments_one_line(tmp_path: Path) -> None:
    p = run("phantom", "cycling", "--seconds", "1", "--out", str(tmp_path / "x.txt"))
    assert p.returncode == 2 and "Traceback" not in p.stderr and ".bdf" in p.stderr
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.skipif(not UCI.is_dir(), reason="shared UCI data not present")
def test_import_uci(tmp_path: Path) -> None:
    p = run("import", "uci-lower-limb", str(UCI), str(tmp_path))
    assert p.returncode == 0, p.stderr
    files = sorted(tmp_path.rglob("*_emg.bdf"))
    # every recording but the description and the published repeats, each named as skipped
    skipped = [ln for ln in p.stderr.splitlines() if "same samples as" in ln and "skipped" in ln]
    assert {ln.split(":")[0] for ln in skipped} == {"2Npie.txt", "2Nsen.txt"}, p.stderr
    assert len(files) == len(list(UCI.rglob("*.txt"))) - 1 - len(skipped)
    rec = read_edf(files[0])
    assert rec.channel_names == ["RF", "BF", "VM", "ST", "FX"] and rec.fs == 1000
    assert rec.annotations[0].text in ("mar", "pie", "sen")


def test_stream_out_records_every_sample(tmp_path: Path) -> None:
    out = tmp_path / "rec.bdf"
    p = run("stream", "--device", "sim", "--seconds", "3", "--channels", "4", "--fs", "1000", "--json", "--out", str(out))
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    rec = read_edf(out)
    assert rec.samples.shape == (r["samples"], 4)
    assert rec.fs == 1000 and rec.units == ["uV"] * 4
    assert not [a for a in rec.annotations if a.text.startswith("GAP")]
    assert 1.0 < np.abs(rec.samples).mean() < 2000  # EMG in microvolts, not codes


def test_stream_out_survives_the_link_dropping(tmp_path: Path) -> None:
    out = tmp_path / "drop.bdf"
    with SimGarment() as sim:
        proc = subprocess.Popen([*GARMENT, "stream", "--device", sim.url, "--seconds", "60", "--json",
                                 "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        t = kill_when_streaming(sim, 3000)
        stdout, stderr = proc.communicate(timeout=120)
        t.join()
    assert proc.returncode == 3, stderr
    r = json.loads(stdout)
    rec = read_edf(out)  # the recording is complete and readable
    assert r["samples"] > 1000
    assert rec.samples.shape[0] == r["samples"]


def test_stream_lsl_publishes_emg(tmp_path: Path) -> None:
    from pylsl import StreamInlet, resolve_byprop

    from garment.streaming.lsl import use_local_only_config

    cfg = use_local_only_config(tmp_path)
    proc = subprocess.Popen([*GARMENT, "stream", "--device", "sim", "--seconds", "8", "--lsl", "--json",
                             "--channels", "2", "--fs", "500"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LSLAPICFG": str(cfg)})
    try:
        found = resolve_byprop("type", "EMG", minimum=1, timeout=30)
        assert found, "no EMG stream on LSL"
        info = found[0]
        assert info.channel_count() == 2 and info.nominal_srate() == 500
        inlet = StreamInlet(info)
        full = inlet.info(timeout=10)
        ch = full.desc().child("channels").child("channel")
        assert ch.child_value("label") == "L_RF"
        got = 0
        while got < 500:
            chunk, ts = inlet.pull_chunk(timeout=5.0)
            assert ts, "no samples arrived"
            got += len(chunk)
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


@pytest.mark.skipif(not UCI.is_dir(), reason="shared UCI data not present")
def test_report_png_with_real_recordings(tmp_path: Path) -> None:
    out = tmp_path / "report.png"
    p = run("report", "--out", str(out), "--uci", str(UCI))
    assert p.returncode == 0, p.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
