"""Helpers of the companion-app tests: wait on conditions while the app runs."""
from __future__ import annotations

import time
from typing import Any, Callable


async def wait_for(pilot: Any, cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``cond`` (letting the app run) until it is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            app = pilot.app
            log = [f"{e.source} {e.level} {e.text}" for e in list(app.event_log.entries)[-15:]]
            raise AssertionError(f"timed out waiting for {what}; internal errors {app.internal_errors}; "
                                 f"log:\n" + "\n".join(log))
        await pilot.pause(0.05)


async def connected(pilot: Any, samples: int = 2000, timeout: float = 20.0) -> Any:
    """Wait until the app is connected and ``samples`` samples arrived; returns the session."""
    app = pilot.app
    return await wait_for(pilot, lambda: app.session if app.session is not None
                          and app.session.trace.total >= samples else None, timeout, "samples from the garment")


def logged(app: Any, text: str, level: str | None = None) -> bool:
    """Did the app log (and so notify or record) a line containing ``text``?"""
    return any(text in e.text and (level is None or e.level == level) for e in app.event_log.entries)


def text_of(widget: Any) -> str:
    """What a widget shows on screen, as plain text (one line per row)."""
    from textual.geometry import Region

    w, h = widget.size.width, widget.size.height
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, w, h)))


async def press(pilot: Any, *keys: str) -> None:
    """Press keys without Pilot's wait for an idle CPU (which, while samples stream and
    traces repaint 30 times a second, costs up to 2 s per key)."""
    from textual import events

    for key in keys:
        char = key if len(key) == 1 else {"space": " ", "enter": "\r"}.get(key)
        pilot.app.post_message(events.Key(key, char))
        await pilot.pause(0.02)
