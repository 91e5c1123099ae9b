"""CSV read/write: exact round trip, fs inference, labels, errors with line numbers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from garment.recordings import Annotation, Recording, RecordingFormatError, read_csv, write_csv


def _rec(fs: float = 2000.0, n: int = 500) -> Recording:
    rng = np.random.default_rng(3)
    return Recording(rng.normal(0, 50, (n, 3)), fs, ["RF", "VL", "FX"], ["uV", "uV", "deg"],
                     annotations=[Annotation(0.05, 0.1, "push"), Annotation(0.15, 0.05, "pull")])


def test_round_trip_exact_with_units_and_labels(tmp_path: Path) -> None:
    rec = _rec()
    p = write_csv(rec, tmp_path / "r.csv", labels=True)
    assert p.read_text().splitlines()[0] == "time_s,RF [uV],VL [uV],FX [deg],label"
    back = read_csv(p)
    assert back.fs == 2000.0
    np.testing.assert_array_equal(back.samples, rec.samples)  # 17 significant digits: bit-exact
    assert back.channel_names == rec.channel_names and back.units == rec.units
    assert [(a.text, a.onset_s, a.duration_s) for a in back.annotations] == pytest.approx(
        [("push", 0.05, 0.1), ("pull", 0.15, 0.05)])
    np.testing.assert_array_equal(back.labels_per_sample(), rec.labels_per_sample())


def test_plain_header_fs_given_or_inferred(tmp_path: Path) -> None:
    rec = _rec(fs=1000.0, n=50)
    p = write_csv(rec, tmp_path / "r.csv", units_in_header=False, time_column=False)
    with pytest.raises(RecordingFormatError, match="pass fs"):
        read_csv(p)
    back = read_csv(p, fs=1000.0, units=["uV", "uV", "deg"])
    assert back.channel_names == ["RF", "VL", "FX"] and back.units == ["uV", "uV", "deg"]
    np.testing.assert_array_equal(back.samples, rec.samples)
    p2 = write_csv(rec, tmp_path / "t.csv", units_in_header=False)
    assert read_csv(p2).fs == 1000.0
    with pytest.raises(RecordingFormatError, match="implies 1000"):
        read_csv(p2, fs=500.0)


def test_hand_written_csv_with_irregular_rate(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text("time_s,a\n0.0,1\n0.004,2\n0.008,3\n0.012,4\n")
    r = read_csv(p)
    assert r.fs == 250.0 and r.samples[:, 0].tolist() == [1, 2, 3, 4] and r.units == [""]


def test_errors_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("time_s,a,b\n0,1,2\n0.001,1,x\n")
    with pytest.raises(RecordingFormatError, match="'x' in column 'b'") as e:
        read_csv(p)
    assert e.value.line == 3 and "bad.csv" in str(e.value)
    p.write_text("time_s,a,b\n0,1,2\n0.001,1\n")
    with pytest.raises(RecordingFormatError, match="2 fields") as e:
        read_csv(p)
    assert e.value.line == 3
    p.write_text("time_s,a\n0,1\n0.001,1\n0.002,1\n0.010,1\n0.011,1\n")
    with pytest.raises(RecordingFormatError, match="not uniform") as e:
        read_csv(p)
    assert e.value.line == 5
    p.write_text("")
    with pytest.raises(RecordingFormatError, match="header"):
        read_csv(p)
