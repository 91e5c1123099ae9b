"""Widgets of the companion app: live traces, the E-STOP bar, link quality, navigation."""
from garment.tui.widgets.estop import EStopBar, SafetyView
from garment.tui.widgets.inputs import SafeInput
from garment.tui.widgets.link import LinkQuality
from garment.tui.widgets.nav import NavBar
from garment.tui.widgets.traces import TraceView

__all__ = ["EStopBar", "LinkQuality", "NavBar", "SafeInput", "SafetyView", "TraceView"]
