"""The emergency-stop bar docked at the bottom of every screen.

It always shows an ``E-STOP`` button (space, a priority binding of the app, also
triggers it) and the safety state that matters to the person wearing the garment:
latched stop, stop sent but not confirmed, stimulation state.
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static


@dataclass(frozen=True)
class SafetyView:
    """What the bar shows (computed by the app from the session several times a second)."""

    connected: bool = False
    lost: bool = False  # the link to a connected garment dropped
    latched: bool = False
    pending: bool = False
    error: str | None = None
    state: str = "unknown"
    fault: str = "none"
    armed_mask: int = 0
    amplitude_ma: float = 0.0
    #: how a latched stop or fault is reset on this link (over BLE, a garment this computer
    #: holds no key for cannot be reset until it is provisioned over USB)
    reset_hint: str = "Ctrl+R resets it once the person is safe."

    @property
    def message(self) -> str:
        if self.latched:
            return f"E-STOP LATCHED: all stimulation is off. {self.reset_hint}"
        if self.pending:
            return "E-STOP SENT: waiting for the garment to confirm..."
        if self.error:
            return f"E-STOP NOT CONFIRMED: {self.error}. Switch the garment off if it is stimulating."
        if self.lost:
            return ("LINK LOST: the garment stops stimulating by itself within its heartbeat timeout. "
                    "F1 to reconnect.")
        if not self.connected:
            return "No garment connected (F1 to connect)."
        if self.state == "unknown":
            return "Stimulation state unknown (the garment does not report it)."
        text = f"Stimulation {self.state.upper()}"
        if self.fault != "none":
            text += f", fault {self.fault} (latched; {self.reset_hint})"
        if self.armed_mask:
            text += f", armed channels {self.armed_mask:08b}"
        if self.amplitude_ma:
            text += f", max {self.amplitude_ma:.1f} mA"
        return text

    @property
    def level(self) -> str:
        if self.latched:
            return "latched"
        if self.pending:
            return "pending"
        if self.error or self.state == "fault" or self.lost:
            return "error"
        if self.state in ("armed", "stimulating"):
            return "active"
        return "ok"


class EStopButton(Button, can_focus=False):
    """The E-STOP button: the mouse presses it, space (a priority binding) does too, and
    Tab never reaches it: a Tab+Enter meant for another control must not latch the stop."""


class EStopBar(Horizontal):
    """``[ E-STOP (space) ]  <safety state>`` docked at the bottom."""

    DEFAULT_CSS = """
    EStopBar {
        height: 3;
        background: $panel;
        padding: 0 1;
    }
    EStopBar #estop-button {
        width: 24;
        min-width: 24;
        background: red;
        color: white;
        text-style: bold;
        border: tall darkred;
    }
    EStopBar #estop-state {
        width: 1fr;
        height: 3;
        content-align: left middle;
        padding: 0 2;
    }
    EStopBar.-latched { background: darkred; }
    EStopBar.-latched #estop-state { color: white; text-style: bold; }
    EStopBar.-latched #estop-button { background: white; color: red; border: tall red; }
    EStopBar.-pending #estop-state { color: $warning; text-style: bold; }
    EStopBar.-error #estop-state { color: $error; text-style: bold; }
    EStopBar.-active #estop-state { color: $warning; }
    """

    def compose(self) -> ComposeResult:
        yield EStopButton("E-STOP (space)", id="estop-button")
        yield Static("", id="estop-state")

    def on_mount(self) -> None:
        self.watch(self.app, "safety", self.show, init=True)

    def show(self, view: SafetyView) -> None:
        self.query_one("#estop-state", Static).update(view.message)
        self.query_one("#estop-button", Button).label = "E-STOP LATCHED" if view.latched else "E-STOP (space)"
        for lvl in ("latched", "pending", "error", "active", "ok"):
            self.set_class(view.level == lvl, f"-{lvl}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "estop-button":
            event.stop()
            self.app.action_estop()  # type: ignore[attr-defined]
