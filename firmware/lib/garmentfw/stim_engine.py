# The pulse scheduler: per channel a frequency, a phase width and a target amplitude;
# tick() (every loop pass, device clock time.ticks_us) emits each due pulse through the
# HAL stimulator driver, after the supervisor's impedance check and final gate.
#
# (5) Every pulse is biphasic and charge-balanced: the driver API is
#     pulse(ch, amplitude_ua, width_us, interphase_us) - two equal and opposite phases
#     separated by the interphase gap; there is no way to ask for anything else.
# (6) The amplitude rises no faster than the slew: each pulse may exceed the previous
#     one by at most slew * (time since the previous pulse) (a start counts as a pulse
#     at 0 uA, so every start ramps from zero); a decrease takes effect at the next
#     pulse and a stop (target 0) at once (no further pulse, driver.off(ch)).
# Pulses on different channels never overlap electrically: a pulse waits until the
# previous one (2 x width + interphase + PULSE_GUARD_US) is over.
# (11) Channels at one frequency fire in one burst per period: a channel that starts
# joins the next pulse time of an active channel with the same period, and the pulses
# of a burst follow each other back to back: a pulse due while the previous one still
# runs is handed to the driver at once with a start delay (the previous pulse's end plus
# the guard), which the pulse peripheral times (M5: the loop never waits for a pulse);
# a delay longer than one slot (MAX_SLOT_US + settle_us) is never asked for (that
# pulse waits for a later pass). So one blank window covers the burst's artefacts and
# M-waves and the EMG between bursts stays readable (limits.check_timing refuses timing
# where it would not).
# Every delivered pulse is recorded (t_us, ch, amplitude, width, interphase) in a
# preallocated ring that pulse_report sends as R_PULSES, and registered with the
# Blanker (11). Per-pulse work allocates nothing.
#
# HAL stimulator driver contract (boards/sim_stim.py, boards/esp32s3_stim.py):
#   n_channels                       stimulation channels (1..8)
#   enable()                         output-enable on (called when armed)
#   all_off()                        every channel off and output-enable low, now
#   off(ch)                          that channel off now
#   pulse(ch, ua, width_us, ip_us, delay_us)
#                                    one biphasic, charge-balanced pulse -> bool delivered
#                                    (False: the output is off, e.g. the E-stop interlock),
#                                    its lead-in (settle_us) starting delay_us after the call
#                                    (0..max_delay_us), timed by the peripheral:
#                                    the call returns at once; the driver holds one such
#                                    pulse per channel while other channels' pulses run, and
#                                    off(ch) / all_off() cancel a pulse not yet started
#   load_mv(ch) -> int               electrode voltage at the end of the last pulse's first
#                                    phase, mV (-1: no reading: none since enable, or lost)
#   load_ua(ch) -> int               current through the sense resistor at that instant, uA
#                                    (below the setpoint: the source hit its compliance)
#   min_width_us                     the shortest phase the driver measures (narrower
#                                    widths are refused)
#   programmed_ua(ch) -> int         (optional) the amplitude the last pulse on ch was really
#                                    programmed with (the output stage's resolution: the
#                                    ESP32-S3's 10-bit LEDC reference sets ~98 uA steps);
#                                    the electrode check compares the sensed current with it
#   max_delay_us (optional, default 0) the longest delay_us its peripheral times (the
#                                    engine asks at most min(this, MAX_SLOT_US + settle_us))
#   settle_us (optional, default 0)  how long a pulse holds the output stage before its
#                                    phase 1 (a peripheral's programmed lead-in): counted
#                                    in the slot between pulses and in limits.check_timing
#   estop_pressed() -> bool          the E-stop contact opened since the last call (latched
#                                    until read; the hardware interlock cut the output)
#   estop_active() -> bool           the contact is open now (held, or its wire broken)
import time
from array import array

from micropython import const

from garmentfw import limits as L
from garmentfw import wire

FIRST_PULSE_US = const(10000)  # a start's first pulse comes min(period, this) after it
_MASK = const(0x3FFFFFFF)  # wire.COUNTER_MOD - 1
_HALF = const(0x20000000)
_NCH = const(8)


def _tadd(t, d):
    # time.ticks_add for tick values kept in int arrays (the stubs type ticks opaquely)
    return time.ticks_add(t, d)


