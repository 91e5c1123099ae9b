"""UCI lower-limb loader: the real files (subjects 1-7) and synthetic files with each quirk."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from garment.recordings import uci as uci_mod
from garment.recordings import RecordingFormatError, find_uci_files, load_uci
from garment.recordings.uci import canonical_channel

UCI_DIR = Path(os.environ.get("GARMENT_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")) / "uci-lower-limb"
needs_data = pytest.mark.skipif(not UCI_DIR.is_dir(), reason=f"UCI data not found at {UCI_DIR}")


# ------------------------------------------------------------------------------- real files
@needs_data
def test_every_published_file_loads() -> None:
    files = find_uci_files(UCI_DIR)
    assert len(files) == 42  # 7 subjects x 2 groups x 3 exercises
    for f in files:
        r = load_uci(f)
        assert r.channel_names == ["RF", "BF", "VM", "ST", "FX"], f
        assert r.units == ["mV", "mV", "mV", "mV", "deg"]
        assert r.fs == 1000.0
        assert np.isfinite(r.samples).all(), f
        assert len(r.annotations) == 1
        ann = r.annotations[0]
        assert ann.text == r.meta["exercise"] == f.stem[-3:]
        assert ann.onset_s == 0.0 and ann.duration_s == pytest.approx(r.duration_s)
        assert r.meta["group"] == f.stem[-4] and r.meta["subject"] == f.stem[:-4]
        assert r.meta["source_file"] == f.name
        # surface EMG in mV: well inside +-5 mV; knee angle in degrees
        assert np.abs(r.samples[:, :4]).max() < 5.0, f
        assert np.abs(r.samples[:, 4]).max() <= 180.0, f


@needs_data
def test_known_values_english_header_and_angle_tail() -> None:
    r = load_uci(UCI_DIR / "N_TXT" / "1Nmar.txt")
    assert r.n_samples == 5681  # "5681 values" in the header; 20 angle-only/empty rows dropped
    np.testing.assert_array_equal(r.samples[0], [0.0007, -0.0083, 0.0045, -0.0091, 57.6])
    np.testing.assert_array_equal(r.samples[-1], [0.0127, 0.0097, -0.054, -0.003, 7.5])
    assert r.meta["dropped_tail_rows"] == "20"   # includes the "7.5V" row
    assert r.meta["angle_native_fs"] == "50"
    assert r.meta["bids_subject"] == "01N"


@needs_data
def test_spanish_header_channels_4_to_8() -> None:
    r = load_uci(UCI_DIR / "A_TXT" / "1Amar.txt")
    assert r.n_samples == 12973
    np.testing.assert_array_equal(r.samples[0], [-0.0548, -0.0015, 0.042, 0.0285, -9.0])
    assert r.meta["header_channel_names"].startswith("Recto Femoral;Biceps Femoral")
    assert r.meta["group"] == "A"


@needs_data
@pytest.mark.parametrize("name,prev", [("4Nsen.txt", -80.6), ("7Npie.txt", None)])
def test_last_row_without_angle_is_held(name: str, prev: float | None) -> None:
    r = load_uci(UCI_DIR / "N_TXT" / name)
    assert r.meta["filled_angle_samples"] == "1"
    assert r.samples[-1, 4] == r.samples[-2, 4]
    if prev is not None:
        assert r.samples[-1, 4] == prev
    np.testing.assert_array_equal(r.samples[-1, :4], [0.0007, -0.003, 0.0067, -0.003] if name == "4Nsen.txt"
                                  else [-0.0091, 0.0127, 0.0052, -0.0113])


@needs_data
def test_duplicate_recordings_share_a_content_hash() -> None:
    a = load_uci(UCI_DIR / "N_TXT" / "1Npie.txt")
    b = load_uci(UCI_DIR / "N_TXT" / "2Npie.txt")
    c = load_uci(UCI_DIR / "N_TXT" / "3Npie.txt")
    assert a.meta["content_sha256"] == b.meta["content_sha256"] != c.meta["content_sha256"]


# ------------------------------------------------------------------------------- synthetic
EN = ["RF", "BF", "VM", "ST", "FX"]
ES = ["Recto Femoral", "Biceps Femoral", "Vasto Medial", "EMG Semitendinoso", "Flexo-Extensión"]


def write_uci(path: Path, rows: list[list[str]], names: list[str] = EN, counts: int | None = None,
              units: list[str] | None = None, extra_header: list[str] = (), first_channel: int = 1) -> Path:
    units = units or ["mV"] * (len(names) - 1) + ["deg"]
    n = counts if counts is not None else sum(1 for r in rows if all(c for c in r[:4]))
    head = [f"File Name: {path.stem}.log"]
    for k, (nm, u) in enumerate(zip(names, units)):
        head.append(f"Channel {first_channel + k}: '{nm}', {n} values, engineering units: {u}, no filters.")
    head += list(extra_header) + [""]
    lines = head + ["\t".join(r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    return path


def _rows(n: int, fx: bool = True) -> list[list[str]]:
    return [[f"{0.001 * i:.4f}", f"{-0.002 * i:.4f}", "0.0007", "-0.0015", f"{10 + i * 0.1:.1f}" if fx else ""]
            for i in range(n)]


def test_synthetic_spanish_latin1_8_line_header_and_digital_columns(tmp_path: Path) -> None:
    rows = [r + ["1", "0"] for r in _rows(30)]  # declared digital column + an undeclared one
    rows += [["", "", "", "", "13.0", "", ""], ["", "", "", "", "", "", ""]]
    p = write_uci(tmp_path / "9Asen.txt", rows, names=ES + ["Digital 1"], units=["mV"] * 4 + ["deg", "V"],
                  extra_header=["Segment: Leg"], first_channel=4)
    r = load_uci(p)
    assert r.n_samples == 30 and r.channel_names == ["RF", "BF", "VM", "ST", "FX"]
    np.testing.assert_allclose(r.samples[3], [0.003, -0.006, 0.0007, -0.0015, 10.3])
    assert r.meta["ignored_columns"] == "5:Digital 1;6:undeclared"
    assert r.meta["extra_header"] == "Segment: Leg"
    assert r.annotations[0].text == "sen"


def test_channel_name_aliases() -> None:
    assert canonical_channel("Flexo-Extensión") == "FX"
    assert canonical_channel("EMG Semitendinoso") == "ST"
    assert canonical_channel("vasto  medial") == "VM"
    assert canonical_channel("Digital") is None


def test_units_in_volts_are_converted_to_mV(tmp_path: Path) -> None:
    p = write_uci(tmp_path / "1Nmar.txt", _rows(5), units=["V", "V", "V", "V", "deg"])
    r = load_uci(p)
    assert r.units[:4] == ["mV"] * 4
    assert r.samples[2, 0] == pytest.approx(2.0)  # 0.002 V


def test_missing_emg_in_the_middle_is_rejected_with_line(tmp_path: Path) -> None:
    rows = _rows(20)
    rows[10] = ["", "", "", "", "11.0"]
    p = write_uci(tmp_path / "1Nmar.txt", rows, counts=20)
    with pytest.raises(RecordingFormatError) as e:
        load_uci(p)
    assert e.value.path == p and "1Nmar.txt" in str(e.value)
    assert e.value.line == 7 + 12  # 7 header lines, row 11 is line 18; EMG resumes at line 19
    assert "line 18" in str(e.value)


def test_partial_emg_row_in_the_middle_is_rejected(tmp_path: Path) -> None:
    rows = _rows(20)
    rows[5][2] = ""
    with pytest.raises(RecordingFormatError, match="missing EMG"):
        load_uci(write_uci(tmp_path / "1Nmar.txt", rows, counts=20))


def test_truncated_file_is_rejected(tmp_path: Path) -> None:
    p = write_uci(tmp_path / "2Apie.txt", _rows(50), counts=60)
    with pytest.raises(RecordingFormatError, match="truncated.*60.*50") as e:
        load_uci(p)
    assert e.value.line == 7 + 50


def test_file_cut_mid_row_is_rejected(tmp_path: Path) -> None:
    p = write_uci(tmp_path / "2Apie.txt", _rows(50))
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) - 20])  # cuts into the last row
    with pytest.raises(RecordingFormatError, match="truncated"):
        load_uci(p)


def test_non_numeric_emg_names_line_and_column(tmp_path: Path) -> None:
    rows = _rows(10)
    rows[4][1] = "0.00x"
    with pytest.raises(RecordingFormatError, match=r"'0\.00x' in column 2 \(BF\)") as e:
        load_uci(write_uci(tmp_path / "3Nsen.txt", rows))
    assert e.value.line == 12


def test_long_angle_gap_is_rejected_short_one_interpolated(tmp_path: Path) -> None:
    rows = _rows(60)
    for i in range(10, 13):
        rows[i][4] = ""
    r = load_uci(write_uci(tmp_path / "3Nsen.txt", rows))
    np.testing.assert_allclose(r.samples[10:13, 4], [11.0, 11.1, 11.2])
    rows = _rows(60)
    for i in range(10, 40):
        rows[i][4] = ""
    with pytest.raises(RecordingFormatError, match="30 consecutive rows without a knee angle"):
        load_uci(write_uci(tmp_path / "3Nsen.txt", rows))


def test_bad_name_and_no_data(tmp_path: Path) -> None:
    with pytest.raises(RecordingFormatError, match="file name"):
        load_uci(write_uci(tmp_path / "walk.txt", _rows(3)))
    p = tmp_path / "1Nmar.txt"
    p.write_bytes(b"File Name: x\r\nChannel 1: 'RF', 3 values\r\n")
    with pytest.raises(RecordingFormatError, match="no tab-separated numeric data"):
        load_uci(p)
    p = write_uci(tmp_path / "1Npie.txt", [r[:4] for r in _rows(3)], names=EN[:4], units=["mV"] * 4)
    with pytest.raises(RecordingFormatError, match="lacks channel"):
        load_uci(p)


def test_unknown_angle_name_identified_by_unit_and_position(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A knee-angle channel named outside the alias table: its unit (deg) and position (5) identify it."""
    with caplog.at_level("WARNING"):
        r = load_uci(write_uci(tmp_path / "8Nmar.txt", _rows(12), names=EN[:4] + ["Angulo rodilla"]))
    assert r.channel_names == ["RF", "BF", "VM", "ST", "FX"]
    np.testing.assert_allclose(r.channel("FX")[:3], [10.0, 10.1, 10.2])
    assert "'Angulo rodilla' (deg) is not a known name: taken as FX" in caplog.text
    assert "taken as FX" in r.meta["channel_warnings"]


