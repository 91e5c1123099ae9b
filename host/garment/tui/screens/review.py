"""Review: a recording played back through the Live view (traces, envelopes, spectrum),
with its annotation at the playback position. No garment is involved: stimulation,
recording and filter keys are refused here, the E-STOP still goes to the garment."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Static

from garment.tui.playback import Playback
from garment.tui.screens.live import LiveScreen
from garment.tui.widgets.inputs import SafeInput


class ReviewScreen(LiveScreen):
    MODE = "review"
    BINDINGS = [
        Binding("ctrl+o", "open", "Open recording", priority=True),
        Binding("p", "pause", "Pause/play"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.playback: Playback | None = None

    @property
    def session(self) -> Any:  # Live's view reads the playback as it reads a garment
        return self.playback

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="review-bar", classes="buttons"):
            yield SafeInput(placeholder="recording (.bdf / .edf), Enter or Ctrl+O to play", id="review-path")
            yield Button("Play (Ctrl+O)", id="review-open", variant="primary")
            yield Static("", id="review-label")
        yield from super().compose_body()

    def on_input_submitted(self, event: SafeInput.Submitted) -> None:
        if event.input.id == "review-path":
            self.action_open()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "review-open":
            event.stop()
            self.action_open()
        else:
            super().on_button_pressed(event)

    def action_open(self) -> None:
        path = Path(self.query_one("#review-path", SafeInput).value.strip()).expanduser()
        self.open(path)

    def open(self, path: Path) -> None:
        """Play ``path`` from its start (a bad file is a notification, never a traceback)."""
        from garment.recordings import read_edf

        try:
            rec = read_edf(path)
        except Exception as e:  # noqa: BLE001 - shown to the user
            self.garment_app.report_error(e, f"Review {path}")
            return
        if rec.n_samples == 0:
            self.garment_app.report(f"Review {path}: holds no samples", "warning")
            return
        self.playback = Playback(rec, path)
        self.app.set_focus(None)  # the view's keys (p, +, -, 1-8) are not typed into the path
        self.garment_app.report(f"Playing {path.name}: {rec.n_samples / rec.fs:.1f} s, {self.playback.n_ch} EMG "
                                f"channels at {self.playback.fs} Hz")

    def tick(self) -> None:
        pb = self.playback
        if pb is not None and self.is_current:
            pb.advance()
            if self.frames % 6 == 0:
                self.query_one("#review-label", Static).update(
                    f"{pb.time_s:6.1f} s  {pb.label()}" + ("  (end: Ctrl+O plays again)" if pb.finished else ""))
        super().tick()

    def action_pause(self) -> None:
        if self.playback is not None:
            self.playback.pause()
        super().action_pause()

    def _not_here(self, what: str) -> None:
        self.garment_app.report(f"{what}: not during playback (F2 Live for the garment)", "warning")

    def action_arm(self) -> None:
        self._not_here("Arm")

    def action_disarm(self) -> None:
        self._not_here("Disarm")

    def action_record(self) -> None:
        self._not_here("Record")

    def action_filter(self, which: str) -> None:
        self._not_here("Filters")
