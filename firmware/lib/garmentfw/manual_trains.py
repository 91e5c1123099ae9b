# Test trains asked for by the host (T_STIM_TEST: one channel, fixed amplitude, width,
# frequency and duration, e.g. the calibration ramp). They need calibration and an arm
# but no model; the supervisor's limits and checks apply to them as to any output.
import time

from micropython import const

_NCH = const(8)


class ManualTrains:
    def __init__(self, n_channels: int, sup, calib, engine, clock_us, note):
        """``note(text)``: reports a train's end (a stim info event)."""
        self.n = n_channels
        self.sup = sup
        self.calib = calib
        self.engine = engine
        self._clock = clock_us
        self._note = note
        self._end = [time.ticks_ms()] * _NCH  # raw ticks_ms: may exceed 32 bits on some ports

    def start(self, ch: int, amp: int, width: int, freq: int, dur_ms: int) -> None:
        """Start a checked train (supervisor.check_test passed): always from zero."""
        eng = self.engine
        eng.zero(ch)
        eng.configure(ch, width, freq)
        self.sup.test_mask |= 1 << ch
        self._end[ch] = time.ticks_add(time.ticks_ms(), dur_ms)
        eng.set_target(ch, amp, self._clock())

    def end_due(self, now_ms) -> None:
        """Stop every train whose duration is over; its channel returns to its
        calibrated width and frequency."""
        sup = self.sup
        if not sup.test_mask:
            return
        for ch in range(self.n):
            if sup.test_mask >> ch & 1 and time.ticks_diff(now_ms, self._end[ch]) >= 0:
                sup.test_mask &= ~(1 << ch)
                self.engine.zero(ch)
                c = self.calib.get(ch)
                if c is not None:
                    self.engine.configure(ch, c.width_us, c.freq_hz)
                self._note("test train on channel %d done" % ch)
