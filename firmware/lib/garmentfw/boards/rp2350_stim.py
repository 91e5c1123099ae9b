# The RP2350 board's stimulator (Pico 2 W), implementing the HAL driver contract of
# garmentfw.stim_engine with PIO-timed pulses (boards/rp2_pio.py). Compile-only here
# (no hardware in CI): type-checked against the rp2 stubs, built by mpy-cross.
#
# Front end: as the reference board (boards/esp32s3_stim.py): an output enable that
# defaults off (pull-down, driven low first), one V-to-I current source per channel
# with a PWM amplitude reference (RC low-pass, settled SETTLE_US inside the PIO program
# before phase 1, so the CPU never waits), an H-bridge per channel (A then B, equal
# phases by construction), an electrode reading at the end of phase 1 (hard IRQ from
# the state machine: electrode voltage on ADC0 through 1:101, sense current on ADC1),
# an E-stop button (hard IRQ cuts the enable, latches) and an output LED. The button is
# a normally-closed contact to ground with a pull-up, as on the reference board: the pin
# reads 0 while released and 1 while pressed OR when its wire is broken (fail-safe), and
# estop_active() reads that level (the hardware interlock is the board's, docs/SAFETY.md).
import time
from array import array

from machine import ADC, PWM, Pin
from micropython import const

from garmentfw import limits as L
from garmentfw.boards.rp2_pio import MIN_PHASE_US, PioPhaseTimer, PioPulser

PIN_STIM_ENABLE = const(15)
PIN_ESTOP = const(14)
PIN_LED_OUT = const(13)
# Per channel: H-bridge A (B is the next GPIO, side-set pair) and amplitude PWM.
PHASE_A_PINS = (2, 4, 6, 8)
AMPLITUDE_PINS = (10, 11, 12, 9)
ADC_SENSE = const(26)
ADC_SENSE_I = const(27)
SENSE_OHM = const(10)
SENSE_GAIN = const(20)
SENSE_DIVIDER = const(101)
SETTLE_US = const(200)
FULL_SCALE_UA = const(100000)
# State machines 4..7 (PIO1) pulse; PIO0: 0 captures the AFE (rp2_capture.py), 1 and 2
# time the delivered phases on the sense lines.
SM_FIRST = const(4)
SM_TIMER_A = const(1)
SM_TIMER_B = const(2)
# Phase sense lines (board requirement): the OR of every channel's A (phase 1), resp. B
# (phase 2) output after its H-bridge, high while that phase drives the electrodes.
PIN_SENSE_A = const(0)
PIN_SENSE_B = const(1)
WIDTH_TOL_US = const(2)  # a delivered phase further than this from its programmed width trips
STOP_MARGIN_US = const(20)  # a stop this close to phase 1 lets the pulse run (never cut unknowingly)
END_MARGIN_US = const(100)  # phase 2 measured this long after its programmed end, or the pulse is lost
MAX_DELAY_US = const(8000)  # the longest start delay queued (the settle loop's count; the engine asks <= one slot)


