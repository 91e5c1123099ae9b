"""RecordingWriter: gaps from the sample counter, annotations, atomic close, crash recovery from the spool."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from garment.recordings import (RecordingFormatError, RecordingWriter, find_spools, read_edf, recover_spool,
                                sidecar_paths, spool_path_for)

FS = 500.0
NAMES = ["RF", "BF", "FX"]
UNITS = ["uV", "uV", "deg"]
RANGE = [(-1000.0, 1000.0), (-1000.0, 1000.0), (-180.0, 180.0)]


def _block(first: int, n: int) -> np.ndarray:
    i = np.arange(first, first + n, dtype=float)[:, None]
    return np.hstack([np.sin(i / 7) * 300, np.cos(i / 11) * 200, i % 90])


def _step(col: int) -> float:
    lo, hi = RANGE[col]
    return (hi - lo) / (2**24 - 2)


def test_gap_is_zero_filled_and_annotated(tmp_path: Path) -> None:
    path = tmp_path / "sub-01_task-ride_emg.bdf"
    with RecordingWriter(path, NAMES, UNITS, FS, physical_range=RANGE, meta={"task": "ride"}) as w:
        w.append(_block(1000, 100), 1000)        # device counter starts at 1000
        w.append(_block(1100, 150), 1100)
        w.append(_block(1373, 127), 1373)        # 123 samples lost (1250..1372)
        w.annotate(0.1, 0.0, "stim on")
        w.annotate(0.2, 0.3, "pedal")
        assert w.spool_path.exists() and not path.exists()
        assert w.gaps == [(250, 123)] and w.n_received == 377 and w.n_samples == 500
    assert path.exists() and not spool_path_for(path).exists()
    assert sidecar_paths(path)["emg_json"].exists()

    rec = read_edf(path)
    assert rec.n_samples == 500 and rec.fs == FS and rec.channel_names == NAMES and rec.units == UNITS
    expected = np.zeros((500, 3))
    expected[:250] = _block(1000, 250)
    expected[373:] = _block(1373, 127)
    for c in range(3):
        assert np.abs(rec.samples[:, c] - expected[:, c]).max() <= _step(c)
    assert (rec.samples[250:373] == 0).all()
    anns = [(a.text, a.onset_s, a.duration_s) for a in rec.annotations]
    assert anns == pytest.approx([("stim on", 0.1, 0.0), ("pedal", 0.2, 0.3), ("GAP n=123", 0.5, 0.246)])
    assert rec.meta["first_sample_index"] == "1000" and rec.meta["gap_count"] == "1"
    assert rec.meta["gap_samples"] == "123" and rec.meta["task"] == "ride"
    assert "start_time" in rec.meta
    # the gap is not a label
    assert set(rec.labels_per_sample()[250:373]) <= {"", "pedal"}


def test_bad_blocks_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "x.bdf"
    w = RecordingWriter(path, NAMES, UNITS, FS, max_gap_s=1.0)
    w.append(_block(0, 10), 0)
    with pytest.raises(ValueError, match="backwards"):
        w.append(_block(5, 10), 5)                   # overlaps samples 5..9
    with pytest.raises(ValueError, match="shape"):
        w.append(np.zeros((4, 2)), 10)
    with pytest.raises(ValueError, match="NaN"):
        w.append(np.full((4, 3), np.nan), 10)
    with pytest.raises(ValueError, match="max_gap_s"):
        w.append(_block(10_000, 10), 10_000)         # 20 s jump at 500 Hz > 1 s
    with pytest.raises(ValueError, match="40"):
        w.annotate(0.0, 0.0, "x" * 50)
    w.append(_block(10, 10), 10)
    out = w.close()
    assert out == path and w.close() == path         # idempotent
    rec = read_edf(path)
    assert rec.n_samples == 20 and rec.meta["gap_count"] == "0"
    with pytest.raises(ValueError, match="closed"):
        w.append(_block(20, 1), 20)


def test_existing_spool_or_file_is_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "x.bdf"
    w = RecordingWriter(path, NAMES, UNITS, FS)
    with pytest.raises(FileExistsError, match="recover_spool"):
        RecordingWriter(path, NAMES, UNITS, FS)
    w.append(_block(0, 5), 0)
    w.close()
    with pytest.raises(FileExistsError, match="overwrite"):
        RecordingWriter(path, NAMES, UNITS, FS)
    RecordingWriter(path, NAMES, UNITS, FS, overwrite=True).close()  # no samples: nothing written...
    assert read_edf(path).n_samples == 5                              # ...the old file stays
    assert not spool_path_for(path).exists()


def test_exception_in_with_block_still_saves(tmp_path: Path) -> None:
    path = tmp_path / "x.bdf"
    with pytest.raises(ConnectionError):
        with RecordingWriter(path, NAMES, UNITS, FS) as w:
            w.append(_block(0, 50), 0)
            raise ConnectionError("BLE link dropped")
    assert read_edf(path).n_samples == 50


CRASHING_CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np
    from garment.recordings import RecordingWriter
    i = np.arange(0, 400, dtype=float)[:, None]
    data = np.hstack([np.sin(i / 7) * 300, np.cos(i / 11) * 200, i % 90])
    w = RecordingWriter(sys.argv[1], ["RF", "BF", "FX"], ["uV", "uV", "deg"], 500.0,
                        physical_range=[(-1000, 1000), (-1000, 1000), (-180, 180)], meta={"subject": "09"})
    w.append(data[:100], 0)
    w.annotate(0.05, 0.0, "stim on")
    w.append(data[100:200], 100)
    w.append(data[300:400], 300)     # 100 samples lost
    os._exit(3)                      # the host process dies: no close(), no atexit, no flush by Python
""")


