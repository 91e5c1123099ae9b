"""Recording / Annotation: label mapping, segments, slicing, channel selection, validation."""
from __future__ import annotations

import numpy as np
import pytest

from garment.recordings import Annotation, Recording


def _rec(n: int = 100, fs: float = 10.0) -> Recording:
    x = np.arange(n * 3, dtype=float).reshape(n, 3)
    return Recording(
        samples=x, fs=fs, channel_names=["a", "b", "c"], units=["mV", "mV", "deg"],
        annotations=[
            Annotation(0.0, 10.0, "rest"),        # whole file
            Annotation(2.0, 3.0, "pedal"),        # samples 20..49 (overrides rest)
            Annotation(4.0, 2.0, "pedal"),        # overlaps -> merges with the above: 20..59
            Annotation(7.0, 0.0, "stim on"),      # event: not a label
            Annotation(8.0, 0.5, "GAP n=5"),      # recorder gap: not a label
        ],
        truth={"activation": np.linspace(0, 1, n)},
        meta={"subject": "01"},
    )


def test_duration_and_times() -> None:
    r = _rec()
    assert r.duration_s == pytest.approx(10.0)
    assert r.n_samples == 100 and r.n_channels == 3
    assert r.times()[10] == pytest.approx(1.0)


def test_labels_per_sample_later_wins_events_and_gaps_ignored() -> None:
    lab = _rec().labels_per_sample(default="none")
    assert lab[0] == "rest" and lab[19] == "rest"
    assert (lab[20:60] == "pedal").all()
    assert lab[60] == "rest"
    assert lab[85] == "rest"  # the GAP annotation does not relabel
    assert "stim on" not in set(lab)


def test_labels_default_and_filter() -> None:
    r = _rec()
    lab = r.labels_per_sample(default="?", labels=["pedal"])
    assert lab[0] == "?" and lab[30] == "pedal"


def test_segments_merge_overlaps() -> None:
    r = _rec()
    assert r.segments("pedal") == [(20, 60)]
    assert r.segments("rest") == [(0, 20), (60, 100)]
    assert r.segments("nothing") == []


def test_slice_shifts_and_clips_annotations_and_truth() -> None:
    r = _rec()
    s = r.slice(30, 75)  # 3.0 s .. 7.5 s
    assert s.n_samples == 45
    np.testing.assert_array_equal(s.samples, r.samples[30:75])
    np.testing.assert_array_equal(s.truth["activation"], r.truth["activation"][30:75])
    got = sorted((a.text, round(a.onset_s, 9), round(a.duration_s, 9)) for a in s.annotations)
    assert got == sorted([
        ("rest", 0.0, 4.5),      # 0..10 clipped
        ("pedal", 0.0, 2.0),     # 2..5 -> 3..5
        ("pedal", 1.0, 2.0),     # 4..6
        ("stim on", 4.0, 0.0),   # event at 7.0
    ])                           # GAP at 8.0 is outside


def test_select_channels_order_and_unknown() -> None:
    r = _rec()
    s = r.select_channels(["c", "a"])
    assert s.channel_names == ["c", "a"] and s.units == ["deg", "mV"]
    np.testing.assert_array_equal(s.samples, r.samples[:, [2, 0]])
    np.testing.assert_array_equal(r.channel("b"), r.samples[:, 1])
    with pytest.raises(KeyError, match="nope"):
        r.select_channels(["nope"])


def test_validation() -> None:
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="channel names"):
        Recording(x, 100.0, ["a"], ["mV", "mV"])
    with pytest.raises(ValueError, match="units"):
        Recording(x, 100.0, ["a", "b"], ["mV"])
    with pytest.raises(ValueError, match="duplicate"):
        Recording(x, 100.0, ["a", "a"], ["mV", "mV"])
    with pytest.raises(ValueError, match="fs"):
        Recording(x, 0.0, ["a", "b"], ["mV", "mV"])
    with pytest.raises(ValueError, match="truth"):
        Recording(x, 100.0, ["a", "b"], ["mV", "mV"], truth={"t": np.zeros(9)})
    with pytest.raises(ValueError, match="negative duration"):
        Annotation(0.0, -1.0, "x")
    r = Recording(np.arange(4, dtype=np.int16), 2.0, ["a"], ["mV"])
    assert r.samples.dtype == np.float64 and r.samples.shape == (4, 1)
