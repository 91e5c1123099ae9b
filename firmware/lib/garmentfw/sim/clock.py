# The MCU clock on the unix port: ticks_ms / ticks_us wrap at 2**30 as on every MCU port
# (the unix port's own period is 2**62, so a tick stored or compared without ticks_diff
# would never show there), each started at any value (GARMENT_SIM_TICKS_MS /
# GARMENT_SIM_TICKS_US, e.g. a minute before the wrap). install() puts it in place of
# the `time` module before the firmware imports it; the rest of `time` passes through.
# Only small ints: reading the clock allocates nothing.
import os
import sys

import time as _real

PERIOD = 1 << 30
MASK = PERIOD - 1
_HALF = PERIOD >> 1
_OFF = [0, 0]  # added to the real ticks_ms / ticks_us


def ticks_ms():
    return (_real.ticks_ms() + _OFF[0]) & MASK


def ticks_us():
    return (_real.ticks_us() + _OFF[1]) & MASK


def ticks_diff(a, b):
    return ((a - b + _HALF) & MASK) - _HALF


def ticks_add(a, d):
    return (a + d) & MASK


def start(ms=None, us=None) -> None:
    """From now on ticks_ms() reads ``ms`` and ticks_us() reads ``us`` (None: unchanged)."""
    if ms is not None:
        _OFF[0] = (ms - _real.ticks_ms()) & MASK
    if us is not None:
        _OFF[1] = (us - _real.ticks_us()) & MASK


class _Time:
    pass


def install() -> None:
    """Replace `time` for every module imported from now on (the sim board's entry)."""
    if isinstance(sys.modules.get("time"), _Time):
        return
    t = _Time()
    for name in dir(_real):
        if not name.startswith("_"):
            setattr(t, name, getattr(_real, name))
    for name, fn in (("ticks_ms", ticks_ms), ("ticks_us", ticks_us), ("ticks_cpu", ticks_us),
                     ("ticks_diff", ticks_diff), ("ticks_add", ticks_add)):
        setattr(t, name, fn)
    sys.modules["time"] = t  # type: ignore[assignment]
    ms = os.getenv("GARMENT_SIM_TICKS_MS")
    us = os.getenv("GARMENT_SIM_TICKS_US")
    start(int(ms) if ms else 0, int(us) if us else 0)
