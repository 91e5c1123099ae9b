# Reference board's constant-current stimulator (ESP32-S3), implementing the HAL driver
# contract of garmentfw.stim_engine. Compile-only here (no hardware in CI): type-checked
# against the esp32 stubs, built by mpy-cross.
#
# Front end (reference schematic):
# - OUTPUT ENABLE (PIN_STIM_ENABLE): gates the high-voltage current source; pulled down
#   on the board and driven low first thing here, so power-up, reset, a crash and the
#   watchdog all leave it off. all_off() drives it low; only enable() (armed) sets it.
# - AMPLITUDE: one V-to-I current source whose reference is a PWM (LEDC, 78 kHz) through
#   an RC low-pass (tau ~40 us): duty_u16 = amplitude * 65536 / FULL_SCALE_UA, settled
#   SETTLE_US before each pulse. (The S3 has no DAC; an external SPI DAC is the upgrade.)
# - PHASES (M5: timed by a peripheral, never by the CPU): one RMT channel (1 MHz, 1 us
#   per tick) drives the PULSE line with ONE programmed sequence per pulse: low for
#   SETTLE_US (the amplitude reference settles), high for the width (phase 1), low for
#   the interphase gap, high for the width again (phase 2). The steering logic (a
#   flip-flop toggled by the PULSE line's falling edge, held clear by PIN_POL_CLR between
#   pulses) sends the first high period to the selected channel's H-bridge side A
#   (cathodic at the active electrode) and the second to side B (anodic); SELECT_PINS
#   pick the channel, set before the sequence starts and static through it. Both phases
#   are the same programmed duration: charge-balanced by construction. Each electrode
#   pair also has a series DC-blocking capacitor (hardware backstop).
# - WIDTH CHECKS: the sequence is checked before it is written (each phase within
#   min_width_us..HARD_MAX_WIDTH_US, the charge of the amplitude the PWM duty really sets
#   (read back) within HARD_MAX_CHARGE_NC, the gap within the RMT's range); what was
#   delivered is measured: two PCNT units count a 1 MHz reference (LEDC on PIN_REF_CLK)
#   while the phase-1 / phase-2 sense lines (PIN_PH1_SENSE, PIN_PH2_SENSE, after the
#   steering) are high. A phase that is not the programmed width (within WIDTH_TOL_US)
#   trips the driver: output enable low, every later pulse refused (the supervisor
#   latches FAULT_INTERNAL), until a restart. The CPU never waits for a pulse: pulse()
#   writes the sequence and returns; the previous pulse is checked (and its electrode
#   reading taken) at the next pulse() or load_mv()/load_ua(); a pulse asked for while
#   the last one still runs is refused, never queued behind it (write_pulses would block).
# - ELECTRODE READING: at the end of phase 1 the board's track-and-hold (gated by the
#   phase-1 sense line) holds the electrode voltage (1:101 divider, ADC_SENSE) and the
#   current through the 10 ohm sense resistor (x20 amplifier, ADC_SENSE_I); the CPU reads
#   them once the pulse is over: load_mv(ch) / load_ua(ch) until the next pulse; -1 after
#   enable() and from the start of every pulse until its reading (a lost reading is a
#   fault in the supervisor). Volts over the commanded current would read a peeled
#   electrode (the source at its 150 V compliance) as a good one; the sensed current
#   shows it. Phases shorter than MIN_MEASURE_US cannot be read: min_width_us refuses them.
# - E-STOP BUTTON (PIN_ESTOP): a normally-closed contact to ground with a pull-up, so the
#   pin reads 0 while released and 1 while pressed OR when its wire is broken (fail-safe).
#   The board's hardware interlock (docs/SAFETY.md) takes the output enable low whenever
#   the contact is open, whatever the MCU does; a hard IRQ on the rising edge also drives
#   the enable low and latches a flag (estop_pressed), and estop_active() reads the
#   level, so a button held at power-up or a cut wire latches FAULT_ESTOP and refuses
#   arm and fault reset for as long as it lasts.
# - OUTPUT LED (PIN_LED): on while the output enable is on.
# Board requirements (docs/SAFETY.md, M5): the DC-blocking capacitor per electrode pair;
# an output watchdog (a retriggerable monostable on the PULSE line) that opens the
# H-bridges if a phase outlasts HARD_MAX_WIDTH_US whatever the RMT does.
from array import array

from esp32 import PCNT, RMT
from machine import ADC, PWM, Pin
from micropython import const

from garmentfw import limits as L

