"""One readable line for every error the companion can meet (never a traceback)."""
from __future__ import annotations

from garment.client import DeviceError, DeviceTimeout
from garment.transports import TransportClosed, TransportError
from garment.wording import refusal_for_people

_HINTS = {
    "unknown_type": "the garment's firmware does not implement this request",
    "unauthorized": "the garment refused: this host is not authenticated",
    "replay": "the garment refused a replayed request",
    "out_of_range": "the garment refused a value out of range",
    "bad_state": "the garment refused in its present state",
    "busy": "the garment is busy",
    "model": "the garment refused the model",
    "storage": "the garment could not store it",
}


def describe(error: BaseException, action: str = "") -> str:
    """``action: what went wrong`` in one line, for a notification."""
    if isinstance(error, DeviceError):
        hint = _HINTS.get(error.name)
        said = refusal_for_people(str(error).split(": ", 1)[-1])
        text = f"{hint}: {said}" if hint else f"garment error: {said}"
    elif isinstance(error, DeviceTimeout):
        text = f"no reply from the garment ({error})"
    elif isinstance(error, TransportClosed):
        text = f"link to the garment lost ({error})"
    elif isinstance(error, TransportError):
        text = str(error)
    elif isinstance(error, FileNotFoundError):
        text = f"file not found: {error.filename or error}"
    elif isinstance(error, PermissionError):
        text = f"permission denied: {error.filename or error}"
    elif isinstance(error, OSError):
        text = f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
    elif isinstance(error, (ValueError, RuntimeError, KeyError)) and str(error):
        text = str(error).strip("'\"")
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = " ".join(text.split())  # one line
    return f"{action}: {text}" if action else text
