# Stimulation limits: the compile-time absolute maxima (HARD_*), which nothing, not even
# T_SET_LIMITS, can exceed, and the configurable limits (wire.LIMITS_FMT), which the
# host may tighten (or relax up to the hard maxima) while disarmed.
#
# Every check returns None when the request is acceptable, else a one-line message
# that names the field; the caller refuses with wire.E_OUT_OF_RANGE. Nothing here
# clamps: an out-of-range request is refused, never silently reduced.
#
# Units: currents in uA, times in us (pulses) or ms/s (supervision), frequency in Hz,
# charge per phase in nC (= uA * us / 1000), dose in uC per rolling DOSE_WINDOW_S.
# Everything here runs on the request path (not per pulse); products that could pass
# 2**30 (the density check) use Python ints, which every MicroPython target supports.
import struct

from micropython import const

from garmentfw import wire

# ---- absolute maxima (compile time) ------------------------------------------------
HARD_MAX_UA = const(100000)         # 100 mA
HARD_MIN_WIDTH_US = const(20)
HARD_MAX_WIDTH_US = const(1000)
HARD_MIN_FREQ_HZ = const(1)
HARD_MAX_FREQ_HZ = const(150)
HARD_MAX_CHARGE_NC = const(50000)   # 50 uC per phase
HARD_MIN_SLEW = const(100)          # uA/s
HARD_MAX_SLEW = const(1000000)      # 1 mA per ms
HARD_MIN_HEARTBEAT_MS = const(50)
HARD_MAX_HEARTBEAT_MS = const(500)    # the design: zero within 100 ms of a 500 ms silence
HARD_MIN_BLANK_US = const(500)      # the amplifier needs at least this to recover
HARD_MAX_BLANK_US = const(50000)
HARD_MAX_SESSION_S = const(14400)   # 4 h
HARD_MAX_DOSE_UC = const(10000000)  # 10 C per rolling window
MAX_TEST_MS = const(60000)          # one T_STIM_TEST train

# ---- fixed properties of the output stage and the supervision -----------------------
INTERPHASE_US = const(50)           # gap between the two phases of every pulse
PULSE_GUARD_US = const(20)          # quiet time after a pulse before another channel's pulse
MAX_SLOT_US = const(2 * HARD_MAX_WIDTH_US + INTERPHASE_US + PULSE_GUARD_US)  # slot_us(): the longest
BLANK_MARGIN_US = const(2500)       # the Blanker's margins (1 sample early, 4 late) at 2 kHz
DENSITY_MAX_UA_PER_CM2 = const(2000)  # rms current density limit: 2 mA/cm^2
IMPEDANCE_MIN_OHM = const(100)      # below: electrodes shorted together
IMPEDANCE_MAX_OHM = const(20000)    # above: electrode off (a peeled electrode reads ~1 MOhm)
COMPLIANCE_MV = const(150000)       # the current source cannot drive more than 150 V
COMPLIANCE_NEAR_MV = const(145000)  # a reading at or above: the source is at compliance
DELIVERED_MIN_PCT = const(90)       # sensed current below this % of the setpoint: compliance
WATCHDOG_MS = const(250)            # the boards' watchdog: a hung loop is reset within the heartbeat budget
BATTERY_MIN_MV = const(3400)        # below (3 readings in a row): stimulation off
BATTERY_PERIOD_MS = const(250)
BATTERY_READINGS = const(3)
RAIL_MS = const(5)                  # EMG at the ADC rail this long -> fault
FLAT_MS = const(100)                # EMG stuck at one code (0 or not) this long -> dead channel
STALL_MS = const(200)               # no EMG sample at all this long -> fault
DOSE_WINDOW_S = const(600)          # the rolling dose window (10 minutes)
DOSE_BINS = const(60)               # of DOSE_WINDOW_S / DOSE_BINS = 10 s each
DAILY_DOSE_WINDOWS = const(6)       # the day's cap: this many full rolling windows (limits.dose_limit each)
DAY_MS = const(86400000)            # a day of stimulator uptime (no clock survives a power cut)
ADC_MAX = const(0x7FFFFF)           # 24-bit AFE rails
ADC_MIN = const(-0x800000)

LIMIT_FIELDS = ("max_ua", "max_width_us", "min_freq_hz", "max_freq_hz", "max_charge_nc",
                "slew_ua_per_s", "heartbeat_ms", "blank_us", "session_s", "dose_limit")
