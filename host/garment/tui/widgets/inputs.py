"""Text inputs that never swallow the emergency stop.

Textual lets a focused ``Input`` consume printable keys before the app's priority
bindings (so that typing is not hijacked); for this app the space bar is the
E-STOP and must work everywhere, so these inputs decline it (a space cannot be typed:
lists are separated by commas).
"""
from __future__ import annotations

from textual.widgets import Input

ESTOP_KEYS = frozenset({"space"})


class SafeInput(Input):
    """An ``Input`` that lets the E-STOP key through to the app."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if key in ESTOP_KEYS or character == " ":
            return False
        return super().check_consume_key(key, character)
