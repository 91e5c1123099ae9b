"""HD-EMG phantom: grid layout, forward model and per-unit ground truth."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from garment.phantom.fatigue import FatigueLaw
from garment.phantom.hd_grid import GridLayout, grid
from garment.phantom.hd_phantom import generate_hd, load_unit_truth
from garment.phantom.hd_units import TEMPLATE_S, GridUnits, grid_muaps
from garment.phantom.metrics import median_frequency


def test_grids_have_the_garment_channel_counts_and_labels_round_trip():
    g = grid("13x5")
    assert g.n_channels == 64 and g.labels()[0] == "R01C02"  # the empty corner
    assert grid("8x8").n_channels == 64
    shuffled = list(reversed(g.labels()))
    layout, order = GridLayout.from_labels(shuffled, 8.0)
    assert layout == g
    assert [shuffled[i] for i in order] == g.labels()


@pytest.mark.parametrize("labels, words", [(["R01C01", "R01C01"], "twice"), (["R01C01", "EMG2"], "not a grid label")])
def test_bad_grid_labels_are_refused(labels, words):
    with pytest.raises(ValueError, match=words):
        GridLayout.from_labels(labels)


def _unit(depth: float, lateral: float = 0.0, iz: float = 0.0, cv: float = 4.0) -> GridUnits:
    return GridUnits(np.array([depth]), np.array([lateral]), np.array([iz]), np.array([cv]),
                     np.array([[55.0, 55.0]]), np.array([1.5]), np.array([1.0]))


def test_forward_model_deeper_is_smaller_and_waves_leave_the_innervation_zone():
    layout = grid("8x8")
    shallow = grid_muaps(_unit(7.0), layout, 2048.0)[0]
    deep = grid_muaps(_unit(20.0), layout, 2048.0)[0]
    assert np.ptp(deep) < 0.5 * np.ptp(shallow)
    # Arrival time along a column grows with the distance from the innervation zone (iz = +5 mm).
    m = grid_muaps(_unit(7.0, iz=15.0), layout, 2048.0)[0]
    col = np.flatnonzero(np.isclose(layout.positions_mm()[:, 1], layout.positions_mm()[3, 1]))
    t = np.abs(m[:, col]).argmax(axis=0)
    x = layout.positions_mm()[col, 0]
    assert t[np.argmin(np.abs(x - 15.0))] < t[np.argmax(np.abs(x - 15.0))]
    # Faster conduction -> shorter potentials.
    fast = grid_muaps(_unit(7.0, cv=5.5), layout, 2048.0)[0]
    slow = grid_muaps(_unit(7.0, cv=3.0), layout, 2048.0)[0]
    assert (np.abs(fast) > 0.1 * np.abs(fast).max()).sum() < (np.abs(slow) > 0.1 * np.abs(slow).max()).sum()


def test_signal_is_exactly_the_truth_discharges_times_the_truth_potentials():
    r = generate_hd("trapezoid", 3.0, 2048.0, seed=2, level=0.2, ramp_s=0.5, noise_uV=0.0, mains_uV=0.0,
                    wander_uV=0.0, n_units=60)
    rebuilt = np.zeros_like(r.emg_uV, dtype=np.float64)
    length = r.muaps.shape[1]
    for u, s in enumerate(r.spikes):
        for t0 in s:
            seg = r.muaps[u, : min(length, r.n_samples - t0)]
            rebuilt[t0 : t0 + seg.shape[0]] += seg
    assert len(r.recruited()) > 10
    assert np.abs(rebuilt - r.emg_uV).max() < 1e-3 * np.abs(r.emg_uV).max()


def test_trapezoid_recruits_more_units_at_higher_level_and_rates_follow_drive():
    low = generate_hd("trapezoid", 4.0, seed=1, level=0.1, ramp_s=1.0, n_units=80)
    high = generate_hd("trapezoid", 4.0, seed=1, level=0.4, ramp_s=1.0, n_units=80)
    assert high.recruited().size > low.recruited().size
    first = high.spikes[0]
    plateau = first[(first > 1.2 * high.fs) & (first < 2.8 * high.fs)]
    ramp = first[first < 0.6 * high.fs]
    assert plateau.size / 1.6 > ramp.size / 0.6  # faster on the plateau than early in the ramp


def test_cycling_moves_the_muscle_and_multitask_labels_every_sample():
    cyc = generate_hd("cycling", 2.0, seed=0, n_units=40, shift_mm=5.0)
    assert np.ptp(cyc.shift_mm) > 8.0
    mt = generate_hd("multitask", 6.0, seed=0, n_units=40, tasks=["rest", "hold-high"], task_s=2.0, rest_s=1.0)
    assert mt.class_index is not None and set(np.unique(mt.class_index)) == {0, mt.classes.index("hold-high")}
    with pytest.raises(ValueError, match="unknown tasks"):
        generate_hd("multitask", 2.0, tasks=["jump"])


def test_save_writes_recording_grid_sidecar_and_unit_truth(tmp_path):
    from garment.decomposition.io import load_grid_recording

    r = generate_hd("trapezoid", 3.0, seed=4, level=0.15, ramp_s=0.5, n_units=50)
    path = r.save(tmp_path / "sub-01_task-iso_emg.bdf")
    rec = load_grid_recording(path)
    assert rec.layout == r.layout and rec.emg.shape == r.emg_uV.shape
    assert np.abs(rec.emg - r.emg_uV).max() < 0.05  # BDF 24-bit resolution
    truth = load_unit_truth(path)
    assert [s.tolist() for s in truth["spikes"]] == [s.tolist() for s in r.spikes]
    assert np.allclose(truth["depth_mm"], r.units.depth_mm)


def test_fatigue_slows_every_potential_and_keeps_the_discharges():
    """Minutes of drive compressed into seconds (build-up tau 2 s instead of 30 s): the HD phantom's
    conduction velocity falls, its potentials lengthen (median frequency down), the truth is the same
    discharges, and the signal is exactly those discharges times the slowed potentials."""
    opts = dict(seed=3, level=0.5, ramp_s=0.5, n_units=60, noise_uV=0.0, mains_uV=0.0, wander_uV=0.0)
    law = FatigueLaw(tau_s=2.0)
    tired = generate_hd("trapezoid", 12.0, 2048.0, fatigue=law, **opts)
    fresh = generate_hd("trapezoid", 12.0, 2048.0, **opts)
    fs, w = tired.fs, int(2.0 * tired.fs)
    assert all(np.array_equal(a, b) for a, b in zip(tired.spikes, fresh.spikes))
    cv = tired.extra["cv_factor"]
    assert cv[0] == 1.0 and cv[-1] < 0.75 and np.all(np.diff(cv) <= 0) and "cv_factor" not in fresh.extra

    def early_late(r):
        return (np.median(median_frequency(r.emg_uV[int(0.6 * fs) : int(0.6 * fs) + w], fs)),
                np.median(median_frequency(r.emg_uV[-w - int(0.6 * fs) : -int(0.6 * fs)], fs)))

    e, late = early_late(tired)
    assert late < 0.85 * e, (e, late)
    e0, l0 = early_late(fresh)
    assert abs(l0 - e0) < 0.05 * e0, (e0, l0)
    # Exact truth: each discharge carries the potential of the conduction velocity of its moment.
    rebuilt = np.zeros(tired.emg_uV.shape)
    for f in np.unique(cv):
        m = grid_muaps(dataclasses.replace(tired.units, cv=tired.units.cv * f), tired.layout, fs,
                       length=int(np.ceil(TEMPLATE_S / f * fs)))
        for u, s in enumerate(tired.spikes):
            for t0 in s[cv[s] == f]:
                seg = m[u, : min(m.shape[1], tired.n_samples - t0)]
                rebuilt[t0 : t0 + seg.shape[0]] += seg
    assert np.abs(rebuilt - tired.emg_uV).max() < 1e-3 * np.abs(tired.emg_uV).max()
