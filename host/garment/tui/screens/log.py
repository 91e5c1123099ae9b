"""Log: the garment's events, stimulation state transitions and faults, link problems
and the app's own errors, newest at the bottom."""
from __future__ import annotations

import time
from typing import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import RichLog, Static

from garment.tui.screens.base import GarmentScreen
from garment.tui.session import LogEntry

LEVEL_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}
SOURCE_STYLE = {"garment": "cyan", "stim": "magenta", "link": "blue", "host": "green"}


def format_entry(e: LogEntry, clock: bool = True) -> Text:
    t = Text(no_wrap=False)
    if clock:
        t.append(time.strftime("%H:%M:%S", time.localtime(e.t)) + f".{int(e.t * 1000) % 1000:03d} ", style="dim")
    t.append(f"{e.source:8s}", style=SOURCE_STYLE.get(e.source, ""))
    t.append(e.text, style=LEVEL_STYLE.get(e.level, ""))
    return t


class LogScreen(GarmentScreen):
    MODE = "log"
    BINDINGS = [
        Binding("w", "errors_only", "Warnings+errors only"),
        Binding("c", "clear", "Clear view"),
    ]
    SHOW_CLOCK = True  # snapshot tests switch the wall clock off

    def __init__(self) -> None:
        super().__init__()
        self.shown = 0
        self.errors_only = False

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Garment log: events, stimulation state changes and faults, link and app errors",
                     classes="screen-title")
        yield RichLog(id="log-view", wrap=True, markup=False, highlight=False, max_lines=5000)

    def on_mount(self) -> None:
        self.set_interval(0.2, self.follow)
        self.call_after_refresh(self.follow)  # once the log has its width

    def follow(self) -> None:
        log = self.garment_app.event_log
        if log.serial == self.shown:
            return
        view = self.query_one("#log-view", RichLog)
        for e in log.since(self.shown):
            if self.errors_only and e.level == "info":
                continue
            view.write(format_entry(e, self.SHOW_CLOCK))
        self.shown = log.serial

    def action_errors_only(self) -> None:
        self.errors_only = not self.errors_only
        self._rewrite()

    def action_clear(self) -> None:
        self.query_one("#log-view", RichLog).clear()

    def _rewrite(self) -> None:
        view = self.query_one("#log-view", RichLog)
        view.clear()
        for e in self.garment_app.event_log.entries:
            if self.errors_only and e.level == "info":
                continue
            view.write(format_entry(e, self.SHOW_CLOCK))
        self.shown = self.garment_app.event_log.serial
