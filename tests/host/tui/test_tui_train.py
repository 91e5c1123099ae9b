"""Train against the simulated garment: guided recording into a BDF+ file with one
annotation per prompt, then training with accuracy, agreement and confusion matrix."""
from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import connected, logged, press, text_of, wait_for

from garment.tui import config
from garment.tui.app import GarmentApp, Timings


@pytest.mark.filterwarnings("ignore::UserWarning")  # pyedflib: 9-character physical range
async def test_guided_recording_and_training(sim: object) -> None:
    app = GarmentApp(device=sim.url, timings=Timings(countdown_s=0), start_mode="train")  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        screen = app.screen
        screen.query_one("#train-labels").value = "rest,flex"
        screen.query_one("#train-reps").value = "2"
        screen.query_one("#train-hold").value = "0.8"
        screen.query_one("#train-rest").value = "0.2"
        await press(pilot, "ctrl+t")
        await wait_for(pilot, lambda: screen.recording, 5, "the recording")
        await wait_for(pilot, lambda: "FLEX" in text_of(screen.query_one("#train-prompt")), 10, "the FLEX prompt")
        await wait_for(pilot, lambda: screen.result is not None, 60, "the training result")
        r = screen.result
        assert r.labels == ["flex", "rest"] and r.n_groups == 2 and r.n_windows > 10
        assert r.confusion.shape == (2, 2) and r.confusion.sum() == r.n_windows
        assert r.cv_int8 is not None and 0.0 <= r.cv_int8 <= 1.0 and 0.0 <= r.cv_agreement <= 1.0
        assert r.model_path is not None and r.model_path.is_file()
        assert app.last_model_path == str(r.model_path)
        metrics = text_of(screen.query_one("#train-metrics"))
        assert "cross-validated accuracy" in metrics and "agreement" in metrics
        assert "Confusion" in text_of(screen.query_one("#confusion"))
        # the recording: BDF+ with the prompts as annotations
        bdfs = list(config.recordings_dir().glob("train-*.bdf"))
        assert len(bdfs) == 1
        from garment.recordings import read_edf

        rec = read_edf(Path(bdfs[0]))
        prompts = [(a.text, round(a.duration_s, 3)) for a in rec.annotations if a.text in ("rest", "flex")]
        assert prompts == [("rest", 0.8), ("flex", 0.8)] * 2
        assert rec.samples.shape[1] == 8 and rec.samples.shape[0] >= 2000 * 3.2 * 0.95
        assert logged(app, "Decoder trained")
    assert app.internal_errors == []
