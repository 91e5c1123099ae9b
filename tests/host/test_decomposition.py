"""Motor-unit decomposition validated on the HD phantom's ground truth (short recordings)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from garment.decomposition import DecompositionInputError, decompose, match_to_truth, rate_of_agreement
from garment.decomposition.properties import fit_unit
from garment.decomposition.spikes import cov_isi, detect
from garment.phantom.hd_grid import grid
from garment.phantom.hd_phantom import generate_hd
from garment.phantom.hd_units import GridUnits, grid_muaps


@pytest.fixture(scope="module")
def iso():
    r = generate_hd("trapezoid", 8.0, seed=3, level=0.15, ramp_s=1.5, n_units=120)
    return r, decompose(r.emg_uV, r.fs, r.layout.labels())


def test_every_unit_with_sil_090_agrees_with_a_true_unit(iso):
    r, dec = iso
    good = [u for u in dec.units if u.sil >= 0.9]
    assert len(good) >= 6
    rec = r.recruited()
    pairs = match_to_truth([u.discharges for u in good], [r.spikes[i] for i in rec], r.fs)
    roa = {f: v for f, _, v in pairs}
    assert all(roa.get(k, 0.0) >= 0.9 for k in range(len(good))), roa  # no false unit, RoA >= 90 %
    assert len({t for _, t, _ in pairs}) == len(good)  # each found once


def test_units_carry_quality_rates_and_their_potentials(iso):
    r, dec = iso
    for u in dec.units:
        assert u.pnr > 15.0 and 3.0 < u.mean_rate < 40.0 and u.cov_isi < 0.5
        assert u.muap.shape == (u.muap.shape[0], 64) and u.filter.shape == (64, dec.extension)
        assert np.ptp(u.muap) > 20.0


def test_rate_of_agreement_finds_the_lag_and_counts_misses():
    a = np.cumsum(np.random.default_rng(2).integers(150, 260, 90))
    assert rate_of_agreement(a, a + 7, 2048.0) == (1.0, 7)
    half = a[::2]
    roa, _ = rate_of_agreement(a, half, 2048.0)
    assert abs(roa - half.size / a.size) < 1e-9
    assert rate_of_agreement(a, a + 200, 2048.0, max_lag_s=0.01)[0] < 0.1


def test_spike_detection_and_regularity_on_a_clean_pulse_train():
    rng = np.random.default_rng(0)
    s = rng.normal(0, 0.05, 20000)
    t = np.cumsum(rng.normal(200, 20, 90)).astype(int)
    s[t] += 1.0
    found, sil = detect(s, 2048.0)
    assert np.array_equal(found, t) and sil > 0.95
    assert abs(cov_isi(t, 2048.0) - 0.1) < 0.03


def test_peeling_a_neighbours_leak_off_a_source_restores_its_train():
    from garment.decomposition.peel_off import peel_sources

    rng = np.random.default_rng(4)
    fs, n = 2048.0, 40000
    own = np.cumsum(rng.normal(200, 40, 190)).astype(int)
    other = np.cumsum(rng.normal(170, 30, 220)).astype(int) + 37
    own, other = own[own < n - 50], other[other < n - 50]
    weak = np.zeros(n)
    weak[own] = 1.0 + rng.normal(0, 0.1, own.size)  # a weak unit's own discharges, uneven heights
    leak = np.zeros(n)
    leak[other + 3], leak[other + 5] = 0.7, -0.2  # a fixed waveform at the neighbour's discharges
    noise = rng.normal(0, 0.08, (2, n))
    sources = np.stack([weak + leak, 0.05 * weak + 3.0 * np.isin(np.arange(n), other)]) + noise
    before, _ = detect(sources[0], fs)
    assert rate_of_agreement(own, before, fs)[0] < 0.9  # the leak crosses the spike/noise split
    clean = peel_sources(sources, [own, other], 40)
    after, _ = detect(clean[0], fs)
    assert rate_of_agreement(own, after, fs)[0] >= 0.98
    assert rate_of_agreement(other, detect(clean[1], fs)[0], fs)[0] >= 0.98  # never peeled by its own train


def test_forward_model_fit_recovers_depth_innervation_zone_and_velocity():
    layout = grid("13x5")
    true = GridUnits(np.array([9.0]), np.array([5.0]), np.array([6.0]), np.array([4.3]),
                     np.array([[57.0, 57.0]]), np.array([1.5]), np.array([80.0]))
    m = grid_muaps(true, layout, 2048.0, length=72)[0]
    muap = np.vstack([np.zeros((20, 64)), m])[:72] + np.random.default_rng(1).normal(0, 1.0, (72, 64))
    p = fit_unit(muap, layout, 2048.0, 20)
    assert abs(p["depth_mm"] - 9.0) < 1.5 and abs(p["lateral_mm"] - 5.0) < 2.0
    assert abs(p["iz_mm"] - 6.0) < 2.0 and abs(p["cv"] - 4.3) < 0.3 and p["r2"] > 0.9


def _emg(n_ch: int = 64, fs: float = 2048.0, seconds: float = 5.0) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 10, (int(fs * seconds), n_ch))


@pytest.mark.parametrize("emg, fs, words", [
    (_emg(8), 2048.0, "at least 16"),
    (_emg(64, 500.0), 500.0, "too low"),
    (_emg(64, 2048.0, 1.0), 2048.0, "at least 3 s"),
])
def test_bad_input_is_refused_with_the_reason(emg, fs, words):
    with pytest.raises(DecompositionInputError, match=words):
        decompose(emg, fs)


def test_a_flat_channel_is_named():
    x = _emg()
    x[:, 5] = 12.0
    with pytest.raises(DecompositionInputError, match="flat channel.*R02C02"):
        decompose(x, 2048.0, grid("13x5").labels())


def test_cli_decompose_writes_tsv_json_png_and_refuses_a_bipolar_recording(tmp_path, capsys):
    from garment.cli import main

    r = generate_hd("trapezoid", 5.0, seed=5, level=0.15, ramp_s=1.0, n_units=80)
    path = r.save(tmp_path / "iso.bdf")
    assert main(["decompose", str(path), "--out", str(tmp_path / "out"), "--json", "--no-properties"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["units"] >= 3 and len(summary["sil"]) == summary["units"]
    tsv = (tmp_path / "out" / "iso_motorunits.tsv").read_text().splitlines()
    assert tsv[0] == "unit\tsample\tonset_s"
    doc = json.loads((tmp_path / "out" / "iso_motorunits.json").read_text())
    assert len(tsv) - 1 == sum(len(u["discharges"]) for u in doc["motor_units"])
    assert {"sil", "pnr_db", "mean_rate_hz", "cov_isi", "muap_uV", "filter"} <= set(doc["motor_units"][0])
    assert (tmp_path / "out" / "iso_motorunits.png").stat().st_size > 10_000
    # An 8-channel bipolar recording of the garment is no grid.
    assert main(["phantom", "rest", "--seconds", "4", "--out", str(tmp_path / "bip.bdf")]) == 0
    capsys.readouterr()
    assert main(["decompose", str(tmp_path / "bip.bdf"), "--out", str(tmp_path / "o2")]) == 2
    assert "no grid layout" in capsys.readouterr().err


def test_many_recordings_run_on_dask_with_a_progress_bar(tmp_path, capsys):
    from garment.decomposition.batch import decompose_many

    paths = [str(generate_hd("trapezoid", 4.0, seed=s, level=0.15, ramp_s=1.0, n_units=60).save(tmp_path / f"r{s}.bdf"))
             for s in (1, 2)]
    out = decompose_many(paths, str(tmp_path / "out"), properties=False)
    assert [o["recording"] for o in out] == paths and all(o["units"] >= 1 for o in out)
    assert "2/2" in capsys.readouterr().err
    assert (tmp_path / "out" / "r2_motorunits.tsv").exists()


def test_calibrated_filters_applied_to_new_data_follow_the_true_units(iso):
    from garment.decomposition.apply import apply_decomposition

    r, _ = iso
    half = r.n_samples // 2
    calib = decompose(r.emg_uV[:half + int(r.fs)], r.fs, r.layout.labels())
    trains = apply_decomposition(calib, r.emg_uV, r.fs)
    later = [t[t >= half] for t in trains]
    truth = [s[s >= half] for s in (r.spikes[i] for i in r.recruited())]
    pairs = match_to_truth(later, truth, r.fs)
    assert len(calib.units) >= 3 and len(pairs) >= len(calib.units) - 1
    assert np.median([v for _, _, v in pairs]) >= 0.9
    with pytest.raises(ValueError, match="calibrated on 64 channels"):
        apply_decomposition(calib, r.emg_uV[:, :32], r.fs)


def test_window_features_line_up():
    from garment.decomposition.neural_drive import emg_features, motor_unit_features, window_labels

    fs, n = 2048.0, 4096
    trains = [np.arange(100, n, 205), np.zeros(0, np.int64)]
    mu = motor_unit_features(trains, n, fs)
    emg = emg_features(np.random.default_rng(0).normal(0, 20, (n, 3)), fs)
    labels = window_labels(np.repeat([0, 1], n // 2), fs)
    assert mu.shape[0] == emg.shape[0] == labels.size and mu.shape[1] == 5 and emg.shape[1] == 15
    assert abs(mu[10, 0] - 10.0) < 5.01 and np.all(mu[:, 2] == 0) and set(mu[:, 4]) <= {0.0, 1.0}
    assert labels[0] == 0 and labels[-1] == 1
