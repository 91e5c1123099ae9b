"""Pictures: ``garment plot`` of a recording, the confusion matrix and latency PNGs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from garment.cli import main
from garment.plots import envelope, plot_confusion, plot_latency, plot_recording


def _image(path: Path) -> np.ndarray:
    import matplotlib.image

    img: np.ndarray = matplotlib.image.imread(str(path))
    return img


def test_envelope_keeps_every_peak() -> None:
    x = np.zeros(100_000)
    x[12_345] = 7.0
    x[99_999] = -3.0
    t, lo, hi = envelope(x, 1000.0, max_points=1000)
    assert len(t) <= 1000 and hi.max() == 7.0 and lo.min() == -3.0
    assert abs(t[int(np.argmax(hi))] - 12.345) < 0.1  # where it was
    t, lo, hi = envelope(x[:500], 1000.0, max_points=1000)
    assert len(t) == 500 and lo is hi  # short traces are drawn as they are


@pytest.fixture(scope="module")
def gestures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from garment.commands.data import phantom_recording
    from garment.phantom import generate
    from garment.recordings import write_bdf

    rec, _ = phantom_recording(generate("gestures", seconds=8, fs=1000, channels=4, seed=3))
    path = tmp_path_factory.mktemp("plot") / "g.bdf"
    write_bdf(rec, path)
    return path


def test_garment_plot_draws_a_recording(gestures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(gestures)]) == 0
    out = gestures.with_suffix(".png")
    assert capsys.readouterr().out.strip() == str(out)
    img = _image(out)
    assert img.shape[0] > 400 and img.shape[1] > 1000
    assert img[..., :3].std() > 0.1  # traces, spectrogram and truth, not a blank page


def test_plot_recording_with_labels_and_truth(gestures: Path, tmp_path: Path) -> None:
    from garment.recordings import read_edf

    rec = read_edf(gestures)
    assert rec.truth and {a.text for a in rec.annotations} >= {"rest"}
    a = _image(plot_recording(rec, tmp_path / "a.png"))
    rec.truth = {}
    rec.annotations = []
    b = _image(plot_recording(rec, tmp_path / "b.png"))
    assert a.shape[0] > b.shape[0]  # the truth panel is only there with truth


def test_plot_refuses_what_is_not_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.bdf"
    bad.write_bytes(b"not a recording")
    assert main(["plot", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable" in err[0] and not (tmp_path / "x.png").exists()


def test_confusion_and_latency_pngs(tmp_path: Path) -> None:
    cm = plot_confusion(["rest", "extend", "flex"], [[50, 2, 0], [5, 40, 5], [0, 0, 0]], tmp_path / "cm.png")
    img = _image(cm)
    assert img.shape[0] > 200 and img[..., :3].std() > 0.05
    lat = plot_latency(list(np.random.default_rng(0).normal(45, 5, 100)), tmp_path / "lat.png")
    assert _image(lat)[..., :3].std() > 0.05
    assert _image(plot_latency([], tmp_path / "none.png")).shape[0] > 100  # no trials: still a picture
