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


@pytest.fixture(scope="module")
def one_class_recordings(recordings: list[Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A guided session's shape: every recording holds one movement (cut from phantom gestures)."""
    from garment.recordings import read_edf, write_bdf

    d = tmp_path_factory.mktemp("oneclass")
    out = []
    for p in recordings[:1]:  # one recording per class
        rec = read_edf(p)
        for label in sorted({a.text for a in rec.annotations if a.duration_s > 0}):
            a, b = max(rec.segments(label), key=lambda s: s[1] - s[0])
            q = d / f"{p.stem}_{label}.bdf"
            write_bdf(rec.slice(a, b), q)
            out.append(q)
    return out


def test_cv_scores_every_class_when_each_recording_holds_one(one_class_recordings: list[Path], tmp_path: Path) -> None:
    m = tmp_path / "m.gmdl"
    r = run("train", *map(str, one_class_recordings), "--out", str(m), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "time blocks" in out["cv"] and not out["warnings"]
    assert out["cv_accuracy"] > 0.5  # by recording it would be 0: each held-out class never trained on
    r = run("train", *map(str, one_class_recordings), "--out", str(m), "--cv", "recording")
    assert r.returncode == 0
    assert "warning: cross-validation by recording cannot score class(es)" in r.stderr


def test_evaluate_takes_its_settings_from_the_model(recordings: list[Path], tmp_path: Path) -> None:
    m = tmp_path / "m60.gmdl"
    r = run("train", *map(str, recordings[:2]), "--out", str(m), "--mains", "60", "--features", "MAV", "RMS", "M2",
            "--context", "2", "--context-step", "3", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["features"] == ["MAV", "RMS", "M2"]
    r = run("evaluate", "--model", str(m), str(recordings[2]), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["mains"] == 60 and out["channels"] and out["trained_on"] == [] and not out["warnings"]
    met = out["metrics"]
    assert set(met) == {"CA", "AER", "INS", "REJ_RATE"} and met["REJ_RATE"] == 0.0
    assert met["CA"] == pytest.approx(out["accuracy"]) and 0 <= met["INS"] < 0.5
    r = run("evaluate", "--model", str(m), str(recordings[2]), "--mains", "50")
    assert r.returncode == 2 and "trained with --mains 60" in r.stderr
    r = run("evaluate", "--model", str(m), str(recordings[0]), "--json")  # a training recording
    out = json.loads(r.stdout)
    assert out["trained_on"] == [recordings[0].name] and "not held-out" in out["warnings"][0]


def test_evaluate_refuses_recordings_without_labels(model: tuple[Path, dict], tmp_path: Path) -> None:
    from garment.recordings import read_edf, write_bdf

    p = tmp_path / "rest.bdf"
    assert run("phantom", "rest", "--seconds", "3", "--out", str(p), "--channels", "4", "--fs", "1000").returncode == 0
    rec = read_edf(p)
    rec.annotations = []  # a plain stream: no class annotations
    write_bdf(rec, tmp_path / "plain.bdf")
    r = run("evaluate", "--model", str(model[0]), str(tmp_path / "plain.bdf"), "--json")
    assert r.returncode == 2 and "no labelled windows" in r.stdout + r.stderr


def test_rejection_and_host_only_classifiers(recordings: list[Path], tmp_path: Path) -> None:
    m = tmp_path / "rej.gmdl"
    r = run("train", *map(str, recordings[:2]), "--out", str(m), "--reject-margin", "1000", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(run("evaluate", "--model", str(m), str(recordings[2]), "--json").stdout)
    assert out["rejected"] == out["windows"] and out["metrics"]["REJ_RATE"] == 1.0 and out["metrics"]["CA"] is None
    r = run("train", *map(str, recordings[:2]), "--kind", "svm", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["runs_on_garment"] is False and out["cv_accuracy"] > 0.5
    r = run("train", *map(str, recordings[:2]), "--kind", "rf")
    assert "cannot run on the garment, no model file written" in r.stdout


def test_mixed_rates_refused_naming_the_files(recordings: list[Path], tmp_path: Path) -> None:
    p = tmp_path / "slow.bdf"
    assert run("phantom", "gestures", "--seconds", "4", "--out", str(p), "--channels", "4", "--fs", "500").returncode == 0
    r = run("train", str(recordings[0]), str(p), "--out", str(tmp_path / "m.gmdl"))
    assert r.returncode == 2
    assert f"500 Hz: slow.bdf; 1000 Hz: {recordings[0].name}" in r.stderr, r.stderr


def test_an_ar_model_runs_on_the_garment_as_on_the_host(recordings: list[Path], tmp_path: Path) -> None:
    """AR1..AR4 through the whole path: trained on the host, every window's int32 outputs
    on the simulated garment equal the host reference (features, filters, decoder)."""
    m = tmp_path / "ar.gmdl"
    feats = ["MAV", "WL", "RMS", "M2", "M4", "AR1", "AR2", "AR3", "AR4"]
    r = run("train", *map(str, recordings[:2]), "--out", str(m), "--kind", "lda", "--features", *feats, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["int8_accuracy"] > 0.6
    r = run("evaluate", "--model", str(m), str(recordings[2]), "--json", "--device", "sim")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["accuracy"] > 0.6 and out["device_agreement"] == 1.0
    assert 0.0 <= out["metrics"]["REJ_RATE"] <= 1.0 and out["metrics"]["CA"] == pytest.approx(out["accuracy"], abs=0.02)