# (field, lowest, highest) allowed for the configurable limits
_RANGES = (
    ("max_ua", 1, HARD_MAX_UA),
    ("max_width_us", HARD_MIN_WIDTH_US, HARD_MAX_WIDTH_US),
    ("min_freq_hz", HARD_MIN_FREQ_HZ, HARD_MAX_FREQ_HZ),
    ("max_freq_hz", HARD_MIN_FREQ_HZ, HARD_MAX_FREQ_HZ),
    ("max_charge_nc", 1, HARD_MAX_CHARGE_NC),
    ("slew_ua_per_s", HARD_MIN_SLEW, HARD_MAX_SLEW),
    ("heartbeat_ms", HARD_MIN_HEARTBEAT_MS, HARD_MAX_HEARTBEAT_MS),
    ("blank_us", HARD_MIN_BLANK_US, HARD_MAX_BLANK_US),
    ("session_s", 1, HARD_MAX_SESSION_S),
    ("dose_limit", 1, HARD_MAX_DOSE_UC),
)

LIMITS_LEN = const(30)  # struct.calcsize(wire.LIMITS_FMT)


class Limits:
    """The configurable limits (the fields of wire.LIMITS_FMT), defaults conservative.

    blank_us defaults to 24 ms after the pulse (with the pulse and the Blanker's margins,
    ~26.5 ms from its onset): the evoked M-wave of a surface-stimulated thigh muscle
    starts 3-7 ms after the pulse and is over by ~20 ms on its own electrodes, but its
    far field reaches the neighbouring muscles' electrodes (crosstalk) broader in time,
    until ~26 ms. A shorter window lets the decoder read the muscles' answer to its own
    stimulation as effort, on the stimulated channel or its neighbours. It leaves EMG to
    read between 30 Hz bursts of 4 channels at up to 800 us (EMG-driven stimulation runs
    at 20-30 Hz for this reason); faster trains need a shorter window, set on purpose."""

    def __init__(self, max_ua=50000, max_width_us=500, min_freq_hz=10, max_freq_hz=100,
                 max_charge_nc=25000, slew_ua_per_s=20000, heartbeat_ms=500, blank_us=24000,
                 session_s=3600, dose_limit=2000000):
        self.max_ua = max_ua
        self.max_width_us = max_width_us
        self.min_freq_hz = min_freq_hz
        self.max_freq_hz = max_freq_hz
        self.max_charge_nc = max_charge_nc
        self.slew_ua_per_s = slew_ua_per_s
        self.heartbeat_ms = heartbeat_ms
        self.blank_us = blank_us
        self.session_s = session_s
        self.dose_limit = dose_limit

    def values(self) -> tuple:
        return (self.max_ua, self.max_width_us, self.min_freq_hz, self.max_freq_hz, self.max_charge_nc,
                self.slew_ua_per_s, self.heartbeat_ms, self.blank_us, self.session_s, self.dose_limit)

    def pack(self) -> bytes:
        return struct.pack(wire.LIMITS_FMT, *self.values())

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> "Limits":
        return cls(*struct.unpack_from(wire.LIMITS_FMT, buf, offset))

    def validate(self):
        """None if every field is within the hard limits and consistent, else a message."""
        vals = self.values()
        for i in range(len(_RANGES)):
            name, lo, hi = _RANGES[i]
            v = vals[i]
            if v < lo or v > hi:
                return "%s=%d outside the hard limits %d..%d" % (name, v, lo, hi)
        if self.min_freq_hz > self.max_freq_hz:
            return "min_freq_hz=%d above max_freq_hz=%d" % (self.min_freq_hz, self.max_freq_hz)
        return None

    def __eq__(self, other):
        return isinstance(other, Limits) and self.values() == other.values()


