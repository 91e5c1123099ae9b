"""import_uci on the real UCI data (subjects 1-7): one BDF+ per file, BIDS names, sidecars, labels, angle."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from garment.recordings import RecordingFormatError, import_uci, load_uci, read_edf, sidecar_paths

UCI_DIR = Path(os.environ.get("GARMENT_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")) / "uci-lower-limb"
pytestmark = pytest.mark.skipif(not UCI_DIR.is_dir(), reason=f"UCI data not found at {UCI_DIR}")


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("bids")
    return out, import_uci(UCI_DIR, out, keep_duplicates=True)


def test_one_bdf_per_source_file_with_bids_names(imported: tuple[Path, list[Path]]) -> None:
    out, paths = imported
    assert len(paths) == 42 and len(set(paths)) == 42
    assert out / "sub-01N" / "emg" / "sub-01N_task-mar_emg.bdf" in paths
    assert out / "sub-07A" / "emg" / "sub-07A_task-sen_emg.bdf" in paths
    for p in paths:
        assert p.exists() and p.suffix == ".bdf"
        sc = sidecar_paths(p)
        assert sc["emg_json"].exists() and sc["channels"].exists() and sc["events"].exists()
        assert not sc["truth"].exists()  # real data: no ground truth
    assert not list(out.rglob(".*"))    # no temp files left behind
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["BIDSVersion"] and desc["Name"]
    with open(out / "participants.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 14 and {r["group"] for r in rows} == {"N", "A"}


@pytest.mark.parametrize("src,bdf", [
    ("N_TXT/1Nmar.txt", "sub-01N/emg/sub-01N_task-mar_emg.bdf"),
    ("N_TXT/4Nsen.txt", "sub-04N/emg/sub-04N_task-sen_emg.bdf"),
    ("A_TXT/6Asen.txt", "sub-06A/emg/sub-06A_task-sen_emg.bdf"),
    ("A_TXT/2Apie.txt", "sub-02A/emg/sub-02A_task-pie_emg.bdf"),
])
def test_read_back_matches_source(imported: tuple[Path, list[Path]], src: str, bdf: str) -> None:
    out, _ = imported
    orig = load_uci(UCI_DIR / src)
    back = read_edf(out / bdf)
    assert back.n_samples == orig.n_samples and back.fs == 1000.0
    assert back.channel_names == ["RF", "BF", "VM", "ST", "FX"]
    assert back.units == ["mV", "mV", "mV", "mV", "deg"]
    err = np.abs(back.samples - orig.samples).max(axis=0)
    assert (err[:4] < 1e-6).all(), err   # mV; the source has 4 decimals (0.1 uV)
    assert err[4] < 1e-4, err            # deg; the source has 1 decimal
    assert [(a.text, a.onset_s) for a in back.annotations] == [(orig.meta["exercise"], 0.0)]
    assert back.annotations[0].duration_s == pytest.approx(orig.duration_s, abs=1e-4)
    assert back.meta["subject"] == orig.meta["subject"] and back.meta["group"] == orig.meta["group"]
    assert back.meta["source_file"] == Path(src).name
    assert (back.labels_per_sample() == orig.meta["exercise"]).all()
    doc = json.loads(sidecar_paths(out / bdf)["emg_json"].read_text())
    assert doc["TaskName"] == orig.meta["exercise"] and doc["EMGChannelCount"] == 4
    assert doc["PowerLineFrequency"] == 60 and doc["SamplingFrequency"] == 1000.0
    with open(sidecar_paths(out / bdf)["channels"], newline="") as f:
        types = {r["name"]: (r["type"], r["units"]) for r in csv.DictReader(f, delimiter="\t")}
    assert types["FX"] == ("MISC", "deg") and types["RF"] == ("EMG", "mV")


def test_duplicates_are_flagged(imported: tuple[Path, list[Path]]) -> None:
    out, _ = imported
    dup = read_edf(out / "sub-02N" / "emg" / "sub-02N_task-pie_emg.bdf")
    assert dup.meta["duplicate_of"] == "1Npie.txt"
    assert "duplicate_of" not in read_edf(out / "sub-01N" / "emg" / "sub-01N_task-pie_emg.bdf").meta


def test_duplicates_skipped_by_default_saying_which(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("1Npie.txt", "2Npie.txt"):  # the published 2Npie repeats 1Npie's samples
        (src / name).write_bytes((UCI_DIR / "N_TXT" / name).read_bytes())
    with caplog.at_level("WARNING"):
        written = import_uci(src, tmp_path / "out")
    assert [p.name for p in written] == ["sub-01N_task-pie_emg.bdf"]
    assert not (tmp_path / "out" / "sub-02N").exists()
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "2Npie.txt: same samples as 1Npie.txt: skipped, 1Npie.txt kept" in msg


def test_bad_source_stops_with_its_name(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "1Nmar.txt").write_bytes((UCI_DIR / "N_TXT" / "1Nmar.txt").read_bytes()[:5000])  # truncated copy
    with pytest.raises(RecordingFormatError, match="1Nmar.txt.*truncated"):
        import_uci(src, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        import_uci(tmp_path / "out", tmp_path / "out2")
