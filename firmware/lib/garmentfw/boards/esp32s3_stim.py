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
# - PHASES: one H-bridge per channel (pins A, B): A high = phase 1 (cathodic at the
#   active electrode), B high = phase 2 (anodic), both low = open. Each electrode pair
#   also has a series DC-blocking capacitor (hardware charge-balance backstop).
#   Phase 2 is timed to the measured duration of phase 1, so interrupts that stretch
#   phase 1 stretch phase 2 equally: the pulse stays charge-balanced.
# - ELECTRODE READING: at the end of phase 1 the electrode voltage (1:101 divider,
#   ADC_SENSE) and the current through the 10 ohm sense resistor (x20 amplifier,
#   ADC_SENSE_I) are read: load_mv(ch) / load_ua(ch) until the next pulse; -1 after
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
# Timing: phases are timed with time.ticks_us busy-waits (interrupts stay on: the
# ADS1299's DRDY must never be missed); MCPWM/RMT-timed phases are the production path.
import time
from array import array

from machine import ADC, PWM, Pin
from micropython import const

PIN_STIM_ENABLE = const(15)  # the same pin as boards/esp32s3.py
PIN_LED = const(48)
PIN_ESTOP = const(14)
PIN_AMPLITUDE_PWM = const(16)
ADC_SENSE = const(2)
ADC_SENSE_I = const(3)
SENSE_OHM = const(10)
SENSE_GAIN = const(20)
MIN_MEASURE_US = const(60)  # the two ADC conversions fit in the end of a phase this long
PHASE_PINS = ((17, 18), (21, 38), (39, 40), (41, 42))  # (A, B) per channel
FULL_SCALE_UA = const(100000)  # setpoint at duty 65536
SETTLE_US = const(200)
SENSE_DIVIDER = const(101)


class Esp32s3Stimulator:
    NAME = "esp32s3-cc"

    def __init__(self, enable=None, led=None, n_channels: int = 4):
        # Output enable low before anything else (it may be the board's own Pin object).
        self.enable_pin = enable if enable is not None else Pin(PIN_STIM_ENABLE, Pin.OUT, value=0)
        self.enable_pin.value(0)
        self._on = False
        self._estop = False
        self.led = led if led is not None else Pin(PIN_LED, Pin.OUT, value=0)
        self.led.value(0)
        if not 1 <= n_channels <= len(PHASE_PINS):
            raise ValueError("n_channels must be 1..%d" % len(PHASE_PINS))
        self.n_channels = n_channels
        self.pin_a = [Pin(PHASE_PINS[i][0], Pin.OUT, value=0) for i in range(n_channels)]
        self.pin_b = [Pin(PHASE_PINS[i][1], Pin.OUT, value=0) for i in range(n_channels)]
        self.dac = PWM(Pin(PIN_AMPLITUDE_PWM), freq=78125, duty_u16=0)
        self.sense = ADC(Pin(ADC_SENSE), atten=ADC.ATTN_11DB)
        self.sense_i = ADC(Pin(ADC_SENSE_I), atten=ADC.ATTN_11DB)
        self.min_width_us = MIN_MEASURE_US
        self.mv = array("i", [-1] * n_channels)
        self.ua = array("i", [-1] * n_channels)
        self.button = Pin(PIN_ESTOP, Pin.IN, Pin.PULL_UP)
        self.button.irq(handler=self._button, trigger=Pin.IRQ_RISING, hard=True)

    def _button(self, pin) -> None:
        # Hard IRQ: no allocation; cut the output first.
        self.enable_pin.value(0)
        self._on = False
        self._estop = True

    # ---- HAL driver contract -------------------------------------------------------
    def enable(self) -> None:
        for i in range(self.n_channels):
            self.mv[i] = -1
            self.ua[i] = -1
        self._open_all()
        self._on = True
        self.enable_pin.value(1)
        self.led.value(1)

    def all_off(self) -> None:
        self.enable_pin.value(0)
        self._on = False
        self.dac.duty_u16(0)
        self._open_all()
        self.led.value(0)

    def off(self, ch: int) -> None:
        self.pin_a[ch].value(0)
        self.pin_b[ch].value(0)

    def load_mv(self, ch: int) -> int:
        return self.mv[ch]

    def load_ua(self, ch: int) -> int:
        return self.ua[ch]

    def estop_pressed(self) -> bool:
        v = self._estop
        self._estop = False
        return v

    def estop_active(self) -> bool:
        return self.button.value() == 1  # contact open: pressed, or the wire broken

    def pulse(self, ch: int, amplitude_ua: int, width_us: int, interphase_us: int) -> bool:
        """One biphasic, charge-balanced pulse on ``ch``; False if the output is off."""
        if not self._on or self.button.value() == 1:
            return False
        a = self.pin_a[ch]
        b = self.pin_b[ch]
        duty = amplitude_ua * 2048 // 3125  # * 65536 / 100000, < 2**28
        if duty > 65535:
            duty = 65535
        self.dac.duty_u16(duty)
        t0 = time.ticks_us()
        while time.ticks_diff(time.ticks_us(), t0) < SETTLE_US:
            pass
        self.mv[ch] = -1
        self.ua[ch] = -1
        a.value(1)  # phase 1
        t0 = time.ticks_us()
        while time.ticks_diff(time.ticks_us(), t0) < width_us - MIN_MEASURE_US:
            pass
        # end of phase 1: uV * 101 / 1000 = mV; sense uV / (gain * ohm) = uA
        self.mv[ch] = self.sense.read_uv() * SENSE_DIVIDER // 1000
        self.ua[ch] = self.sense_i.read_uv() // (SENSE_GAIN * SENSE_OHM)
        while time.ticks_diff(time.ticks_us(), t0) < width_us:
            pass
        a.value(0)
        w1 = time.ticks_diff(time.ticks_us(), t0)  # what phase 1 really lasted
        t0 = time.ticks_us()
        while time.ticks_diff(time.ticks_us(), t0) < interphase_us:
            pass
        b.value(1)  # phase 2: equal and opposite
        t0 = time.ticks_us()
        while time.ticks_diff(time.ticks_us(), t0) < w1:
            pass
        b.value(0)
        self.dac.duty_u16(0)
        return True

    def _open_all(self) -> None:
        for i in range(self.n_channels):
            self.pin_a[i].value(0)
            self.pin_b[i].value(0)