class Rp2350Stimulator:
    NAME = "rp2350-cc"
    settle_us = SETTLE_US  # phase 1 starts this long after a pulse's (delayed) start

    def __init__(self, enable=None, n_channels: int = 4):
        self.enable_pin = enable if enable is not None else Pin(PIN_STIM_ENABLE, Pin.OUT, value=0)
        self.enable_pin.value(0)
        self._on = False
        self._estop = False
        if not 1 <= n_channels <= len(PHASE_A_PINS):
            raise ValueError("n_channels must be 1..%d" % len(PHASE_A_PINS))
        self.n_channels = n_channels
        self.led = Pin(PIN_LED_OUT, Pin.OUT, value=0)
        self.amp = [PWM(Pin(AMPLITUDE_PINS[i]), freq=78125, duty_u16=0) for i in range(n_channels)]
        for i in range(n_channels):
            Pin(PHASE_A_PINS[i], Pin.OUT, value=0)
            Pin(PHASE_A_PINS[i] + 1, Pin.OUT, value=0)
        self.sense = ADC(Pin(ADC_SENSE))
        self.sense_i = ADC(Pin(ADC_SENSE_I))
        self.min_width_us = MIN_PHASE_US
        self.mv = array("i", [-1] * n_channels)
        self.ua = array("i", [-1] * n_channels)
        self._reading = array("i", [0] * n_channels)  # 1: that channel's phase-1 reading is due
        self.tripped = False  # a pulse out of bounds was asked for: output off until a restart
        self.fault = ""
        # each delivered phase measured (boards/rp2_pio.py phase_timer), checked after the pulse
        self.timer_a = PioPhaseTimer(SM_TIMER_A, Pin(PIN_SENSE_A, Pin.IN))
        self.timer_b = PioPhaseTimer(SM_TIMER_B, Pin(PIN_SENSE_B, Pin.IN))
        # pulses queued and not yet checked, oldest first (a burst's next pulses are queued
        # with a start delay while the earlier ones run: the timers' FIFOs hold their
        # phases in that order): channel, programmed width, when queued, how long it may take
        self.max_delay_us = MAX_DELAY_US
        self._q_ch = array("i", [0] * n_channels)
        self._q_w = array("i", [0] * n_channels)
        self._q_dur = array("i", [0] * n_channels)  # both phases and the gap, us
        self._q_end = [time.ticks_us()] * n_channels  # programmed end, raw ticks (a list: storing allocates nothing)
        self._q_n = 0
        self._stopping = 0  # channels stopped while their pulse was in flight
        self.delivered = (0, 0)  # the last checked pulse's measured phases, us (diagnostics)
        self.prog_ua = array("i", bytes(4 * n_channels))  # amplitude each channel's last pulse really got

        self.pulsers = [PioPulser(SM_FIRST + i, Pin(PHASE_A_PINS[i]), self._phase1_end) for i in range(n_channels)]
        self.button = Pin(PIN_ESTOP, Pin.IN, Pin.PULL_UP)
        self.button.irq(handler=self._button, trigger=Pin.IRQ_RISING, hard=True)

    def _button(self, pin) -> None:
        # Hard IRQ: no allocation; cut the output first.
        self.enable_pin.value(0)
        self._on = False
        self._estop = True

    def _phase1_end(self, sm) -> None:
        # Hard IRQ at the end of phase 1 of the channel whose state machine raised it:
        # read the electrode (uV * 101 / 1000 = mV). Allocation-free.
        for ch in range(self.n_channels):
            if self.pulsers[ch].sm is sm:
                if self._reading[ch]:
                    self.mv[ch] = self.sense.read_u16() * 3300 * SENSE_DIVIDER // 65535
                    self.ua[ch] = self.sense_i.read_u16() * 3300 // 65535 * 1000 // (SENSE_GAIN * SENSE_OHM)
                    self._reading[ch] = 0
                return

    def _collect(self) -> bool:
        """Check the queued pulses whose phases were both measured, oldest first; True if
        none is left unchecked (never waits). Allocation-free."""
        ta = self.timer_a
        tb = self.timer_b
        while self._q_n:
            ch = self._q_ch[0]
            if not tb.ready():
                late = time.ticks_diff(time.ticks_us(), self._q_end[0])
                if late <= END_MARGIN_US:
                    return False  # still running (or not started yet)
                # over its time and phase 2 never ended (or never began): stuck or lost
                return self._trip("channel %d: phase 2 not measured %d us after its end" % (ch, late))
            w = self._q_w[0]
            self._drop(0)
            if self._stopping >> ch & 1:
                self._stopping &= ~(1 << ch)
                self.amp[ch].duty_u16(0)
            p1 = ta.take() if ta.ready() else -1
            p2 = tb.take()
            self.delivered = (p1, p2)
            if p1 - w > WIDTH_TOL_US or w - p1 > WIDTH_TOL_US or p2 - w > WIDTH_TOL_US or w - p2 > WIDTH_TOL_US:
                return self._trip("channel %d: phases delivered %d/%d us, programmed %d us" % (ch, p1, p2, w))
        return not self.tripped

    def _drop(self, k: int) -> None:
        n = self._q_n - 1
        for i in range(k, n):
            self._q_ch[i] = self._q_ch[i + 1]
            self._q_w[i] = self._q_w[i + 1]
            self._q_dur[i] = self._q_dur[i + 1]
            self._q_end[i] = self._q_end[i + 1]
        self._q_n = n

    def _queued(self, ch: int) -> int:
        for i in range(self._q_n):
            if self._q_ch[i] == ch:
                return i
        return -1

    def _forget(self) -> None:
        # Pulses cut short (stop, all off) are not measured: their partial counts go.
        self._q_n = 0
        self._stopping = 0
        self.timer_a.clear()
        self.timer_b.clear()

    # ---- HAL driver contract -------------------------------------------------------
    def enable(self) -> None:
        self._collect()
        if not self._q_n:
            # nothing in flight: counts pushed after a cut (all_off) belong to no pulse
            self.timer_a.clear()
            self.timer_b.clear()
        for i in range(self.n_channels):
            self.mv[i] = -1
            self.ua[i] = -1
        if self.tripped:
            return
        self._on = True
        self.enable_pin.value(1)
        self.led.value(1)

    def all_off(self) -> None:
        self.enable_pin.value(0)
        self._on = False
        for i in range(self.n_channels):
            self.pulsers[i].stop()
            self.amp[i].duty_u16(0)
        self.led.value(0)
        self._forget()

    def off(self, ch: int) -> None:
        # No further pulse on ch. One still in its delay or lead-in is cancelled (no phase
        # yet); one in flight is left to finish: cutting it between its phases would leave
        # its charge unbalanced (and its measurement, which the queued pulses behind it
        # follow in the timers' FIFOs, unknown); all_off() (enable low) is the hard stop.
        k = self._queued(ch)
        # phase 1 begins dur before the end; STOP_MARGIN_US early counts as begun
        if k >= 0 and time.ticks_diff(time.ticks_us(), self._q_end[k]) >= -self._q_dur[k] - STOP_MARGIN_US:
            self._stopping |= 1 << ch  # its amplitude is zeroed once it is checked
            return
        self.pulsers[ch].stop()
        self.amp[ch].duty_u16(0)
        self._reading[ch] = 0
        if k >= 0:
            self._drop(k)

    def load_mv(self, ch: int) -> int:
        return self.mv[ch]

    def programmed_ua(self, ch: int) -> int:
        """The amplitude ``ch``'s last pulse was really programmed with (the reference's
        duty read back: its resolution): the electrode check compares the sensed current
        with this, not with the setpoint."""
        return self.prog_ua[ch]

    def load_ua(self, ch: int) -> int:
        return self.ua[ch]

    def estop_pressed(self) -> bool:
        v = self._estop
        self._estop = False
        return v

    def estop_active(self) -> bool:
        return self.button.value() == 1  # contact open: pressed, or the wire broken

    def pulse(self, ch: int, amplitude_ua: int, width_us: int, interphase_us: int, delay_us: int = 0) -> bool:
        """Queue one biphasic, charge-balanced pulse on ``ch``, its lead-in starting
        ``delay_us`` from now (the state machine's settle loop counts it); False if not
        delivered (output off, button held, this channel's last pulse not checked yet,
        widths or delay untimeable)."""
        if not self._on or self.button.value() == 1:
            return False
        self._collect()
        if self.tripped or self._queued(ch) >= 0:
            return False  # tripped, or this channel's last pulse is not over: never queued behind it
        if delay_us < 0 or delay_us > MAX_DELAY_US:
            return self._trip("start delay %d us outside 0..%d" % (delay_us, MAX_DELAY_US))
        start = time.ticks_add(time.ticks_us(), delay_us)
        n = self._q_n
        if n and time.ticks_diff(start, self._q_end[n - 1]) < L.PULSE_GUARD_US:
            return False  # it would start before the last queued pulse and the guard are over
        if width_us < self.min_width_us or width_us > L.HARD_MAX_WIDTH_US:
            return self._trip("phase width %d us outside %d..%d" % (width_us, self.min_width_us, L.HARD_MAX_WIDTH_US))
        duty = amplitude_ua * 2048 // 3125  # * 65536 / 100000, < 2**28
        if duty > 65535:
            duty = 65535
        p = self.pulsers[ch]
        if p.busy():
            return False
        self.amp[ch].duty_u16(duty)
        ua = self.amp[ch].duty_u16() * 3125 // 2048  # read back what the PWM really set
        self.prog_ua[ch] = ua
        if ua * width_us > L.HARD_MAX_CHARGE_NC * 1000:
            return self._trip("programmed pulse %d uA x %d us above the charge limit" % (ua, width_us))
        self.mv[ch] = -1
        self.ua[ch] = -1
        self._reading[ch] = 1
        if not p.queue(SETTLE_US + delay_us, width_us, interphase_us):
            return False
        dur = 2 * width_us + interphase_us
        self._q_ch[n] = ch
        self._q_w[n] = width_us
        self._q_dur[n] = dur
        self._q_end[n] = time.ticks_add(start, SETTLE_US + dur)
        self._q_n = n + 1
        return True

    def _trip(self, why: str) -> bool:
        self.all_off()
        self.tripped = True
        self.fault = why
        return False
