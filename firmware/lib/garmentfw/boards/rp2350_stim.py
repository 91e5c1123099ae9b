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


class Rp2350Stimulator:
    NAME = "rp2350-cc"

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
        self._reading = array("i", [-1])  # channel whose phase 1 ends next (one at a time)
        self.tripped = False  # a pulse out of bounds was asked for: output off until a restart
        self.fault = ""
        # each delivered phase measured (boards/rp2_pio.py phase_timer), checked after the pulse
        self.timer_a = PioPhaseTimer(SM_TIMER_A, Pin(PIN_SENSE_A, Pin.IN))
        self.timer_b = PioPhaseTimer(SM_TIMER_B, Pin(PIN_SENSE_B, Pin.IN))
        self._pending = -1  # channel of the pulse queued and not yet checked
        self._w = 0  # its programmed phase width
        self._t0 = time.ticks_us()  # when the pulse in flight was queued
        self._span = 0  # how long it may take, us (settle, both phases, gap, margin)
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
        # Hard IRQ at the end of phase 1: read the electrode (uV * 101 / 1000 = mV).
        ch = self._reading[0]
        if ch >= 0:
            self.mv[ch] = self.sense.read_u16() * 3300 * SENSE_DIVIDER // 65535
            self.ua[ch] = self.sense_i.read_u16() * 3300 // 65535 * 1000 // (SENSE_GAIN * SENSE_OHM)
            self._reading[0] = -1

    def _collect(self) -> bool:
        """Check the pulse queued last once both its phases were measured; True if the
        stage is free for the next pulse (never waits). Allocation-free."""
        ch = self._pending
        if ch < 0:
            return not self.tripped
        ta = self.timer_a
        tb = self.timer_b
        if not tb.ready():
            if time.ticks_diff(time.ticks_us(), self._t0) <= self._span:
                return False  # still running
            # over its time and phase 2 never ended (or never began): stuck or lost
            return self._trip("channel %d: phase 2 not measured within %d us" % (ch, self._span))
        self._pending = -1
        p1 = ta.take() if ta.ready() else -1
        p2 = tb.take()
        self.delivered = (p1, p2)
        w = self._w
        if p1 - w > WIDTH_TOL_US or w - p1 > WIDTH_TOL_US or p2 - w > WIDTH_TOL_US or w - p2 > WIDTH_TOL_US:
            return self._trip("channel %d: phases delivered %d/%d us, programmed %d us" % (ch, p1, p2, w))
        return not self.tripped

    def _forget(self) -> None:
        # A pulse cut short (stop, all off) is not measured: its partial counts go.
        self._pending = -1
        self.timer_a.clear()
        self.timer_b.clear()

    # ---- HAL driver contract -------------------------------------------------------
    def enable(self) -> None:
        self._collect()
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
        self.pulsers[ch].stop()
        self.amp[ch].duty_u16(0)
        if self._pending == ch:
            self._forget()

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

    def pulse(self, ch: int, amplitude_ua: int, width_us: int, interphase_us: int) -> bool:
        """Queue one biphasic, charge-balanced pulse on ``ch``; False if not delivered
        (output off, button held, previous pulse still queued, widths untimeable)."""
        if not self._on or self.button.value() == 1:
            return False
        if not self._collect():
            return False  # the last pulse is not over (or it tripped): never queued behind it
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
        self._reading[0] = ch
        if not p.queue(SETTLE_US, width_us, interphase_us):
            return False
        self._pending = ch
        self._w = width_us
        self._t0 = time.ticks_us()
        self._span = SETTLE_US + 2 * width_us + interphase_us + 100
        return True

    def _trip(self, why: str) -> bool:
        self.all_off()
        self.tripped = True
        self.fault = why
        return False
