"""Errors raised by the recording readers and writers."""
from __future__ import annotations

from pathlib import Path


class RecordingFormatError(ValueError):
    """A recording file is malformed, truncated or not in the expected format.

    The message always names the file and, where it is known, the 1-based line
    number (text formats) so that a person can open the file at the right place.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {message}")
