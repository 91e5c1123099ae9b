"""train / evaluate / upload through the CLI on phantom recordings and the simulated garment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GARMENT = [sys.executable, "-m", "garment.cli"]


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GARMENT, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("rec")
    out = []
    for seed in (1, 2, 3):
        p = d / f"g{seed}.bdf"
        r = run("phantom", "gestures", "--seconds", "24", "--out", str(p), "--seed", str(seed), "--channels", "4", "--fs", "1000")
        assert r.returncode == 0, r.stderr
        out.append(p)
    return out


@pytest.fixture(scope="module")
def model(recordings: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    m = tmp_path_factory.mktemp("m") / "lda.gmdl"
    r = run("train", *map(str, recordings[:2]), "--out", str(m), "--kind", "lda", "--json")
    assert r.returncode == 0, r.stderr
    return m, json.loads(r.stdout)


def test_train_reports_cv_float_int8_agreement_size(model: tuple[Path, dict]) -> None:
    m, out = model
    for k in ("cv_accuracy", "float_accuracy", "int8_accuracy", "agreement", "model_bytes"):
        assert k in out, out
    assert out["model_bytes"] == m.stat().st_size
    assert out["groups"] == 2 and out["windows"] > 500
    assert out["cv_accuracy"] > 0.6 and abs(out["float_accuracy"] - out["int8_accuracy"]) < 0.02
    assert out["agreement"] > 0.97


def test_evaluate_with_device_agreement(model: tuple[Path, dict], recordings: list[Path]) -> None:
    m, _ = model
    r = run("evaluate", "--model", str(m), str(recordings[2]), "--json", "--device", "sim")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["accuracy"] > 0.6
    labels = out["confusion"]["labels"]
    assert len(out["confusion"]["matrix"]) == len(labels)
    assert out["device_agreement"] == 1.0  # every window: device integers == host reference


def test_upload_sim(model: tuple[Path, dict]) -> None:
    m, _ = model
    r = run("upload", "--device", "sim", str(m), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["verified"] and info["active"]["size"] == m.stat().st_size


def test_bad_model_file_is_one_line(tmp_path: Path, recordings: list[Path]) -> None:
    bad = tmp_path / "bad.gmdl"
    bad.write_bytes(b"GMDL" + bytes(40))
    for args in (("upload", "--device", "sim", str(bad)), ("evaluate", "--model", str(bad), str(recordings[0]))):
        r = run(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "bad.gmdl" in r.stderr


def test_train_refuses_unlabelled(tmp_path: Path) -> None:
    p = tmp_path / "rest.bdf"
    assert run("phantom", "rest", "--seconds", "3", "--out", str(p), "--channels", "2", "--fs", "500").returncode == 0
    r = run("train", str(p), "--out", str(tmp_path / "x.gmdl"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "x.gmdl").exists()
