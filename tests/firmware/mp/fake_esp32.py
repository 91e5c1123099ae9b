# Fakes of the ESP32-S3 peripherals the reference stimulator HAL uses, with MicroPython's
# API (machine.Pin / PWM / ADC, esp32.RMT / PCNT), on the virtual clock (vclock), plus a
# model of the board's stimulator front end they are wired to. install() puts them in
# sys.modules as `machine` and `esp32` (import it before the HAL, after vclock).
#
# As hard as the parts:
# - RMT: durations in ticks of resolution_hz, 1..PULSE_MAX (ValueError otherwise), the
#   level toggling from `data` (mode 1); write_pulses on a busy channel BLOCKS until the
#   running sequence is over, as the real driver does (counted in `blocked`: a HAL that
#   lets that happen waits for a pulse); wait_done(timeout=0) is True only once the
#   sequence has run out on the clock. stretch(segment, extra_us) lengthens one segment of
#   the NEXT sequence as delivered (a fault in the part, a wrong clock): the programmed
#   sequence is what the HAL wrote, the delivered one is what the front end sees.
# - PWM: the LEDC duty read back at the resolution the frequency leaves (80 MHz / freq:
#   10 bits at 78 kHz), so a duty read-back differs from what was asked.
# - PCNT: counts rising edges of the 1 MHz reference while its mode pin is high (mode_low
#   HOLD): the high time of the gated phase in us, as delivered, up to now on the clock;
#   or, wired to a DrdyLine with falling=INCREMENT, its DRDY falling edges, counting
#   0 .. max - 1 (the unit resets to 0 at its maximum, as the hardware does).
# - pin interrupts as the esp32 port has them: Pin.irq(handler, trigger, wake) with no
#   `hard` (TypeError, as the real keyword parser gives), the handler SCHEDULED (queued,
#   at most SCHED_DEPTH pending, more are lost) and run only when the VM reaches a
#   pending check (run_scheduled(): the test says when the loop gets there).
# - DrdyLine: the board's DRDY input wired to the ADS1299 model's DRDY output.
# - the front end: the pulse line's first high period is phase 1 (the steering flip-flop
#   cleared), its second is phase 2; each phase's sense line is high only during it.
import sys

import vclock

_pins = {}  # id -> Pin (the last constructed: the board's wiring)
_pwms = {}  # pin id -> PWM
_adcs = []
WIRING = {}  # install(): which pins are the amplitude PWM and the sense ADCs


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._v = 0 if value is None else value
        self.handler = None
        _pins[id] = self

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        return None

    def irq(self, handler=None, trigger=0, wake=None):
        self.handler = handler


SCHED_DEPTH = 8  # MICROPY_SCHEDULER_DEPTH of the esp32 port
# the queue, preallocated as the port's is (so the fake allocates nothing per edge):
# handlers, arguments, [head, count, calls lost because it was full]
_SCHED_H = [None] * SCHED_DEPTH
_SCHED_A = [None] * SCHED_DEPTH
SCHED = [0, 0, 0]


def schedule(handler, arg):
    """mp_sched_schedule(): queue handler(arg); False (and lost) when the queue is full."""
    q = SCHED
    if q[1] >= SCHED_DEPTH:
        q[2] += 1
        return False
    i = (q[0] + q[1]) % SCHED_DEPTH
    _SCHED_H[i] = handler
    _SCHED_A[i] = arg
    q[1] += 1
    return True


def run_scheduled():
    """The VM reaches a pending check: every queued handler runs, oldest first."""
    q = SCHED
    n = 0
    while q[1]:
        i = q[0]
        q[0] = (i + 1) % SCHED_DEPTH
        q[1] -= 1
        _SCHED_H[i](_SCHED_A[i])
        n += 1
    return n


class DrdyLine:
    """machine.Pin (esp32 port) wired to the chip model's DRDY output: value() reads it,
    irq() schedules the handler at each falling edge, edges() is what a PCNT counts."""

    IRQ_FALLING = 2

    def __init__(self, chip):
        self.chip = chip

    def value(self, v=None):
        return self.chip.drdy.value()

    def irq(self, handler=None, trigger=0, wake=None):
        # the GPIO ISR: only mp_sched_schedule (the esp32 port's machine_pin.c)
        self._handler = handler
        self.chip.drdy.irq(self._isr, trigger=trigger)

    def _isr(self, _p):
        schedule(self._handler, self)

    def edges(self):
        return self.chip.conversions()


