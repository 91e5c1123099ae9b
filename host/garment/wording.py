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

#: what the person at the companion app does about a refusal: (the garment's words, the
#: remedy with the key that does it). The first that matches wins.
_REMEDIES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"fault 'estop' latched", re.I), "the E-STOP is latched: press Ctrl+R to reset it once the person is safe"),
    (re.compile(r"fault '(\w+)' latched", re.I), "a {0} fault is latched: remove its cause, then press Ctrl+R to reset it"),
    (re.compile(r"every calibrated channel has a latched electrode fault", re.I),
     "every calibrated channel has an electrode fault: check the electrodes, then press Ctrl+R"),
    (re.compile(r"no channel is calibrated|no calibration", re.I),
     "calibrate the stimulation channel first (F3 Calibrate, step 4)"),
    (re.compile(r"not armed", re.I), "stimulation is not armed: arm it on the Live screen (F2, Ctrl+A)"),
    (re.compile(r"stimulation is armed", re.I), "stimulation is armed: disarm it first (F2 Live, Ctrl+D)"),
    (re.compile(r"not authenticated|unauthori[sz]ed|not provisioned", re.I),
     "this computer holds no key for the garment: connect it once by USB (F1) to provision it"),
]
#: the wire's own instructions (``send T_FAULT_RESET first``), which mean nothing to a person
_WIRE_HINT = re.compile(r":?\s*send T_[A-Z_]+( first)?")


def in_user_words(text: str) -> str:
    """``text`` with the garment's field names and units turned into names and mA/us/Hz."""
    out = str(text)
    for pattern, repl in _RULES:
        out = pattern.sub(repl if isinstance(repl, str) else (lambda m, f=repl: f(m)), out)  # type: ignore[operator]
    return out


def device_refusal(error: Exception) -> str:
    """A :class:`garment.client.DeviceError`'s message without the wire's error name, in the
    user's words (``out_of_range: amplitude_ua=...`` -> ``amplitude ... mA ...``)."""
    return in_user_words(str(error).split(": ", 1)[-1])


def remedy(text: str) -> str | None:
    """What to do about this refusal, with the key that does it (None: no known remedy)."""
    for pattern, what in _REMEDIES:
        m = pattern.search(text)
        if m:
            return what.format(*m.groups())
    return None


def refusal_for_people(text: str) -> str:
    """A garment refusal as the companion app shows it: the remedy and its key when one is
    known, else the refusal in the user's words (never the wire's instructions)."""
    return remedy(text) or in_user_words(_WIRE_HINT.sub("", text)).strip()