def test_unidentifiable_channels_are_refused_naming_them(tmp_path: Path) -> None:
    # two unknown angle-like columns, and an unknown EMG name in a shuffled order
    with pytest.raises(RecordingFormatError, match=r"lacks channel.*FX.*unidentified: 5:'Knee A'"):
        load_uci(write_uci(tmp_path / "1Nmar.txt", [r + ["1.0"] for r in _rows(6)],
                           names=EN[:4] + ["Knee A", "Knee B"], units=["mV"] * 4 + ["deg", "deg"]))
    rows = [[r[1], r[0], r[2], r[3], r[4]] for r in _rows(6)]
    with pytest.raises(RecordingFormatError, match=r"lacks channel.*RF.*unidentified: 2:'Musculo 1'"):
        load_uci(write_uci(tmp_path / "1Nmar.txt", rows, names=["BF", "Musculo 1", "VM", "ST", "FX"]))
    with pytest.raises(RecordingFormatError, match="named FX but its unit is 'mV'"):
        load_uci(write_uci(tmp_path / "1Nmar.txt", _rows(6), units=["mV"] * 5))


def test_header_variants_fuzz(tmp_path: Path) -> None:
    """Random names (aliases or unknown), order, units and extra columns: the loader either
    returns every channel's own samples (in mV / deg) or refuses with a clear error; it
    never hands one channel's data out under another's name."""
    rng = np.random.default_rng(19)
    aliases = {c: [a for a, v in uci_mod._ALIASES.items() if v == c] for c in ("RF", "BF", "VM", "ST", "FX")}
    scale = {"mV": 1.0, "V": 1e-3, "uV": 1e3, "µV": 1e3}
    loaded = refused = warned = 0
    n = 8
    for trial in range(120):
        canon = ["RF", "BF", "VM", "ST", "FX"]
        order = list(range(5)) if rng.random() < 0.5 else list(rng.permutation(5))
        base = {c: [0.001 * (k + 1) * (i + 1) * (-1) ** i for i in range(n)] for k, c in enumerate(canon[:4])}
        base["FX"] = [10 + 0.5 * i for i in range(n)]
        names, units, cols = [], [], []
        for j in order:
            c = canon[j]
            # a name outside the table: anywhere in the published order; shuffled, only the angle
            # (a shuffled header with unknown EMG names is ambiguous: refused, tested above)
            if rng.random() < 0.25 and (order == list(range(5)) or c == "FX"):
                nm = rng.choice(["Canal X", "Sensor %d" % j, "EMG?", "Angulo", "unnamed"])
            else:
                nm = str(rng.choice(aliases[c])).upper() if rng.random() < 0.3 else str(rng.choice(aliases[c]))
            u = "deg" if c == "FX" else str(rng.choice(list(scale)))
            names.append(nm)
            units.append(u)
            cols.append([f"{v * (1.0 if c == 'FX' else scale[u]):.7g}" for v in base[c]])
        if rng.random() < 0.3:  # a digital input, declared
            at = int(rng.integers(0, len(names) + 1))
            names.insert(at, "Digital")
            units.insert(at, "V")
            cols.insert(at, ["1"] * n)
        rows = [[col[i] for col in cols] for i in range(n)]
        if rng.random() < 0.2:
            rows = [r + ["0"] for r in rows]  # undeclared trailing column
        p = write_uci(tmp_path / "5Npie.txt", rows, names=names, units=units, counts=n)
        try:
            r = load_uci(p)
        except RecordingFormatError as e:
            refused += 1
            assert "5Npie.txt" in str(e) and ("lacks channel" in str(e) or "declared twice" in str(e)
                                              or "unit is" in str(e) or "unreadable" in str(e)), str(e)
            continue
        loaded += 1
        warned += "channel_warnings" in r.meta
        for c in canon:
            np.testing.assert_allclose(r.channel(c), base[c], rtol=1e-5, atol=1e-9, err_msg=f"{names} {c}")
    assert loaded > 60 and refused > 5 and warned > 10, (loaded, refused, warned)