def test_spool_left_by_a_dead_process_is_recoverable(tmp_path: Path) -> None:
    path = tmp_path / "sub-09_task-ride_emg.bdf"
    proc = subprocess.run([sys.executable, "-c", CRASHING_CHILD, str(path)], capture_output=True, timeout=60)
    assert proc.returncode == 3, proc.stderr.decode()
    assert not path.exists()
    assert find_spools(tmp_path) == [spool_path_for(path)]

    out = recover_spool(path)                       # the BDF path or the spool path both work
    assert out == path and not spool_path_for(path).exists() and find_spools(tmp_path) == []
    rec = read_edf(path)
    assert rec.n_samples == 400
    i = np.arange(400, dtype=float)[:, None]
    full = np.hstack([np.sin(i / 7) * 300, np.cos(i / 11) * 200, i % 90])
    received = np.r_[0:200, 300:400]
    for c in range(3):
        assert np.abs(rec.samples[received, c] - full[received, c]).max() <= _step(c)
    assert (rec.samples[200:300] == 0).all()
    assert [(a.text, a.onset_s) for a in rec.annotations] == pytest.approx([("stim on", 0.05), ("GAP n=100", 0.4)])
    assert rec.meta["recovered_from_spool"] == "true" and rec.meta["subject"] == "09"


def test_torn_final_record_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "x.bdf"
    w = RecordingWriter(path, NAMES, UNITS, FS)
    w.append(_block(0, 100), 0)
    w.append(_block(100, 100), 100)
    w._spool.close()                                  # simulate a crash: spool stays, BDF never written
    spool = spool_path_for(path)
    raw = spool.read_bytes()
    spool.write_bytes(raw[:-1000])                    # power cut in the middle of the last block
    out = recover_spool(spool)
    rec = read_edf(out)
    assert rec.n_samples == 100
    assert rec.meta["torn_spool_bytes"] != "0"
    np.testing.assert_allclose(rec.samples, _block(0, 100), atol=1e-3)


def test_damaged_spool_header_is_reported(tmp_path: Path) -> None:
    spool = tmp_path / "x.bdf.spool"
    spool.write_bytes(b"GARMENT-SPOOL-v1" + b"\x00" * 10)
    with pytest.raises(RecordingFormatError, match="x.bdf.spool.*header"):
        recover_spool(spool)
    (tmp_path / "y.bdf.spool").write_bytes(b"something else")
    with pytest.raises(RecordingFormatError, match="magic"):
        recover_spool(tmp_path / "y.bdf")
    with pytest.raises(FileNotFoundError):
        recover_spool(tmp_path / "none.bdf")
