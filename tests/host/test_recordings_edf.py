"""BDF+ write / EDF+ read: exactness, annotations, truth, sidecars, atomicity, malformed input."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyedflib
import pytest

from garment.recordings import Annotation, Recording, RecordingFormatError, read_edf, sidecar_paths, write_bdf
from garment.recordings import edf as edf_mod
from garment.recordings.edf import _edflib_text, edf_header_number


def _rec(n: int = 3001, fs: float = 1000.0, seed: int = 0) -> Recording:
    rng = np.random.default_rng(seed)
    emg = rng.normal(0, 0.05, size=(n, 2))           # mV
    big = rng.normal(0, 2e4, size=(n, 1))            # uV, large numbers
    ang = np.linspace(-10, 95, n)[:, None]           # deg
    return Recording(
        samples=np.hstack([emg, big, ang]), fs=fs,
        channel_names=["RF", "BF", "AFE3", "FX"], units=["mV", "mV", "uV", "deg"],
        annotations=[Annotation(0.0, 1.5, "pedal"), Annotation(1.5, 1.501, "rest"),
                     Annotation(0.25, 0.0, "stim on ch=1"), Annotation(2.0, 0.0, "décodeur: étendre")],
        truth={"activation": rng.random((n, 2)), "phase": np.arange(n)},
        meta={"subject": "07", "task": "ride", "power_line_hz": "50", "channel_type.FX": "MISC",
              "start_time": "2026-03-01T10:20:30"},
    )


def _half_step(lo: float, hi: float) -> float:
    return (hi - lo) / (2**24 - 2) / 2


@pytest.mark.parametrize("n", [3001, 3000, 1])  # 3001 = 7*7*61+2 -> padded; 3000 -> exact records; 1 sample
def test_round_trip_is_exact_to_quantisation(tmp_path: Path, n: int) -> None:
    rec = _rec(n)
    p = write_bdf(rec, tmp_path / "sub-07_task-ride_emg.bdf")
    back = read_edf(p)
    assert back.n_samples == n
    assert back.fs == rec.fs
    assert back.channel_names == rec.channel_names and back.units == rec.units
    with pyedflib.EdfReader(str(p)) as r:
        assert r.filetype == pyedflib.FILETYPE_BDFPLUS
        for i in range(rec.n_channels):
            lo, hi = r.getPhysicalMinimum(i), r.getPhysicalMaximum(i)
            col = rec.samples[:, i]
            assert lo <= col.min() and col.max() <= hi       # range from the data, rounded outwards
            assert len(repr(lo).removesuffix(".0")) <= 8 and len(repr(hi).removesuffix(".0")) <= 8
            err = np.abs(back.samples[:, i] - col).max()
            assert err <= _half_step(lo, hi) * 1.01 + 1e-12, (rec.channel_names[i], err)
            if n > 1:  # tight: symmetric about 0 (data straddle 0) and not wider than the data
                assert lo == -hi and hi <= 1.001 * np.abs(col).max() + 1e-6
    assert [(a.text, a.onset_s, a.duration_s) for a in back.annotations] == pytest.approx(
        [(a.text, a.onset_s, a.duration_s) for a in sorted(rec.annotations, key=lambda a: (a.onset_s, a.duration_s))])
    assert set(back.truth) == {"activation", "phase"}
    np.testing.assert_array_equal(back.truth["phase"], rec.truth["phase"])
    assert back.meta["subject"] == "07" and back.meta["task"] == "ride"
    assert back.meta["start_time"] == "2026-03-01T10:20:30"


def test_many_annotations_all_survive(tmp_path: Path) -> None:
    rec = _rec(2000)
    rec.annotations = [Annotation(i * 0.005, 0.001, f"ev{i}") for i in range(400)]
    back = read_edf(write_bdf(rec, tmp_path / "a.bdf"))
    assert [a.text for a in back.annotations] == [f"ev{i}" for i in range(400)]
    assert back.annotations[399].onset_s == pytest.approx(1.995)


def test_declared_physical_range_is_used_and_widened(tmp_path: Path) -> None:
    rec = _rec(500)  # RF ~ +-0.15 mV, FX -10..95 deg
    p = write_bdf(rec, tmp_path / "r.bdf", physical_range={"RF": (-0.5, 0.5), "FX": (0.0, 90.0)})
    with pyedflib.EdfReader(str(p)) as r:
        assert (r.getPhysicalMinimum(0), r.getPhysicalMaximum(0)) == (-0.5, 0.5)   # declared, data inside
        assert (r.getPhysicalMinimum(3), r.getPhysicalMaximum(3)) == (-10.0, 95.0)  # widened to the data
        assert r.getPhysicalMaximum(1) < 0.5                                     # undeclared: from data
    back = read_edf(p)
    assert np.abs(back.samples[:, 3] - rec.samples[:, 3]).max() <= _half_step(-10.0, 95.0) * 1.01
    with pytest.raises(ValueError, match="empty"):
        write_bdf(rec, tmp_path / "bad.bdf", physical_range=(1.0, 1.0))


@pytest.mark.parametrize("x", [0.0548123, -0.0548123, -67431.69171835929, 187500.123456, -187500.5, 1e-9, -3.3e-7, 12345678.9, 0.1])
def test_header_numbers_fit_and_bound(x: float) -> None:
    up, down = edf_header_number(x, True), edf_header_number(x, False)
    assert down <= x <= up
    for v in (up, down):
        text = f"{v:.8f}".rstrip("0").rstrip(".")
        assert len(text) <= 8 and float(text) == v
        assert float(_edflib_text(v)) == v  # what edflib prints (it truncates) is the number itself


def test_constant_channel(tmp_path: Path) -> None:
    rec = Recording(np.full((100, 1), 3.25), 100.0, ["C"], ["mV"])
    back = read_edf(write_bdf(rec, tmp_path / "c.bdf"))
    np.testing.assert_allclose(back.samples, 3.25, atol=1e-6)


def test_sidecars(tmp_path: Path) -> None:
    rec = _rec(1000)
    p = write_bdf(rec, tmp_path / "sub-07_task-ride_emg.bdf")
    sc = sidecar_paths(p)
    assert sc["emg_json"].name == "sub-07_task-ride_emg.json"
    doc = json.loads(sc["emg_json"].read_text())
    for key in ("TaskName", "SamplingFrequency", "EMGChannelCount", "PowerLineFrequency", "RecordingDuration",
                "EMGReference", "EMGPlacementScheme", "SoftwareFilters", "Manufacturer"):
        assert key in doc, key
    assert doc["TaskName"] == "ride" and doc["SamplingFrequency"] == 1000.0 and doc["PowerLineFrequency"] == 50
    assert doc["EMGChannelCount"] == 3 and doc["RecordingDuration"] == pytest.approx(1.0)
    with open(sc["channels"], newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [(r["name"], r["type"], r["units"]) for r in rows] == [
        ("RF", "EMG", "mV"), ("BF", "EMG", "mV"), ("AFE3", "EMG", "uV"), ("FX", "MISC", "deg")]
    assert all(r["sampling_frequency"] == "1000" for r in rows)
    with open(sc["events"], newline="", encoding="utf-8") as f:
        ev = list(csv.DictReader(f, delimiter="\t"))
    assert list(ev[0]) == ["onset", "duration", "trial_type", "sample"]
    assert [e["trial_type"] for e in ev] == ["pedal", "stim on ch=1", "rest", "décodeur: étendre"]
    assert ev[1]["sample"] == "250"


def test_stale_truth_is_removed(tmp_path: Path) -> None:
    p = write_bdf(_rec(100), tmp_path / "x.bdf")
    assert sidecar_paths(p)["truth"].exists()
    rec = _rec(100)
    rec.truth = {}
    write_bdf(rec, p)
    assert not sidecar_paths(p)["truth"].exists()
    assert read_edf(p).truth == {}


@pytest.mark.parametrize("mutate,match", [
    (lambda r: r.samples.__setitem__((5, 0), np.nan), "NaN"),
    (lambda r: r.annotations.append(Annotation(0, 0, "x" * 41)), "40"),
    (lambda r: r.channel_names.__setitem__(0, "a-very-long-channel-name"), "16"),
])
def test_unwritable_recordings_are_refused_and_leave_nothing(tmp_path: Path, mutate, match: str) -> None:
    rec = _rec(100)
    mutate(rec)
    with pytest.raises(ValueError, match=match):
        write_bdf(rec, tmp_path / "x.bdf")
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_bdf(_rec(500, seed=1), tmp_path / "x.bdf")
    before = p.read_bytes()
    real = edf_mod._write_bdf_file

    def dies_half_way(rec, target, ranges):
        real(rec, target, ranges)
        with open(target, "r+b") as f:   # a partial file exists under the temp name...
            f.truncate(2000)
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(edf_mod, "_write_bdf_file", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        write_bdf(_rec(800, seed=2), p)
    assert p.read_bytes() == before                       # ...but the old file is untouched
    assert sorted(x.name for x in tmp_path.iterdir() if x.name.startswith(".")) == []  # no temp left


def test_truncated_and_garbage_files_give_clear_errors(tmp_path: Path) -> None:
    p = write_bdf(_rec(2000), tmp_path / "x.bdf")
    raw = p.read_bytes()
    cut = tmp_path / "cut.bdf"
    cut.write_bytes(raw[:-777])
    with pytest.raises(RecordingFormatError, match="cut.bdf.*truncated") as e:
        read_edf(cut)
    assert e.value.path == cut
    head = tmp_path / "head.bdf"
    head.write_bytes(raw[:100])
    with pytest.raises(RecordingFormatError, match="head.bdf"):
        read_edf(head)
    junk = tmp_path / "junk.edf"
    junk.write_bytes(b"this is not an EDF file\n" * 50)
    with pytest.raises(RecordingFormatError, match="junk.edf"):
        read_edf(junk)
    with pytest.raises(FileNotFoundError):
        read_edf(tmp_path / "missing.bdf")
    bad_truth = sidecar_paths(p)["truth"]
    bad_truth.write_bytes(b"not npz")
    with pytest.raises(RecordingFormatError, match="truth"):
        read_edf(p)


def test_reads_plain_edf_plus_from_other_writers(tmp_path: Path) -> None:
    p = tmp_path / "other.edf"
    sig = np.sin(np.linspace(0, 20, 512)) * 100
    w = pyedflib.EdfWriter(str(p), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([{"label": "EMG1", "dimension": "uV", "sample_frequency": 256, "physical_max": 200,
                         "physical_min": -200, "digital_max": 32767, "digital_min": -32768,
                         "transducer": "", "prefilter": ""}])
    w.writeSamples([sig])
    w.writeAnnotation(0.5, -1, "start")
    w.close()
    r = read_edf(p)
    assert r.fs == 256.0 and r.n_samples == 512 and r.channel_names == ["EMG1"]
    np.testing.assert_allclose(r.samples[:, 0], sig, atol=400 / 65535)
    assert [(a.onset_s, a.duration_s, a.text) for a in r.annotations] == [(0.5, 0.0, "start")]


def test_sampling_rate_reads_back_as_written(tmp_path: Path) -> None:
    """674-sample records of 0.674 s: the reader computes 999.9999999999999 Hz; read back 1000."""
    import pyedflib

    from garment.recordings import Recording, read_edf, write_bdf
    from garment.recordings.edf import header_rate

    rec = Recording(samples=np.zeros((13480, 1)), fs=1000.0, channel_names=["RF"], units=["mV"])
    p = tmp_path / "r.bdf"
    write_bdf(rec, p)
    r = pyedflib.EdfReader(str(p))
    raw = r.getSampleFrequency(0)
    r.close()
    assert raw != 1000.0  # the case the snap exists for
    assert read_edf(p).fs == 1000.0
    assert header_rate(2000.0000000001) == 2000.0 and header_rate(512.5) == 512.5
    assert header_rate(1000 / 3 * (1 + 1e-12)) == 1000 / 3 and header_rate(1234.567) == 1234.567
