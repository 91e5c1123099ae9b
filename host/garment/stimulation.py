"""Stimulation limits and calibration as the firmware defines them.

:class:`Limits` and :class:`Calibration` are the firmware's own classes
(``garmentfw/limits.py``, ``garmentfw/calibration.py``, loaded by
:func:`garment.contracts.load_contract`), with host conveniences added (``repr``,
``replace``, hashing); their fields, defaults, wire packing and validation are the
firmware's. :func:`check_train` is the host's pre-flight check of one test train, made
of the same checks the garment's supervisor runs on ``T_STIM_TEST`` (the garment
checks again: it is the authority).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from garment.contracts import load_contract

_L = load_contract("limits")
_C = load_contract("calibration")

#: The longest one ``T_STIM_TEST`` train may last (ms).
MAX_TEST_MS: int = _L.MAX_TEST_MS
#: The shortest phase width the stimulator produces (us).
HARD_MIN_WIDTH_US: int = _L.HARD_MIN_WIDTH_US


class _HostView:
    """``repr``, equality-consistent hashing and ``replace`` over a firmware record class."""

    FIELDS: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self.FIELDS, self.values()))  # type: ignore[attr-defined]  # the firmware's values()

    def replace(self, **changes: int) -> Any:
        """A copy with ``changes`` applied (unknown field names raise TypeError)."""
        bad = set(changes) - set(self.FIELDS)
        if bad:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(bad))}")
        return type(self)(**{**self.as_dict(), **changes})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.as_dict().items())})"

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.values()))  # type: ignore[attr-defined]


class Limits(_HostView, _L.Limits):  # type: ignore[misc,name-defined]
    """The garment's configurable stimulation limits (``T_GET_LIMITS`` / ``T_SET_LIMITS``):
    the firmware's ``limits.Limits``; ``validate()`` says why a set is refused."""

    FIELDS = tuple(_L.LIMIT_FIELDS)


class Calibration(_HostView, _C.Calibration):  # type: ignore[misc,name-defined]
    """One stimulation channel's calibration (currents in uA): the firmware's
    ``calibration.Calibration``. All-zero currents clear a channel."""

    FIELDS = tuple(p for p in inspect.signature(_C.Calibration.__init__).parameters if p != "self")


@dataclass(frozen=True)
class TrainRequest:
    """One ramped test train (``T_STIM_TEST``)."""

    channel: int
    amplitude_ua: int
    width_us: int
    freq_hz: int
    duration_ms: int


def check_train(req: TrainRequest, cal: Calibration, lim: Limits) -> str | None:
    """Why ``cal`` and ``lim`` do not allow this train, in the garment's words (None if they do).

    The garment refuses the same trains (its supervisor runs these checks on
    ``T_STIM_TEST``); what it checks on top depends on its state (armed, electrode faults,
    the timing of the other armed channels)."""
    ch = req.channel
    if not 1 <= req.duration_ms <= MAX_TEST_MS:
        return f"duration_ms={req.duration_ms} outside 1..{MAX_TEST_MS}"
    if req.amplitude_ua < 1:
        return f"amplitude_ua={req.amplitude_ua} must be >= 1"
    if cal.is_clear() or cal.max_ua <= 0:
        return f"channel {ch} has no calibration: calibrate it first"
    if req.amplitude_ua > cal.max_ua:
        return f"amplitude_ua={req.amplitude_ua} above channel {ch}'s calibrated max_ua={cal.max_ua}"
    bad: str | None = _L.check_pulse(lim, req.amplitude_ua, req.width_us, req.freq_hz) or _L.check_density(
        req.amplitude_ua, req.width_us, req.freq_hz, cal.area_mm2)
    return bad