def check_pulse(lim, amplitude_ua: int, width_us: int, freq_hz: int, what: str = ""):
    """None if one pulse train (amplitude, width, frequency) is within ``lim``, else why not."""
    if amplitude_ua < 0 or amplitude_ua > lim.max_ua:
        return "%samplitude_ua=%d outside 0..%d (limits.max_ua)" % (what, amplitude_ua, lim.max_ua)
    if width_us < HARD_MIN_WIDTH_US or width_us > lim.max_width_us:
        return "%swidth_us=%d outside %d..%d (limits.max_width_us)" % (what, width_us, HARD_MIN_WIDTH_US, lim.max_width_us)
    if freq_hz < lim.min_freq_hz or freq_hz > lim.max_freq_hz:
        return "%sfreq_hz=%d outside %d..%d (limits)" % (what, freq_hz, lim.min_freq_hz, lim.max_freq_hz)
    # charge per phase in nC = uA * us / 1000; both sides < 2**30
    if amplitude_ua * width_us > lim.max_charge_nc * 1000:
        return "%scharge per phase %d nC (amplitude_ua=%d x width_us=%d) above limits.max_charge_nc=%d" % (
            what, amplitude_ua * width_us // 1000, amplitude_ua, width_us, lim.max_charge_nc)
    return None


def check_density(amplitude_ua: int, width_us: int, freq_hz: int, area_mm2: int, what: str = ""):
    """Refuse an rms current density above 2 mA/cm^2 over the electrode area.

    A biphasic train of amplitude I, phase width w and frequency f has
    I_rms = I * sqrt(2 * w * f) (w in s). With w in us, the test
        I^2 * 2 * w_us * f / 1e6 <= (2000 uA/cm^2 * area_cm2)^2,  area_cm2 = area_mm2 / 100
    is computed exactly as  I^2 * 2 * w_us * f  <=  (20 * area_mm2)^2 * 1e6  in Python
    ints (up to ~1e15: multi-word ints, fine off the hot path)."""
    if area_mm2 <= 0:
        return "%sarea_mm2=%d must be > 0" % (what, area_mm2)
    lhs = amplitude_ua * amplitude_ua * 2 * width_us * freq_hz
    lim = 20 * area_mm2
    rhs = lim * lim * 1000000
    if lhs > rhs:
        rms_ua = amplitude_ua * ((2 * width_us * freq_hz) / 1e6) ** 0.5
        dens = rms_ua / (area_mm2 / 100.0) / 1000.0
        return "%srms current density %.2f mA/cm^2 (amplitude_ua=%d, width_us=%d, freq_hz=%d, area_mm2=%d) exceeds 2 mA/cm^2" % (
            what, dens, amplitude_ua, width_us, freq_hz, area_mm2)
    return None


def slot_us(width_us: int, settle_us: int = 0) -> int:
    """Time one pulse holds the output stage: the driver's settle time before phase 1
    (a pulse peripheral's programmed lead-in, 0 for a driver without one), two phases,
    the interphase gap and the guard before another channel's pulse (StimEngine keeps
    to it)."""
    return settle_us + 2 * width_us + INTERPHASE_US + PULSE_GUARD_US


def check_timing(lim, widths, freqs, mask: int, settle_us: int = 0):
    """Refuse multi-channel timing that cannot be met (channels in ``mask``; widths and
    freqs indexed by channel).

    Pulses: they never overlap, so all of them must fit in one second. (Two pulses,
    at most 2 x 2070 us, always fit in the shortest period the hard limits allow.)
    Blank windows (11): the engine locks channels of one frequency into one burst per
    period, which one blank window (from the burst's first pulse to blank_us after its
    last, plus the Blanker's margins) covers; the EMG must still show between bursts,
    or the decoder reads nothing but interpolation. (The margins are counted at the
    garment's 2 kHz; at lower AFE rates they are wider in time: more blanking, never
    less.) Bursts at different frequencies are counted as never sharing a
    window (the worst case)."""
    total = 0
    n = len(widths)
    for ch in range(n):
        if mask >> ch & 1:
            total += slot_us(widths[ch], settle_us) * freqs[ch]
    if total > 1000000:
        return "infeasible timing: the channels' pulses need %d us every second" % total
    blanked = 0
    for j in range(n):
        if not mask >> j & 1:
            continue
        f = freqs[j]
        first = True
        burst = 0
        for i in range(n):
            if mask >> i & 1 and freqs[i] == f:
                if i < j:
                    first = False
                    break
                burst += slot_us(widths[i], settle_us)
        if not first:
            continue  # this frequency's burst was counted at its lowest channel
        window = burst + lim.blank_us + BLANK_MARGIN_US
        period = 1000000 // f
        if window >= period:
            return ("infeasible timing: at %d Hz the burst (%d us) plus blank_us=%d and its margins (%d us) "
                    "covers the whole period (%d us): the decoder would never see the EMG; lower blank_us, "
                    "the pulse width, the channels or the frequency" % (
                        f, burst, lim.blank_us, BLANK_MARGIN_US, period))
        blanked += window * f
    if blanked >= 1000000:
        return ("infeasible timing: the blank windows (blank_us=%d) of bursts at different frequencies can "
                "cover %d us of every second: the decoder would never see the EMG" % (lim.blank_us, blanked))
    return None