def counter_diff(a: int, b: int) -> int:
    """a - b for indices modulo COUNTER_MOD, in -2**29 .. 2**29 - 1."""
    d = (a - b) & _MASK
    if d >= _HALF:
        d = d - _HALF - _HALF  # not "- (_MASK + 1)": 2**30 is a big int on 32-bit ports
    return d


class Blanker:
    """(11) Blank windows after pulses, mapped from the device clock to AFE sample indices,
    applied to raw blocks (before filtering) by FilterBank.blank().

    The mapping: anchor(now_us, index, fs) records that sample ``index`` was the newest
    conversion at ``now_us`` (artefact_stage calls it at the first block of every loop
    pass, with the ring's newest conversion then); a pulse at t_us then falls at
    index + (t_us - now_us) * fs.
    The window starts one sample early and ends 4 samples late (one for the anchor's
    conversion-to-read delay, the rest for rounding). Overlapping windows merge."""

    def __init__(self, capacity: int = 32):
        self.cap = capacity
        self.ws = array("i", bytes(4 * capacity))
        self.we = array("i", bytes(4 * capacity))
        self.head = 0
        self.count = 0
        self.have = False
        self.a_us = 0
        self.a_idx = 0
        self.fs10 = 200  # fs // 10 (every allowed fs is a multiple of 10)
        self.windows = 0  # windows added (diagnostics)
        # the artefacts alone (pulse + amplifier recovery), for the EMG checks (mark())
        self.as_ = array("i", bytes(4 * capacity))
        self.ae = array("i", bytes(4 * capacity))
        self.a_head = 0
        self.a_count = 0
        self.evoked = None  # an EvokedWindow told of every pulse (it finds the bursts)

    def reset(self) -> None:
        self.count = 0
        self.a_count = 0
        self.have = False

    def anchor(self, now_us, index: int, fs: int) -> None:
        self.a_us = now_us
        self.a_idx = index
        self.fs10 = fs // 10
        self.have = True

    def index_at(self, t_us) -> int:
        """The AFE index of the newest conversion at t_us (estimate)."""
        dt = time.ticks_diff(t_us, self.a_us)
        return (self.a_idx + dt * self.fs10 // 100000) & _MASK

    def add(self, t_us, dur_us: int, art_us: int = 0) -> None:
        """Blank [t_us, t_us + dur_us) (pulse + blank window); the first art_us of it
        are the artefact itself (for mark()). Allocation-free."""
        if not self.have:
            return
        dt = time.ticks_diff(t_us, self.a_us)
        if dt > 2000000 or dt < -2000000:
            return  # no samples for seconds: the supervisor's stall check has it
        s = (self.a_idx + dt * self.fs10 // 100000 - 1) & _MASK
        e = (s + dur_us * self.fs10 // 100000 + 5) & _MASK
        if art_us > 0:
            self._add_art(s, (s + art_us * self.fs10 // 100000 + 5) & _MASK)
        self.windows += 1
        ev = self.evoked
        if ev is not None:
            ev.pulse(s)
        c = self.count
        if c:
            last = self.head + c - 1
            if last >= self.cap:
                last -= self.cap
            if counter_diff(s, self.we[last]) <= 0 or c == self.cap:
                if counter_diff(e, self.we[last]) > 0:
                    self.we[last] = e
                return
        i = self.head + c
        if i >= self.cap:
            i -= self.cap
        self.ws[i] = s
        self.we[i] = e
        self.count = c + 1

    def _add_art(self, s: int, e: int) -> None:
        c = self.a_count
        if c:
            last = self.a_head + c - 1
            if last >= self.cap:
                last -= self.cap
            if counter_diff(s, self.ae[last]) <= 0 or c == self.cap:
                if counter_diff(e, self.ae[last]) > 0:
                    self.ae[last] = e
                return
        i = self.a_head + c
        if i >= self.cap:
            i -= self.cap
        self.as_[i] = s
        self.ae[i] = e
        self.a_count = c + 1

    def mark(self, n: int, first: int, flags) -> None:
        """flags[k] = 1 for the samples first+k (k < n) that carry a pulse's artefact
        (the pulse and the amplifier's recovery, not the whole blank window: the EMG
        checks look at everything else), else 0. Spans before this block are dropped.
        Allocation-free."""
        for k in range(n):
            flags[k] = 0
        while self.a_count:
            i = self.a_head
            s = counter_diff(self.as_[i], first)
            e = counter_diff(self.ae[i], first)
            if s >= n:
                return
            if e > 0:
                if s < 0:
                    s = 0
                end = e if e < n else n
                for k in range(s, end):
                    flags[k] = 1
                if e > n:
                    return
            i += 1
            if i == self.cap:
                i = 0
            self.a_head = i
            self.a_count -= 1

    def apply(self, block, n: int, first: int, fb, ch_mask: int) -> None:
        """Blank the windows that fall in this raw block (samples first..first+n-1)."""
        while self.count:
            i = self.head
            s = counter_diff(self.ws[i], first)
            e = counter_diff(self.we[i], first)
            if e > 0:
                if s >= n:
                    return
                fb.blank(block, n, ch_mask, s, e - s)
                if e > n:
                    return  # continues in the next block (start 0 there)
            i += 1
            if i == self.cap:
                i = 0
            self.head = i
            self.count -= 1


class StimEngine:
    def __init__(self, driver, n_channels: int, gate, clock_us=None, capacity: int = 64):
        """gate: the Supervisor (check_electrode, allowed, pulse_refused, record_pulse)."""
        self.drv = driver
        self.n = n_channels
        self.gate = gate
        self.clock = clock_us or time.ticks_us
        self.blanker = None
        self.target = array("i", bytes(4 * _NCH))
        self.amp = array("i", bytes(4 * _NCH))  # amplitude of the last pulse (0 = stopped)
        self.width = array("i", bytes(4 * _NCH))
        self.period = array("i", bytes(4 * _NCH))
        # raw tick values: lists of small ints (a port's ticks may exceed 32 bits, e.g.
        # the unix port's 2**62 period); storing into a list allocates nothing
        self.due = [0] * _NCH
        self.last_t = [0] * _NCH
        # amplitude the last delivered pulse was programmed with (0: none since the start):
        # the setpoint, or what the driver's output stage really set (programmed_ua)
        self.last_a = array("i", bytes(4 * _NCH))
        self._programmed = getattr(driver, "programmed_ua", None)
        self.prev_t = [0] * _NCH  # when each channel last pulsed (across stops and restarts)
        self._pulsed = 0  # channels with a prev_t
        self.active_mask = 0
        self.slew_hi = 20  # slew // 1000: uA per ms
        self.slew_lo = 0  # slew % 1000
        self.blank_us = L.Limits().blank_us
        self.evoked_us = 0  # the measured length of the muscles' answer (EvokedWindow)
        self._busy_until = 0
        self._busy = False
        # a pulse peripheral's lead-in before phase 1 (the amplitude settling, e.g. the
        # ESP32-S3's RMT sequence): the output stage is held that much longer per pulse
        self.settle_us = getattr(driver, "settle_us", 0)
        # the longest start delay asked of the driver: one slot (a longer wait is a later
        # pass), and no more than its peripheral times (max_delay_us; 0: none, every pulse
        # of a burst waits for the pass after the last one ended)
        md = L.MAX_SLOT_US + self.settle_us
        dm = getattr(driver, "max_delay_us", 0)
        self.max_delay_us = dm if dm < md else md
        self._stale_us = 4 * md
        # delivered pulses waiting for R_PULSES
        self.cap = capacity
        self.r_t = array("i", bytes(4 * capacity))
        self.r_ch = array("i", bytes(4 * capacity))
        self.r_amp = array("i", bytes(4 * capacity))
        self.r_w = array("i", bytes(4 * capacity))
        self.r_head = 0
        self.r_count = 0
        self.lost = 0
        self.total = 0

    # ---- configuration (request path) ----------------------------------------------
    def set_slew(self, slew_ua_per_s: int) -> None:
        self.slew_hi = slew_ua_per_s // 1000
        self.slew_lo = slew_ua_per_s % 1000

    def set_blank(self, blank_us: int) -> None:
        self.blank_us = blank_us

    def configure(self, ch: int, width_us: int, freq_hz: int) -> None:
        """Pulse width and frequency of a channel (checked by the caller against limits)."""
        self.width[ch] = width_us
        self.period[ch] = 1000000 // freq_hz
        self.gate.train(ch, width_us, freq_hz)  # the last gate checks pulses against it

    def set_target(self, ch: int, amplitude_ua: int, now_us) -> None:
        """Target amplitude of a channel: 0 stops it now; lower takes effect at the next
        pulse; higher is reached at the slew rate; a start ramps from zero."""
        if amplitude_ua <= 0:
            if self.active_mask >> ch & 1 or self.target[ch]:
                self.zero(ch)
            return
        bit = 1 << ch
        if not self.active_mask & bit:
            self.amp[ch] = 0
            self.last_a[ch] = 0
            self.last_t[ch] = now_us
            p = self.period[ch]
            due = time.ticks_add(now_us, p if p < FIRST_PULSE_US else FIRST_PULSE_US)
            for k in range(self.n):  # join the burst of a running channel at this frequency
                if self.active_mask >> k & 1 and self.period[k] == p:
                    due = self.due[k]
                    break
            age = time.ticks_diff(now_us, self.prev_t[ch])
            if self._pulsed & bit and -self._stale_us < age < p:
                # never sooner than one period after this channel's previous pulse (a new
                # train right after the old one; that pulse may still wait out its start
                # delay): the burst after, or a period after it (older, or a wrap apart:
                # long ago, no bound; that pushed a first pulse to 100 us after the start)
                earliest = _tadd(self.prev_t[ch], p)
                while time.ticks_diff(due, earliest) < 0:
                    due = time.ticks_add(due, p)
            self.due[ch] = due
            # (1)(6) the ramp from 0 uA starts one first-pulse interval before the first
            # pulse, however long that pulse waits (a period after the old train's last)
            q = p if p < FIRST_PULSE_US else FIRST_PULSE_US
            ramp_t = time.ticks_add(due, -q)
            if time.ticks_diff(ramp_t, now_us) > 0:
                self.last_t[ch] = ramp_t
            self.active_mask |= bit
        elif self.amp[ch] > amplitude_ua:
            self.amp[ch] = amplitude_ua
        self.target[ch] = amplitude_ua

    def zero(self, ch: int) -> None:
        self.target[ch] = 0
        self.amp[ch] = 0
        self.last_a[ch] = 0
        self.active_mask &= ~(1 << ch)
        self.drv.off(ch)

    def zero_all(self) -> None:
        for ch in range(_NCH):
            self.target[ch] = 0
            self.amp[ch] = 0
            self.last_a[ch] = 0
        self.active_mask = 0
        self.drv.all_off()

    # ---- the per-pulse path (no allocation) ----------------------------------------
    def tick(self, now_us) -> int:
        """Emit every pulse due at now_us; returns how many."""
        if not self.active_mask:
            return 0
        drv = self.drv
        gate = self.gate
        emitted = 0
        for ch in range(self.n):
            if not self.active_mask >> ch & 1:
                continue
            if time.ticks_diff(now_us, self.due[ch]) < 0:
                continue
            if self._busy and self._delay(now_us) > self.max_delay_us:
                continue  # more than a slot ahead: a later pass asks for it
            tgt = self.target[ch]
            a = self.amp[ch]
            if a < tgt:
                dt = time.ticks_diff(now_us, self.last_t[ch])
                if dt > 1000000:
                    dt = 1000000
                # slew * dt / 1e6 rounded down, in two halves that stay below 2**30
                a += self.slew_hi * dt // 1000 + self.slew_lo * dt // 1000000
                if a > tgt:
                    a = tgt
            else:
                a = tgt
            p = self.period[ch]
            if a <= 0:
                self.due[ch] = time.ticks_add(now_us, p)
                continue
            w = self.width[ch]
            la = self.last_a[ch]
            if la and not gate.check_electrode(ch, a, la, drv.load_mv(ch), drv.load_ua(ch)):
                continue  # the supervisor zeroed the channel
            if not gate.allowed(ch, a, w, p):
                return emitted  # the supervisor zeroed everything
            now_us = self.clock()  # the pulse's own time: the pass may have been held up since it began
            # the previous pulse still runs: the peripheral starts this one after its end
            # and the guard (never overlapping; never waited for here)
            delay = self._delay(now_us) if self._busy else 0
            if delay > self.max_delay_us:
                continue
            if not drv.pulse(ch, a, w, L.INTERPHASE_US, delay):
                gate.pulse_refused(ch)  # not delivered: not counted, reported or dosed
                return emitted
            now_us = _tadd(now_us, delay)  # the pulse's real start (its lead-in)
            self.amp[ch] = a
            prog = self._programmed
            self.last_a[ch] = prog(ch) if prog is not None else a
            self.prev_t[ch] = now_us
            self._pulsed |= 1 << ch
            self.last_t[ch] = now_us
            d = _tadd(self.due[ch], p)
            if time.ticks_diff(now_us, d) >= 0:
                d = time.ticks_add(now_us, p)  # more than a period late: no burst to catch up
            elif time.ticks_diff(d, now_us) < p - (p >> 2):
                # late by more than a quarter period: the next pulse keeps the bursts' phase
                # only as far as the train's frequency allows (never sooner than 3/4 period)
                d = time.ticks_add(now_us, p - (p >> 2))
            self.due[ch] = d
            t_p = _tadd(now_us, self.settle_us)  # phase 1 starts after the driver's settle
            self._record(t_p, ch, a, w)
            gate.record_pulse(a, w)
            dur = 2 * w + L.INTERPHASE_US
            bl = self.blanker
            if bl is not None:
                b = self.blank_us
                if self.evoked_us > b:
                    b = self.evoked_us  # a tired muscle answers longer: the window grows
                bl.add(t_p, dur + b, dur + L.HARD_MIN_BLANK_US)
            emitted += 1
            self._busy = True
            self._busy_until = time.ticks_add(now_us, self.settle_us + dur + L.PULSE_GUARD_US)
        return emitted

    def _delay(self, now_us) -> int:
        """How long until the output stage is free (0: it is); the stage's end is at most
        two slots ahead (a delay and a slot), so a farther one is stale (ticks a wrap
        apart): free."""
        d = time.ticks_diff(self._busy_until, now_us)
        if d <= 0 or d > self._stale_us:
            self._busy = False
            return 0
        return d

    def _record(self, t: int, ch: int, a: int, w: int) -> None:
        self.total += 1
        c = self.r_count
        if c == self.cap:
            self.lost += 1
            return
        i = self.r_head + c
        if i >= self.cap:
            i -= self.cap
        self.r_t[i] = t & _MASK
        self.r_ch[i] = ch
        self.r_amp[i] = a
        self.r_w[i] = w
        self.r_count = c + 1

    def pending(self) -> int:
        return self.r_count

    def oldest_us(self) -> int:
        """Device time of the oldest unsent pulse, modulo COUNTER_MOD (as reported)."""
        return self.r_t[self.r_head]

    def oldest_age_us(self, now_us) -> int:
        """How long the oldest unsent pulse has waited (no allocation)."""
        return counter_diff(now_us & _MASK, self.r_t[self.r_head])

    def take_into(self, pkt, off: int, max_n: int) -> int:
        """Move up to max_n recorded pulses into pkt at off as wire.PULSE_FMT records."""
        n = self.r_count if self.r_count < max_n else max_n
        i = self.r_head
        for k in range(n):
            wire_pack_pulse(pkt, off + k * wire.PULSE_LEN, self.r_t[i], self.r_ch[i], self.r_amp[i], self.r_w[i], L.INTERPHASE_US)
            i += 1
            if i == self.cap:
                i = 0
        self.r_head = i
        self.r_count -= n
        return n


def wire_pack_pulse(buf, off: int, t_us, ch: int, amplitude_ua: int, width_us: int, interphase_us: int) -> None:
    """One wire.PULSE_FMT ("<IBIHH") record, byte by byte (no allocation)."""
    buf[off] = t_us & 0xFF
    buf[off + 1] = (t_us >> 8) & 0xFF
    buf[off + 2] = (t_us >> 16) & 0xFF
    buf[off + 3] = (t_us >> 24) & 0xFF
    buf[off + 4] = ch
    buf[off + 5] = amplitude_ua & 0xFF
    buf[off + 6] = (amplitude_ua >> 8) & 0xFF
    buf[off + 7] = (amplitude_ua >> 16) & 0xFF
    buf[off + 8] = (amplitude_ua >> 24) & 0xFF
    buf[off + 9] = width_us & 0xFF
    buf[off + 10] = width_us >> 8
    buf[off + 11] = interphase_us & 0xFF
    buf[off + 12] = interphase_us >> 8
