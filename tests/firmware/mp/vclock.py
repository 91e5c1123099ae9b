# The one virtual clock of the firmware tests. Importing it installs it AS the `time`
# module, so import it before anything from garmentfw (every module then reads it).
#
# Like the MCU ports' clocks: ticks_us and ticks_ms each wrap at 2**30 (PERIOD), and each
# can be started at any value (start(), e.g. just before the wrap), so a tick value kept
# in a field or compared without ticks_diff shows up as a test failure. Time moves only
# when a test (or code under test) advances or sleeps. Only small ints: nothing here
# allocates, so the clock can be read inside gc.mem_alloc() measurements.
import sys

PERIOD = 1 << 30
MASK = PERIOD - 1
_HALF = PERIOD >> 1
T = [0]  # virtual microseconds since import (only ever grows)
_OFF = [1000000, 1000]  # what ticks_us / ticks_ms read at T = 0


def ticks_us():
    return (T[0] + _OFF[0]) & MASK


def ticks_ms():
    return (T[0] // 1000 + _OFF[1]) & MASK


def ticks_diff(a, b):
    return ((a - b + _HALF) & MASK) - _HALF


def ticks_add(a, d):
    return (a + d) & MASK


def start(us=None, ms=None):
    """From now on ticks_us() reads ``us`` and ticks_ms() reads ``ms`` (either may be
    omitted); both then advance together and wrap at PERIOD."""
    if us is not None:
        _OFF[0] = (us - T[0]) & MASK
    if ms is not None:
        _OFF[1] = (ms - T[0] // 1000) & MASK


def advance_us(us):
    T[0] += us


def advance_ms(ms):
    T[0] += ms * 1000


def sleep_us(us):
    T[0] += us


def sleep_ms(ms):
    T[0] += ms * 1000


def sleep(s):
    T[0] += int(s * 1000000)


def mdiff(a, b):
    """a - b for times reported modulo 2**30 (R_PULSES, the sim driver, the wire)."""
    return ticks_diff(a, b)


class _Time:
    pass


_t = _Time()
for _name in ("ticks_us", "ticks_ms", "ticks_diff", "ticks_add", "sleep_us", "sleep_ms", "sleep"):
    setattr(_t, _name, globals()[_name])
_t.ticks_cpu = ticks_us
sys.modules["time"] = _t
