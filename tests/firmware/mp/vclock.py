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
# Every value here stays within a 32-bit port's small ints (-2**30 .. 2**30 - 1), sums
# included, so the clock allocates nothing on an MCU core either (on the emulated
# Cortex-M7, a clock that counted up past 2**30 made every hot-path test allocate).
# T: virtual [microseconds mod PERIOD, milliseconds mod PERIOD, microseconds into the ms].
T = [0, 0, 0]
_OFF = [1000000, 1000]  # what ticks_us / ticks_ms read at T = 0


def _add(a, b):
    """(a + b) mod PERIOD for 0 <= a, b <= MASK, without leaving the small ints."""
    room = MASK - a
    return a + b if b <= room else b - room - 1


def ticks_us():
    return _add(T[0], _OFF[0])


def ticks_ms():
    return _add(T[1], _OFF[1])


def ticks_diff(a, b):
    d = a - b
    if d >= _HALF:
        return d - _HALF - _HALF
    if d < -_HALF:
        return d + _HALF + _HALF
    return d


def ticks_add(a, d):
    return _add(a, d & MASK)


def start(us=None, ms=None):
    """From now on ticks_us() reads ``us`` and ticks_ms() reads ``ms`` (either may be
    omitted); both then advance together and wrap at PERIOD."""
    if us is not None:
        _OFF[0] = (us - T[0]) & MASK
    if ms is not None:
        _OFF[1] = (ms - T[1]) & MASK


def advance_us(us):
    T[0] = _add(T[0], us & MASK)
    r = T[2] + us
    T[1] = _add(T[1], (r // 1000) & MASK)
    T[2] = r % 1000


def advance_ms(ms):
    advance_us(ms * 1000)


def sleep_us(us):
    advance_us(us)


def sleep_ms(ms):
    advance_us(ms * 1000)


def sleep(s):
    advance_us(int(s * 1000000))


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
