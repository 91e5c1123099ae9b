# Per-channel stimulation calibration (wire.CALIB_FMT): the sensory threshold, the
# motor threshold and the maximum comfortable amplitude the user reported, the declared
# electrode area and the default pulse width and frequency of the channel.
#
# Validation: 0 <= sensory <= motor <= max, 1 <= max <= limits.max_ua (<= hard limit),
# width and frequency within the limits, charge per phase within the limits, the rms
# current density at (max, width, freq) <= 2 mA/cm^2 for the area, and the calibrated
# channels together must have feasible timing. A calibration with sensory = motor =
# max = 0 clears the channel.
#
# For the threshold search, store a provisional calibration first (e.g. sensory =
# motor = 0, max = the search ceiling), arm, and probe with T_STIM_TEST trains: a
# test train needs a calibration (its max bounds the test amplitude) but no model.
#
# Storage: all channels in ONE record (so a change is atomic across channels) through
# the device Store (temp file + rename, CRC-verified on load). Record payload:
#   version u8 (1) | count u8 | count x CALIB_FMT
# On boot, load() verifies the CRC (Store) and re-validates every entry against the
# current limits before it is used; a bad record or entry is dropped and reported.
import struct
from array import array

from micropython import const

from garmentfw import limits as L
from garmentfw import wire

CALIB_LEN = const(19)  # struct.calcsize(wire.CALIB_FMT)
RECORD = "stim_calib"
_VERSION = const(1)


class Calibration:
    def __init__(self, channel, sensory_ua, motor_ua, max_ua, area_mm2, width_us, freq_hz):
        self.channel = channel
        self.sensory_ua = sensory_ua
        self.motor_ua = motor_ua
        self.max_ua = max_ua
        self.area_mm2 = area_mm2
        self.width_us = width_us
        self.freq_hz = freq_hz

    def values(self) -> tuple:
        return (self.channel, self.sensory_ua, self.motor_ua, self.max_ua, self.area_mm2, self.width_us, self.freq_hz)

    def pack(self) -> bytes:
        return struct.pack(wire.CALIB_FMT, *self.values())

    @classmethod
    def unpack(cls, buf, offset: int = 0) -> "Calibration":
        return cls(*struct.unpack_from(wire.CALIB_FMT, buf, offset))

    def is_clear(self) -> bool:
        """sensory = motor = max = 0: the request to forget this channel's calibration."""
        return self.sensory_ua == 0 and self.motor_ua == 0 and self.max_ua == 0

    def validate(self, lim, n_channels: int):
        """None if acceptable under ``lim`` on a stimulator with n_channels, else why not."""
        if self.channel >= n_channels:
            return "channel=%d not in 0..%d" % (self.channel, n_channels - 1)
        if self.max_ua < 1:
            return "max_ua=%d must be >= 1 (all-zero currents clear a channel)" % self.max_ua
        if self.max_ua > lim.max_ua:
            return "max_ua=%d above limits.max_ua=%d" % (self.max_ua, lim.max_ua)
        if self.motor_ua > self.max_ua:
            return "motor_ua=%d above max_ua=%d" % (self.motor_ua, self.max_ua)
        if self.sensory_ua > self.motor_ua:
            return "sensory_ua=%d above motor_ua=%d" % (self.sensory_ua, self.motor_ua)
        if self.area_mm2 <= 0:
            return "area_mm2=%d must be > 0" % self.area_mm2
        bad = L.check_pulse(lim, self.max_ua, self.width_us, self.freq_hz)
        if bad:
            return bad
        return L.check_density(self.max_ua, self.width_us, self.freq_hz, self.area_mm2)

    def __eq__(self, other):
        return isinstance(other, Calibration) and self.values() == other.values()


