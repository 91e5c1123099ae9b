"""What every screen has: the navigation bar on top, the E-STOP bar and the key footer
at the bottom, and easy access to the app and its garment session."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from garment.tui.widgets.estop import EStopBar
from garment.tui.widgets.nav import NavBar

if TYPE_CHECKING:
    from garment.tui.app import GarmentApp
    from garment.tui.session import GarmentSession


class GarmentScreen(Screen[Any]):
    """Base of the app's screens: subclasses implement :meth:`compose_body`."""

    MODE = ""

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        with Vertical(id="bottom"):
            yield EStopBar()
            yield Footer()
        yield from self.compose_body()

    def compose_body(self) -> Iterable[Widget]:
        return []

    @property
    def garment_app(self) -> "GarmentApp":
        return self.app  # type: ignore[return-value]

    @property
    def session(self) -> "GarmentSession | None":
        return self.garment_app.session

    def require_session(self, action: str) -> "GarmentSession | None":
        """The connected session, or None after telling the user to connect first."""
        s = self.session
        if s is None or not s.connected:
            self.garment_app.report(f"{action}: no garment connected (F1 to connect)", "warning")
            return None
        return s
