"""Channels found by name, unit and position in BDF+ and CSV files with other tools' headers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from garment.dataset import emg_channels
from garment.recordings import Recording, read_csv, read_edf, write_bdf, write_csv
from garment.recordings.channels import find_channels, normalise

WANT = ["RF", "BF", "VM", "ST"]
VARIANTS = {"RF": ["RF", "rf", "EMG RF", "RF-REF", "emg_rf", "Rf.", "RF EMG"],
            "BF": ["BF", "bf", "EMG BF", "BF-Ref", "BF_A1"],
            "VM": ["VM", "EMG-VM", "vm"], "ST": ["ST", "st", "EMG ST", "ST-ref"]}
UNKNOWN = ["Ch 3", "Sensor", "EXG1", "unnamed"]
SCALE = {"uV": 1.0, "mV": 1e-3, "V": 1e-6}


def test_normalise() -> None:
    assert normalise("EMG RF-REF") == normalise("rf") == "rf"
    assert normalise("Vasto Médial") == "vastomedial"
    assert find_channels(["EMG RF", "FX"], ["uV", "deg"], ["RF"]) == ([0], [])


def test_unknown_name_found_by_unit_and_position(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        idx, warns = find_channels(["RF", "EXG2", "VM", "ST", "Angle"], ["mV", "mV", "mV", "mV", "deg"], WANT, "a.bdf")
    assert idx == [0, 1, 2, 3] and len(warns) == 1 and "'EXG2' (mV) taken as 'BF'" in caplog.text
    with pytest.raises(ValueError, match=r"a\.bdf: no channel 'BF'.*holds RF \[mV\]"):
        find_channels(["RF", "EXG2", "VM", "ST", "EXG5"], ["mV"] * 5, WANT, "a.bdf")  # five voltages: ambiguous
    with pytest.raises(ValueError, match="no channel 'RF'"):
        find_channels(["BF", "EXG2", "VM", "ST"], ["mV"] * 4, WANT)  # BF out of its place: the order is not ours


@pytest.mark.parametrize("fmt", ["bdf", "csv"])
def test_header_variants_fuzz(tmp_path: Path, fmt: str) -> None:
    """Names, order, units and extra channels vary; the EMG comes back right or is refused."""
    rng = np.random.default_rng(7 if fmt == "bdf" else 8)
    n = 400
    t = np.arange(n)
    truth = {c: 50.0 * (k + 1) * np.sin(2 * np.pi * (k + 3) * t / 100.0) for k, c in enumerate(WANT)}
    loaded = refused = warned = 0
    for trial in range(30 if fmt == "bdf" else 40):
        order = WANT if rng.random() < 0.5 else list(rng.permutation(WANT))
        names, units, cols = [], [], []
        for c in order:
            u = str(rng.choice(list(SCALE)))
            nm = str(rng.choice(VARIANTS[c]))
            if rng.random() < 0.2:
                nm = str(rng.choice(UNKNOWN)) + str(trial)
            names.append(nm); units.append(u); cols.append(truth[c] * SCALE[u])
        for extra in rng.choice(["FX", "ACC", "TRIG"], size=int(rng.integers(0, 3)), replace=False):
            at = int(rng.integers(0, len(names) + 1)) if extra != "FX" else len(names)
            names.insert(at, extra); units.insert(at, {"FX": "deg", "ACC": "g", "TRIG": ""}[extra])
            cols.insert(at, rng.normal(size=n))
        if len(set(names)) < len(names):
            continue
        rec = Recording(samples=np.column_stack(cols), fs=1000.0, channel_names=names, units=units)
        p = tmp_path / f"r{trial}.{fmt}"
        if fmt == "bdf":
            write_bdf(rec, p)
            back = read_edf(p)
        else:
            write_csv(rec, p)
            back = read_csv(p)
        try:
            emg = emg_channels(back, WANT)
        except ValueError as e:
            refused += 1
            assert "no channel" in str(e), str(e)
            continue
        loaded += 1
        warned += any(nm not in sum(VARIANTS.values(), []) for nm in names if nm not in ("FX", "ACC", "TRIG"))
        assert emg.channel_names == WANT
        for k, c in enumerate(WANT):
            got = emg.samples[:, k] / SCALE[emg.units[k]]
            np.testing.assert_allclose(got, truth[c], atol=0.05, err_msg=f"{names} {units} {c}")
    assert loaded >= 15 and refused >= 1, (loaded, refused)
    assert warned >= 1