def pin(id):
    return _pins[id]


class PWM:
    def __init__(self, pin, freq=5000, duty_u16=0):
        self.pin = pin
        self.freq = freq
        bits = 0
        while (80000000 // freq) >> (bits + 1):
            bits += 1
        self.bits = bits if bits < 16 else 16
        self._duty = 0
        self.duty_u16(duty_u16)
        _pwms[pin.id] = self

    def duty_u16(self, v=None):
        if v is None:
            return self._duty
        if not 0 <= v <= 65535:
            raise ValueError("duty must be 0..65535")
        shift = 16 - self.bits
        self._duty = v >> shift << shift
        return None


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin
        self.uv = 0
        self.u16 = 0  # what read_u16() returns (the RP2 ports' ADC)
        self.reads = 0
        _adcs.append(self)

    def read_uv(self):
        self.reads += 1
        return self.uv

    def read_u16(self):
        self.reads += 1
        return self.u16


class RMT:
    PULSE_MAX = 32767
    last = None  # the newest channel constructed

    def __init__(self, id=-1, *, pin, resolution_hz=None, clock_div=None, idle_level=False,
                 tx_carrier=None, num_symbols=48):
        self.id = id
        self.pin = pin
        self.resolution_hz = resolution_hz or 80000000 // (clock_div or 1)
        self.idle_level = idle_level
        self.looping = False
        self.writes = 0
        self.blocked = 0  # write_pulses called while a sequence ran (the real one blocks)
        self.programmed = ()
        self.delivered = ()
        self.start_level = 0
        self.t0 = 0
        self.end_us = 0  # sequence length in us (from t0)
        self._stretch = None
        RMT.last = self

    @classmethod
    def source_freq(cls):
        return 80000000

    def _us(self, ticks):
        return ticks * 1000000 // self.resolution_hz

    def stretch(self, segment, extra_us):
        """The next sequence is delivered with ``segment`` longer by ``extra_us``."""
        self._stretch = (segment, extra_us)

    def write_pulses(self, duration, data=True):
        if isinstance(duration, int):
            raise ValueError("mode 2 not modelled")
        if not isinstance(data, (bool, int)):
            raise ValueError("mode 3 not modelled")
        for d in duration:
            if not 1 <= d <= self.PULSE_MAX:
                raise ValueError("pulse duration out of range")
        if not self.wait_done():
            self.blocked += 1
            vclock.advance_us(vclock.ticks_diff(vclock.ticks_add(self.t0, self.end_us), vclock.ticks_us()))
        self.writes += 1
        self.programmed = tuple(duration)
        us = [self._us(d) for d in duration]
        if self._stretch is not None:
            seg, extra = self._stretch
            us[seg] += extra
            self._stretch = None
        self.delivered = tuple(us)
        self.start_level = 1 if data else 0
        self.t0 = vclock.ticks_us()
        self.end_us = sum(us)
        FRONT_END.sequence(self)

    def wait_done(self, *, timeout=0):
        if not self.writes:
            return True
        return vclock.ticks_diff(vclock.ticks_us(), vclock.ticks_add(self.t0, self.end_us)) >= 0

    def active(self, value=None):
        if value is None:
            return not self.wait_done()
        if not value:
            self.end_us = vclock.ticks_diff(vclock.ticks_us(), self.t0)  # stops now
            FRONT_END.cut(self.end_us)
        return not self.wait_done()

    def loop(self, enable_loop):
        self.looping = bool(enable_loop)

    def deinit(self):
        pass


class FrontEnd:
    """The board between the pulse line and the phases' sense lines: high period 1 of a
    sequence is phase 1, high period 2 is phase 2 (later high periods: a third phase)."""

    def __init__(self):
        self.phases = []  # [(start_us from t0, length_us)] per phase of the last sequence
        self.load_ohm = 1000  # the electrode-skin load (resistive here)
        self.held_mv = -1
        self.held_ua = -1
        self.t0 = 0
        self.sequences = 0

    def sequence(self, rmt):
        for u in PCNT.units.values():
            u._latch()
        t = 0
        level = rmt.start_level
        ph = []
        for d in rmt.delivered:
            if level:
                ph.append([t, d])
            t += d
            level ^= 1
        self.phases = ph
        self.t0 = rmt.t0
        self.sequences += 1
        self._hold()

    def _hold(self):
        # the track-and-hold at the end of phase 1: the current the PWM reference sets
        # (constant current up to the 150 V compliance) into a resistive load
        pwm = _pwms.get(WIRING.get("amplitude"))
        if pwm is None:
            return
        ua = pwm.duty_u16() * 100000 // 65536
        mv = ua * self.load_ohm // 1000
        if mv > 150000:
            mv = 150000
            ua = 150000 * 1000 // self.load_ohm
        self.held_mv = mv
        self.held_ua = ua
        for a in _adcs:
            if a.pin.id == WIRING.get("sense_v"):
                a.uv = mv * 1000 // 101
            elif a.pin.id == WIRING.get("sense_i"):
                a.uv = ua * 20 * 10

    def cut(self, at_us):
        for p in self.phases:
            if p[0] + p[1] > at_us:
                p[1] = max(0, at_us - p[0])

    def high_us(self, phase):
        """How long phase ``phase`` (0, 1) has been high so far on the clock."""
        if phase >= len(self.phases):
            return 0
        s, d = self.phases[phase]
        now = vclock.ticks_diff(vclock.ticks_us(), self.t0)
        if now <= s:
            return 0
        return min(d, now - s)


FRONT_END = FrontEnd()


class PCNT:
    INCREMENT = 1
    IGNORE = 0
    NORMAL = 0
    REVERSE = 1
    DECREMENT = 2
    HOLD = 2
    units = {}

    def __new__(cls, id, **kwargs):
        u = cls.units.get(id)
        if u is None:
            u = object.__new__(cls)
            u.id = id
            u.phase = -1
            u.acc = 0  # counted in earlier sequences since the last value(0)
            u.off = 0  # of the running sequence, counted before the last value(0)
            u.running = False
            cls.units[id] = u
        return u

    def __init__(self, id, **kwargs):
        if kwargs:
            self.init(**kwargs)

    def init(self, **kwargs):
        src = kwargs.get("pin")
        if isinstance(src, DrdyLine):
            if kwargs.get("falling") != PCNT.INCREMENT or kwargs.get("rising", 0) != 0:
                raise ValueError("the DRDY counter counts falling edges only")
            self.drdy = src
            self.max = kwargs.get("max", 0) or 32767
            self.base = src.edges()
            self.running = False
            return
        mp = kwargs.get("mode_pin")
        if mp is not None:
            # the board wires phase k's sense line to this pin (SENSE_PINS)
            self.phase = SENSE_PINS.index(mp.id) if mp.id in SENSE_PINS else -1
            if kwargs.get("mode_low") != PCNT.HOLD or kwargs.get("rising") != PCNT.INCREMENT:
                raise ValueError("this model counts the reference's rising edges while the mode pin is high")
        if "value" in kwargs:
            self.value(kwargs["value"])

    def _live(self):
        return FRONT_END.high_us(self.phase) if self.running and self.phase >= 0 else 0

    def _latch(self):
        # called before a new sequence replaces the old one: what the old one delivered stays
        self.acc += self._live() - self.off
        self.off = 0

    def value(self, v=None):
        d = getattr(self, "drdy", None)
        if d is not None:
            n = (d.edges() - self.base) % self.max if self.running else 0
            if v is not None:
                if v != 0:
                    raise ValueError("only 0 may be written")
                self.base = d.edges()
            return n
        n = self.acc + self._live() - self.off
        if v is not None:
            self.acc = v
            self.off = self._live()
        return n

    def start(self):
        self.running = True

    def stop(self):
        self.running = False

    def deinit(self):
        pass


SENSE_PINS = ()  # the phases' sense-line pins (phase 1, phase 2), set by install()


class _Mod:
    pass


def install(sense_pins, amplitude=None, sense_v=None, sense_i=None):
    """Install the fakes as `machine` and `esp32`; ``sense_pins``: the GPIOs the board
    wires to the phase-1 and phase-2 sense lines; ``amplitude``, ``sense_v``,
    ``sense_i``: the amplitude PWM pin and the track-and-hold ADC pins."""
    global SENSE_PINS
    SENSE_PINS = tuple(sense_pins)
    WIRING["amplitude"] = amplitude
    WIRING["sense_v"] = sense_v
    WIRING["sense_i"] = sense_i
    m = _Mod()
    m.Pin = Pin
    m.PWM = PWM
    m.ADC = ADC
    e = _Mod()
    e.RMT = RMT
    e.PCNT = PCNT
    sys.modules["machine"] = m
    sys.modules["esp32"] = e