class CalibrationSet:
    """The calibrations of all channels, with flat arrays for the per-pulse checks:
    ``motor``, ``max``, ``width``, ``freq`` (0 where a channel has no calibration)."""

    def __init__(self, n_channels: int, store=None):
        self.n = n_channels
        self.store = store
        self.cals: list = [None] * n_channels  # Calibration or None per channel
        self.motor = array("i", bytes(4 * wire.MAX_CHANNELS))
        self.max = array("i", bytes(4 * wire.MAX_CHANNELS))
        self.width = array("i", bytes(4 * wire.MAX_CHANNELS))
        self.freq = array("i", bytes(4 * wire.MAX_CHANNELS))
        self.mask = 0  # channels with a valid calibration

    def get(self, ch: int):
        return self.cals[ch] if 0 <= ch < self.n else None

    def _apply(self, ch, cal):
        self.cals[ch] = cal
        bit = 1 << ch
        if cal is None:
            self.motor[ch] = self.max[ch] = self.width[ch] = self.freq[ch] = 0
            self.mask &= ~bit
        else:
            self.motor[ch] = cal.motor_ua
            self.max[ch] = cal.max_ua
            self.width[ch] = cal.width_us
            self.freq[ch] = cal.freq_hz
            self.mask |= bit

    def check(self, cal, lim):
        """None if ``cal`` may replace its channel's calibration under ``lim``, else why not
        (its own validity, then the timing of all calibrated channels together)."""
        if cal.channel >= self.n:
            return "channel=%d not in 0..%d" % (cal.channel, self.n - 1)
        if cal.is_clear():
            return None
        bad = cal.validate(lim, self.n)
        if bad:
            return bad
        w = array("i", self.width)
        f = array("i", self.freq)
        w[cal.channel] = cal.width_us
        f[cal.channel] = cal.freq_hz
        return L.check_timing(lim, w[: self.n], f[: self.n], self.mask | (1 << cal.channel))

    def check_limits(self, lim):
        """None if every stored calibration stays valid under new limits ``lim``."""
        for ch in range(self.n):
            c = self.cals[ch]
            if c is not None:
                bad = c.validate(lim, self.n)
                if bad:
                    return "channel %d's calibration would break the new limits: %s" % (ch, bad)
        return L.check_timing(lim, self.width[: self.n], self.freq[: self.n], self.mask)

    def set(self, cal, lim):
        """Validate, store atomically, then use. Returns None or (wire error code, message)."""
        bad = self.check(cal, lim)
        if bad:
            return (wire.E_OUT_OF_RANGE, bad)
        old = self.cals[cal.channel]
        self._apply(cal.channel, None if cal.is_clear() else cal)
        try:
            self.save()
        except Exception as e:  # storage failed: keep what was there (memory == flash)
            self._apply(cal.channel, old)
            return (wire.E_STORAGE, "calibration not stored: %s" % (e,))
        return None

    def payload(self) -> bytes:
        cs = [c for c in self.cals if c is not None]
        return bytes((_VERSION, len(cs))) + b"".join(c.pack() for c in cs)

    def save(self) -> None:
        if self.store is not None:
            self.store.save(RECORD, self.payload())

    def load(self, lim) -> list:
        """Load and verify the stored record; returns messages about what was refused."""
        notes: list = []
        for ch in range(self.n):
            self._apply(ch, None)
        if self.store is None:
            return notes
        try:
            data = self.store.load(RECORD)
        except Exception as e:  # CRC mismatch, truncation: never use it
            return ["stored calibration refused: %s" % (e,)]
        if data is None:
            return notes
        if len(data) < 2 or data[0] != _VERSION or len(data) != 2 + data[1] * CALIB_LEN:
            return ["stored calibration refused: bad record layout"]
        for i in range(data[1]):
            c = Calibration.unpack(data, 2 + i * CALIB_LEN)
            bad = self.check(c, lim)
            if bad:
                notes.append("stored calibration of channel %d refused: %s" % (c.channel, bad))
            else:
                self._apply(c.channel, c)
        return notes
