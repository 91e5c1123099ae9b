"""The garment's refusals in the user's words.

The firmware (and the host's copy of its checks) words refusals with its field names and
units (``amplitude_ua=80000 outside 0..50000 (limits.max_ua)``): exact, and one definition
shared by both sides. A person at the CLI or the TUI reads milliamps and names instead
(``amplitude 80 mA outside 0..50 mA (the garment's limit)``); :func:`in_user_words` turns
the one into the other, and :func:`remedy` names the key or command that fixes a refusal.
"""
from __future__ import annotations

import re

_NAMES = {
    "amplitude": "amplitude", "max": "maximum", "sensory": "sensory threshold", "motor": "motor threshold",
    "width": "pulse width", "freq": "frequency", "duration": "duration", "area": "electrode area",
    "slew": "slew", "blank": "blank window", "heartbeat": "heartbeat timeout", "session": "session",
}


def _name(field: str) -> str:
    return _NAMES.get(field, field.replace("_", " "))


def _ma(ua: str) -> str:
    return f"{int(ua) / 1000:g}"


_RULES: list[tuple[re.Pattern[str], object]] = [
    (re.compile(r"(\d+)\.\.(\d+) \(limits\.max_ua\)"), lambda m: f"{_ma(m[1])}..{_ma(m[2])} mA (the garment's limit)"),
    (re.compile(r"calibrated max_ua=(\d+)"), lambda m: f"calibrated maximum of {_ma(m[1])} mA"),
    (re.compile(r"limits\.max_ua=(\d+)"), lambda m: f"the garment's limit of {_ma(m[1])} mA"),
    (re.compile(r"limits\.max_charge_nc=(\d+)"), lambda m: f"the garment's limit of {int(m[1]) / 1000:g} uC"),
    (re.compile(r"\(limits\.max_width_us\)"), "us (the garment's limit)"),
    (re.compile(r"\(limits\)"), "(the garment's limits)"),
    (re.compile(r"(\d+) nC"), lambda m: f"{int(m[1]) / 1000:g} uC"),
    (re.compile(r"\b([a-z]+)_ua=(\d+)"), lambda m: f"{_name(m[1])} {_ma(m[2])} mA"),
    (re.compile(r"\b([a-z]+)_ua\b"), lambda m: f"{_name(m[1])} (mA)"),
    (re.compile(r"\b([a-z]+)_us=(\d+)"), lambda m: f"{_name(m[1])} {m[2]} us"),
    (re.compile(r"\b([a-z]+)_ms=(\d+)"), lambda m: f"{_name(m[1])} {m[2]} ms"),
    (re.compile(r"\b([a-z]+)_hz=(\d+)"), lambda m: f"{_name(m[1])} {m[2]} Hz"),
    (re.compile(r"\bfreq_hz\b"), "frequency"),
    (re.compile(r"\barea_mm2=(\d+)"), lambda m: f"electrode area {int(m[1]) / 100:g} cm^2"),
    (re.compile(r"(\d+)\.\.(\d+) us us"), lambda m: f"{m[1]}..{m[2]} us"),
    (re.compile(r"\bchannel=(\d+) not in (\d+)\.\.(\d+)"),
     lambda m: f"channel {m[1]}: the garment's stimulation channels are {m[2]}..{m[3]}"),
]

#: what the user does about a refusal (wire error text -> the remedy in their words)
_REMEDIES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"fault 'estop' latched|estop", re.I), "the E-STOP is latched: press Ctrl+R to reset it"),
    (re.compile(r"fault '(\w+)' latched", re.I), "a fault is latched: remove its cause, then press Ctrl+R to reset it"),
    (re.compile(r"no calibration|calibrate it first", re.I), "calibrate the channel first (Calibrate screen, key 4)"),
    (re.compile(r"not authenticated|unauthorized", re.I), "the garment does not know this computer: provision it over USB"),
    (re.compile(r"no (verified )?model", re.I), "upload a model first (Upload screen)"),
]


def in_user_words(text: str) -> str:
    """``text`` with the garment's field names and units turned into names and mA/us/Hz."""
    out = str(text)
    for pattern, repl in _RULES:
        out = pattern.sub(repl if isinstance(repl, str) else (lambda m, f=repl: f(m)), out)  # type: ignore[operator]
    return out


def remedy(text: str) -> str | None:
    """The key or step that fixes this refusal, when there is a known one."""
    for pattern, what in _REMEDIES:
        if pattern.search(text):
            return what
    return None