PIN_STIM_ENABLE = const(15)  # the same pin as boards/esp32s3.py
PIN_LED = const(48)
PIN_ESTOP = const(14)
PIN_AMPLITUDE_PWM = const(16)
ADC_SENSE = const(2)
ADC_SENSE_I = const(3)
SENSE_OHM = const(10)
SENSE_GAIN = const(20)
MIN_MEASURE_US = const(60)  # the two ADC conversions fit in the end of a phase this long
PIN_PULSE = const(17)  # RMT output: the pulse line into the steering logic
PIN_POL_CLR = const(18)  # high: steering flip-flop held at phase 1 (between pulses)
SELECT_PINS = (21, 38, 39, 40)  # the channel whose H-bridge the pulse line steers to
PIN_REF_CLK = const(41)  # 1 MHz reference (LEDC) counted by the PCNT units
PIN_PH1_SENSE = const(42)  # high during phase 1 (after the steering)
PIN_PH2_SENSE = const(47)  # high during phase 2
RMT_CHANNEL = const(0)
RMT_HZ = const(1000000)  # 1 tick = 1 us
PULSE_MAX = const(32767)  # RMT.PULSE_MAX: the longest segment in ticks
PCNT_PH1 = const(0)
PCNT_PH2 = const(1)
WIDTH_TOL_US = const(2)  # a measured phase may differ by a reference edge at each end
FULL_SCALE_UA = const(100000)  # setpoint at duty 65536
SETTLE_US = const(200)  # the amplitude reference's RC settles (5 tau): the RMT's first segment
SENSE_DIVIDER = const(101)


