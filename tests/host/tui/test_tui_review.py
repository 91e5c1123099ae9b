"""Review: a recording plays back through the Live view, with its annotations; no garment
is needed and nothing is sent to one."""
from __future__ import annotations

from pathlib import Path

import pytest
from tui_fakes import FakeDiscovery
from tui_helpers import logged, press, text_of, wait_for

from garment.tui.app import GarmentApp
from garment.tui.widgets.traces import BRAILLE, TraceView


@pytest.fixture
def gestures(tmp_path: Path) -> Path:
    from garment.commands.data import phantom_recording
    from garment.phantom import generate
    from garment.recordings import write_bdf

    rec, _ = phantom_recording(generate("gestures", seconds=6, fs=1000, channels=4, seed=2))
    return write_bdf(rec, tmp_path / "g.bdf")


async def test_review_plays_a_recording_through_the_live_view(gestures: Path) -> None:
    app = GarmentApp(discovery=FakeDiscovery(), start_mode="review")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.screen
        screen.query_one("#review-path").value = str(gestures)
        await press(pilot, "ctrl+o")
        await wait_for(pilot, lambda: screen.playback is not None and screen.playback.position >= 1500, 15,
                       "1.5 s of playback")
        assert logged(app, "Playing g.bdf: 6.0 s, 4 EMG channels at 1000 Hz")
        await wait_for(pilot, lambda: screen.query("#trace-3"), 5, "the traces")
        text = "".join(screen.query_one("#trace-0", TraceView).render().plain.splitlines()[:3])
        assert any(ord(c) > BRAILLE for c in text)  # the recording's waveform
        await wait_for(pilot, lambda: "rest" in text_of(screen.query_one("#review-label"))
                       or screen.playback.label() != "", 5, "the annotation at the position")
        await press(pilot, "p")
        held = screen.playback.position
        await pilot.pause(0.3)
        assert screen.playback.paused and screen.playback.position == held
        await press(pilot, "ctrl+a")
        await wait_for(pilot, lambda: logged(app, "Arm: not during playback"), 5, "the refusal")
        screen.query_one("#review-path").value = str(gestures.with_name("missing.bdf"))
        await press(pilot, "ctrl+o")
        await wait_for(pilot, lambda: logged(app, "missing.bdf"), 5, "a missing file's notification")
    assert app.internal_errors == []
