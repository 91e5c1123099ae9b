# Crank phase from a thigh IMU, for a bike without a crank sensor (the approach of
# IMUSEF, Sijobert et al. 2019, Sensors 19:4268: stimulation timed by the thigh's own
# inclination peaks). The thigh's inclination peaks where its pitch rate crosses zero: a
# maximum (knee highest) where the rate goes from + to -, a minimum where it goes from -
# to +. Each peak happens at a fixed crank angle for a given rider and bike (the policy's
# imu_max_deg / imu_min_deg, from the rider's geometry or a calibration ride). Between
# peaks the angle advances at the rate of the same half-cycle last time; the cadence is
# one cycle (the last two halves) per 360 degrees.
# Integer only, state in preallocated arrays: process() allocates nothing (a test).
# A zero crossing counts only after the rate went past +-HYST_LSB since the last one
# (hysteresis far above the gyro's noise and bias), and is placed between the two
# samples by linear interpolation (Q8 sample times).
from array import array

from micropython import const

HYST_LSB = const(286)  # 20 dps at 70 mdps/LSB
STALE_SAMPLES = const(260)  # 2.5 s at 104 Hz without a peak: no phase
_T_MASK = const(0x3FFFFFFF)  # Q8 sample times wrap here (11 h at 104 Hz)
_HALF = const(0x20000000)

# state slots
_K = const(0)  # sample counter, Q8
_PREV = const(1)  # previous rate, LSB
_ARM = const(2)  # +1: went above +HYST (a max may follow), -1: below -HYST, 0: none
_T_MAX = const(3)  # time of the last max, Q8
_T_MIN = const(4)
_D_UP = const(5)  # last min -> max duration, Q8 (0: unknown)
_D_DOWN = const(6)  # last max -> min duration
_LAST = const(7)  # 1: the last peak was a max, -1: a min, 0: none yet
_N = const(8)


def _diff(a: int, b: int) -> int:
    return ((a - b + _HALF) & _T_MASK) - _HALF


class ThighPhase:
    """Crank angle (cdeg) and cadence (crpm) from the thigh's pitch rate, sampled at ``odr_hz``."""

    def __init__(self, odr_hz: int = 104):
        self.odr = odr_hz
        self.s = array("i", bytes(4 * _N))
        self.max_cdeg = 0
        self.min_cdeg = 18000
        self.angle = 0
        self.crpm = 0
        self.valid = False
        self.peaks = 0

    def set_peaks(self, max_cdeg: int, min_cdeg: int) -> None:
        """The crank angles at which the thigh is highest and lowest (0..35999 cdeg)."""
        if not (0 <= max_cdeg < 36000 and 0 <= min_cdeg < 36000) or max_cdeg == min_cdeg:
            raise ValueError("thigh peak angles must be two different angles 0..359.99 deg")
        self.max_cdeg = max_cdeg
        self.min_cdeg = min_cdeg

    def process(self, buf, n: int, stride: int = 3) -> None:
        """``n`` IMU sets from ``buf`` (the pitch rate first of each ``stride`` values)."""
        s = self.s
        for i in range(n):
            g = buf[i * stride]
            k = (s[_K] + 256) & _T_MASK
            s[_K] = k
            prev = s[_PREV]
            s[_PREV] = g
            arm = s[_ARM]
            if arm > 0 and g <= 0 < prev:  # + to -: the thigh's highest point
                self._peak(k, prev, g, 1)
                s[_ARM] = 0
            elif arm < 0 and g >= 0 > prev:  # - to +: its lowest
                self._peak(k, prev, g, -1)
                s[_ARM] = 0
            if g > HYST_LSB:
                s[_ARM] = 1
            elif g < -HYST_LSB:
                s[_ARM] = -1
        self._update()

    def _peak(self, k: int, prev: int, g: int, kind: int) -> None:
        # the crossing lies between the previous sample (k - 256) and this one
        d = prev - g
        frac = (prev * 256) // d if d != 0 else 0
        t = (k - 256 + frac) & _T_MASK
        s = self.s
        if kind > 0:  # a maximum
            if s[_LAST] < 0:
                s[_D_UP] = _diff(t, s[_T_MIN])
            s[_T_MAX] = t
        else:
            if s[_LAST] > 0:
                s[_D_DOWN] = _diff(t, s[_T_MAX])
            s[_T_MIN] = t
        s[_LAST] = kind
        self.peaks += 1

    def _update(self) -> None:
        s = self.s
        up, down = s[_D_UP], s[_D_DOWN]
        if s[_LAST] == 0 or up <= 0 or down <= 0:
            self.valid = False
            return
        # (one name at a time: a 4-tuple assignment would allocate on MicroPython)
        if s[_LAST] > 0:  # after a max, going down to the min
            t0 = s[_T_MAX]
            a0 = self.max_cdeg
            a1 = self.min_cdeg
            dur = down
        else:
            t0 = s[_T_MIN]
            a0 = self.min_cdeg
            a1 = self.max_cdeg
            dur = up
        since = _diff(s[_K], t0)
        if since > STALE_SAMPLES * 256 or since < 0:
            self.valid = False
            return
        span = a1 - a0
        if span <= 0:
            span += 36000
        # 32-bit bounded: (since >> 2) <= 16640 and span < 36000
        adv = (since >> 2) * span // ((dur >> 2) or 1)
        if adv > span + span // 8:  # late for the next peak: hold near it
            adv = span + span // 8
        self.angle = (a0 + adv) % 36000
        # crpm = 6000 * odr / cycle samples; the cycle in Q8 samples
        self.crpm = 6000 * 256 * self.odr // (up + down)
        self.valid = True