class Esp32s3Stimulator:
    NAME = "esp32s3-cc"
    settle_us = SETTLE_US  # every pulse holds the output stage this long before phase 1

    def __init__(self, enable=None, led=None, n_channels: int = 4):
        # Output enable low before anything else (it may be the board's own Pin object).
        self.enable_pin = enable if enable is not None else Pin(PIN_STIM_ENABLE, Pin.OUT, value=0)
        self.enable_pin.value(0)
        self._on = False
        self._estop = False
        self.led = led if led is not None else Pin(PIN_LED, Pin.OUT, value=0)
        self.led.value(0)
        if not 1 <= n_channels <= len(SELECT_PINS):
            raise ValueError("n_channels must be 1..%d" % len(SELECT_PINS))
        self.n_channels = n_channels
        self.pol_clr = Pin(PIN_POL_CLR, Pin.OUT, value=1)
        self.select = [Pin(SELECT_PINS[i], Pin.OUT, value=0) for i in range(n_channels)]
        self.dac = PWM(Pin(PIN_AMPLITUDE_PWM), freq=78125, duty_u16=0)
        self.sense = ADC(Pin(ADC_SENSE), atten=ADC.ATTN_11DB)
        self.sense_i = ADC(Pin(ADC_SENSE_I), atten=ADC.ATTN_11DB)
        self.min_width_us = MIN_MEASURE_US
        self.mv = array("i", [-1] * n_channels)
        self.ua = array("i", [-1] * n_channels)
        self.rmt = RMT(RMT_CHANNEL, pin=Pin(PIN_PULSE, Pin.OUT, value=0), resolution_hz=RMT_HZ, idle_level=False)
        self.rmt.loop(False)
        self._seq = [SETTLE_US, 0, 0, 0]  # the one sequence per pulse: settle, phase 1, gap, phase 2
        self.ref = PWM(Pin(PIN_REF_CLK), freq=RMT_HZ, duty_u16=32768)
        self.pc1 = PCNT(PCNT_PH1, pin=Pin(PIN_REF_CLK), rising=PCNT.INCREMENT,
                        mode_pin=Pin(PIN_PH1_SENSE, Pin.IN), mode_low=PCNT.HOLD, value=0)
        self.pc2 = PCNT(PCNT_PH2, pin=Pin(PIN_REF_CLK), rising=PCNT.INCREMENT,
                        mode_pin=Pin(PIN_PH2_SENSE, Pin.IN), mode_low=PCNT.HOLD, value=0)
        self.pc1.start()
        self.pc2.start()
        self._pending = -1  # channel of the pulse written and not yet checked
        self._w = 0  # its programmed phase width
        self.delivered = (0, 0)  # the last checked pulse's measured phases, us (diagnostics)
        self.prog_ua = array("i", bytes(4 * n_channels))  # amplitude each channel's last pulse really got
        self.tripped = False
        self.fault = ""
        self.button = Pin(PIN_ESTOP, Pin.IN, Pin.PULL_UP)
        # The esp32 port's Pin.irq has no `hard` (it raised TypeError here: the board
        # never constructed): the handler is scheduled, so the stop's latency is the
        # scheduler's; pulse() reads the level itself and the contact cuts the enable in
        # hardware (the interlock, docs/SAFETY.md M2).
        self.button.irq(handler=self._button, trigger=Pin.IRQ_RISING)

    def _button(self, pin) -> None:
        # Scheduled handler: no allocation; cut the output first.
        self.enable_pin.value(0)
        self._on = False
        self._estop = True

    # ---- HAL driver contract -------------------------------------------------------
    def enable(self) -> None:
        self._collect()
        for i in range(self.n_channels):
            self.mv[i] = -1
            self.ua[i] = -1
        if self.tripped:
            return  # a timing fault holds the output off until a restart
        self._open_all()
        self._on = True
        self.enable_pin.value(1)
        self.led.value(1)

    def all_off(self) -> None:
        self.enable_pin.value(0)
        self._on = False
        self.rmt.active(False)
        self.dac.duty_u16(0)
        self._open_all()
        self.led.value(0)

    def off(self, ch: int) -> None:
        # No further pulse on ch (the engine asks none). A pulse in flight (at most
        # settle + 2 x 1000 + gap us) is left to finish: cutting it between its phases
        # would leave its charge unbalanced; all_off() (enable low) is the hard stop.
        if self._pending != ch:
            self.select[ch].value(0)

    def load_mv(self, ch: int) -> int:
        self._collect()
        return self.mv[ch]

    def programmed_ua(self, ch: int) -> int:
        """The amplitude ``ch``'s last pulse was really programmed with (the reference's
        duty read back: its resolution): the electrode check compares the sensed current
        with this, not with the setpoint."""
        return self.prog_ua[ch]

    def load_ua(self, ch: int) -> int:
        self._collect()
        return self.ua[ch]

    def estop_pressed(self) -> bool:
        v = self._estop
        self._estop = False
        return v

    def estop_active(self) -> bool:
        return self.button.value() == 1  # contact open: pressed, or the wire broken

    def pulse(self, ch: int, amplitude_ua: int, width_us: int, interphase_us: int, delay_us: int = 0) -> bool:
        """Write one biphasic, charge-balanced pulse on ``ch`` to the RMT and return; False
        (nothing written) if the output is off or tripped, the last pulse still runs, or the
        sequence is out of bounds (which trips). No start delay (max_delay_us 0: the one
        RMT channel, amplitude reference and track-and-hold serve every channel, so the
        engine hands over a burst's next pulse on a later pass, never waiting for it)."""
        if delay_us:
            return self._trip("start delay %d us asked of a driver that times none" % delay_us)
        if not self._collect() or not self._on or self.button.value() == 1:
            return False
        if width_us < self.min_width_us or width_us > L.HARD_MAX_WIDTH_US:
            return self._trip("phase width %d us outside %d..%d" % (width_us, self.min_width_us, L.HARD_MAX_WIDTH_US))
        if interphase_us < 1 or interphase_us > PULSE_MAX:
            return self._trip("interphase gap %d us outside 1..%d" % (interphase_us, PULSE_MAX))
        duty = amplitude_ua * 2048 // 3125  # * 65536 / 100000, < 2**28
        if duty > 65535:
            duty = 65535
        self.dac.duty_u16(duty)
        # read back what the LEDC really set (its resolution) and what the RMT gets
        ua = self.dac.duty_u16() * 3125 // 2048
        self.prog_ua[ch] = ua
        seq = self._seq
        seq[1] = width_us
        seq[2] = interphase_us
        seq[3] = width_us
        if seq[0] != SETTLE_US or seq[1] != seq[3] or ua * seq[1] > L.HARD_MAX_CHARGE_NC * 1000:
            return self._trip("programmed pulse %d uA x %d/%d us outside the charge limit or unbalanced" % (
                ua, seq[1], seq[3]))
        self.mv[ch] = -1
        self.ua[ch] = -1
        self.select[ch].value(1)
        self.pol_clr.value(0)  # the steering flip-flop follows the pulse line from phase 1
        self.pc1.value(0)
        self.pc2.value(0)
        self._pending = ch
        self._w = width_us
        self.rmt.write_pulses(seq, 0)  # starts now, low first (settle); returns at once
        return True

    def _collect(self) -> bool:
        """Check the pulse in flight once it is over (reading, measured phases); True if
        the stage is free for the next pulse. Allocation-free."""
        ch = self._pending
        if ch < 0:
            return not self.tripped
        if not self.rmt.wait_done():
            return False  # still running: never wait for it
        self._pending = -1
        p1 = self.pc1.value()
        p2 = self.pc2.value()
        # the track-and-hold froze both at the end of phase 1: uV * 101 / 1000 = mV; sense uV / (gain * ohm) = uA
        self.mv[ch] = self.sense.read_uv() * SENSE_DIVIDER // 1000
        self.ua[ch] = self.sense_i.read_uv() // (SENSE_GAIN * SENSE_OHM)
        self.select[ch].value(0)
        self.pol_clr.value(1)
        self.dac.duty_u16(0)
        self.delivered = (p1, p2)
        w = self._w
        if p1 - w > WIDTH_TOL_US or w - p1 > WIDTH_TOL_US or p2 - w > WIDTH_TOL_US or w - p2 > WIDTH_TOL_US:
            self._trip("channel %d: phases delivered %d/%d us, programmed %d us" % (ch, p1, p2, w))
            return False
        return not self.tripped

    def _trip(self, why: str) -> bool:
        self.all_off()
        self.tripped = True
        self.fault = why
        return False

    def _open_all(self) -> None:
        for i in range(self.n_channels):
            self.select[i].value(0)
        self.pol_clr.value(1)
        self._pending = -1
