"""The garment companion app (Textual TUI). ``garment`` with no arguments opens it.

:func:`run` is the entry point; :class:`GarmentApp` is the app (tests drive it with
Textual's Pilot).
"""
from __future__ import annotations


def run(device: str | None = None) -> int:
    """Run the companion app; ``device`` connects at start (None: the Connect screen).

    Returns the exit status (0 normally, 1 after an internal error).
    """
    from garment.tui.app import GarmentApp
    from garment.devices import stop_started_sims

    app = GarmentApp(device=device)
    try:
        result = app.run()
    finally:
        stop_started_sims()  # whatever happened, no simulated garment outlives the app
    if app.return_code:
        return int(app.return_code)
    return int(result or 0)


__all__ = ["run"]
