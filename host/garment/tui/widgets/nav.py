"""The top bar: the screens (F1..F8, clickable) and what the app is connected to."""
from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

SCREENS = (
    ("connect", "F1", "Connect"),
    ("live", "F2", "Live"),
    ("calibrate", "F3", "Calibrate"),
    ("train", "F4", "Train"),
    ("upload", "F5", "Upload"),
    ("hil", "F6", "HIL"),
    ("log", "F7", "Log"),
    ("review", "F8", "Review"),
)


class NavBar(Static):
    """``F1 Connect  F2 Live ...`` with the current screen highlighted."""

    DEFAULT_CSS = """
    NavBar { dock: top; height: 1; background: $boost; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def on_mount(self) -> None:
        self.watch(self.app, "connection", self._show, init=True)

    def _show(self, connection: str) -> None:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" GARMENT ", style="bold reverse")
        t.append(" ")
        for mode, key, title in SCREENS:
            style = "bold reverse" if mode == self.current else ""
            t.append(f" {key} ", style="dim")
            click = Style.on(click=f"app.switch_mode('{mode}')")
            t.append(f"{title} ", style=Style.parse(style) + click if style else click)
        t.append("  | ", style="dim")
        t.append(connection, style="bold green" if connection.startswith("●") else "yellow")
        self.update(t)
