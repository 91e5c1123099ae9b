# The MCU clock on the unix port: ticks_ms / ticks_us wrap at 2**30 as on every MCU port
# (the unix port's own period is 2**62, so a tick stored or compared without ticks_diff
# would never show there), each started at any value (GARMENT_SIM_TICKS_MS /
# GARMENT_SIM_TICKS_US, e.g. a minute before the wrap). install() puts it in place of
# the `time` module before the firmware imports it; the rest of `time` passes through.
# Only small ints: reading the clock allocates nothing.
# Hard interrupts where the firmware can see time (interrupts()): an MCU's DRDY interrupt
# fires between any two bytecodes of a pass; the firmware can only observe that through
# what the handler did and through time, so every clock read first runs the interrupts
# that have come due (a read with none due costs one compare). The handler's own clock
# reads do not recurse.
import os
import sys

import time as _real

PERIOD = 1 << 30
MASK = PERIOD - 1
_HALF = PERIOD >> 1
_OFF = [0, 0]  # added to the real ticks_ms / ticks_us
# virtual time: [on (0/1), ticks_ms, ticks_us, sub-ms microseconds carried]
_V = [0, 0, 0, 0]
# interrupts: [handler, due (ticks_us), armed (0/1), in the handler (0/1)]
_IRQ = [None, 0, 0, 0]


def ticks_ms():
    if _IRQ[2]:
        ticks_us()  # the interrupts due by now run first
    if _V[0]:
        return _V[1]
    return (_real.ticks_ms() + _OFF[0]) & MASK


def ticks_us():
    t = _V[2] if _V[0] else (_real.ticks_us() + _OFF[1]) & MASK
    if _IRQ[2] and ((t - _IRQ[1]) & MASK) < _HALF and not _IRQ[3]:
        _IRQ[3] = 1
        try:
            _IRQ[0]()
        finally:
            _IRQ[3] = 0
    return t


def interrupts(handler) -> None:
    """``handler()`` (allocation-free) runs at the first clock read at or after the time
    due_at() set, as a hard IRQ would by then; it calls due_at() for its next one.
    None: no interrupts."""
    _IRQ[0] = handler
    _IRQ[2] = 0


def due_at(t_us: int) -> None:
    """The next interrupt is due at ``t_us`` (ticks_us); negative: none due."""
    if t_us < 0 or _IRQ[0] is None:
        _IRQ[2] = 0
    else:
        _IRQ[1] = t_us
        _IRQ[2] = 1


def hold_us(us: int) -> None:
    """The CPU busy for ``us`` (a long stage): the interrupts due meanwhile fire on time."""
    if _V[0]:
        advance(us)
        ticks_us()
        return
    t0 = ticks_us()
    while ticks_diff(ticks_us(), t0) < us:
        pass


def is_virtual() -> bool:
    return bool(_V[0])


def go_virtual() -> None:
    """Freeze the clock where it reads now; from now on only advance() moves it."""
    if not _V[0]:
        _V[1] = ticks_ms()
        _V[2] = ticks_us()
        _V[3] = 0
        _V[0] = 1


def go_real() -> None:
    """Follow the wall clock again, from where virtual time stands (no jump back)."""
    if _V[0]:
        ms, us = _V[1], _V[2]
        _V[0] = 0
        start(ms, us)


def advance(us: int) -> None:
    """Virtual time moves on by ``us`` microseconds (ms and us stay in step)."""
    if not _V[0] or us <= 0:
        return
    _V[2] = (_V[2] + us) & MASK
    c = _V[3] + us
    _V[1] = (_V[1] + c // 1000) & MASK
    _V[3] = c % 1000


def sleep_us(us: int) -> None:
    if _V[0]:
        advance(us)
    else:
        _real.sleep_us(us)


def sleep_ms(ms: int) -> None:
    if _V[0]:
        advance(ms * 1000)
    else:
        _real.sleep_ms(ms)


def sleep(s) -> None:
    if _V[0]:
        advance(int(s * 1000000))
    else:
        _real.sleep(s)


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
                     ("ticks_diff", ticks_diff), ("ticks_add", ticks_add),
                     ("sleep_us", sleep_us), ("sleep_ms", sleep_ms), ("sleep", sleep)):
        setattr(t, name, fn)
    sys.modules["time"] = t  # type: ignore[assignment]
    ms = os.getenv("GARMENT_SIM_TICKS_MS")
    us = os.getenv("GARMENT_SIM_TICKS_US")
    start(int(ms) if ms else 0, int(us) if us else 0)
