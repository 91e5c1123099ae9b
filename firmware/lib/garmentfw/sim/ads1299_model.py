# Register-level model of the TI ADS1299 behind the SPI / Pin interface the real driver
# uses, for the sim board on the unix port and for driver tests. Modelled (SBAS499C):
# - register file with reset defaults; ID, LOFF_STATP/N and CONFIG3.BIAS_STAT are
#   read-only; writes that break reserved bits are counted (`reserved_violations`);
# - opcodes WAKEUP, STANDBY, RESET, START, STOP, RDATAC, SDATAC, RDATA, RREG, WREG,
#   decoded byte by byte while CS is low; CS high resets the interface and the chip
#   ignores SCLK; in RDATAC (the mode after power-up and reset) RREG/WREG/RDATA are
#   ignored, so a driver that skips SDATAC reads junk and its writes are lost;
# - timing: no command is accepted for tPOR = 2^18 tCLK (128 ms) after power-up
#   (PWDN high) nor 18 tCLK (9 us) after a reset; the RESET pin must be low >= 2 tCLK;
#   conversions run while the START pin is high or after the START opcode, one every
#   1/fs = 128 * 2^DR tCLK (CONFIG1 DR; 250..16k SPS at fCLK = 2.048 MHz), on the
#   injectable clock (ticks_us semantics). fCLK is the chip's clock (`fclk_hz`): the
#   internal 2.048 MHz oscillator, or an external clock within the datasheet's tCLK
#   444..666 ns (1.5..2.25 MHz; e.g. 2.097152 MHz for 256..16384 SPS). A START edge /
#   opcode or a new CONFIG1 restarts the conversion phase. The first conversion is
#   modelled after one period (the real chip's settling time ~4 periods is not);
# - data: each conversion takes the next 8-channel input sample (nanovolts at the
#   electrodes, see feed()) and converts it exactly: code = round(nv * gain * 2^23 / 4.5e9),
#   clipped to 0x7FFFFF / -0x800000. Empty input FIFO -> a small deterministic noise
#   floor (+-4 codes) and `underruns` counts it. Powered-down channels read 0, MUX
#   "shorted" (and other internal MUX inputs) read the noise floor, MUX "test" with
#   INT_CAL reads the internal +-1.875 mV (x2 with CAL_AMP) square wave at
#   fCLK/2^21 or fCLK/2^20 (DC for CAL_FREQ=11). SRB1/SRB2/bias routing do not change
#   the data (the fed value is the channel's differential input);
# - lead-off: set_lead_off(ch, p, n) is the electrode state; LOFF_STATP/N (registers and
#   status bytes) show it where LOFF_SENSP/N select the electrode and CONFIG4
#   PD_LOFF_COMP powers the comparators. With DC lead-off (FLEAD_OFF=00) the excitation
#   current drives an open, sensed electrode's channel to the positive rail (negative
#   with LOFF_FLIP), as on the real chip;
# - DRDY low while a conversion is unread; reading a frame (first SCLK of its first
#   byte) takes it. Output FIFO `depth` (1 = the real chip: a new conversion overwrites
#   an unread one); with more pending than `depth` the oldest are lost, `overruns`
#   counts them. DAISY_EN'=0: bytes past the frame read 0 (DAISY_IN low); =1 repeats.
# - conversion clock: by default conversions complete when the model's clock says they
#   are due, whenever the chip is accessed (the unix sim); drive() hands it to a hardware
#   timer's interrupt instead (the qemu board's afeclock): each tick(n) completes n
#   conversions and runs DRDY's handler once, on the last, so a handler later than one
#   period loses the ones before (overwritten, counted), as on the real chip. The loop's
#   own accesses to the model (feeding its input, SPI transactions, pins) then mask that
#   interrupt (drive()'s hold/release pair) so the chip's state is never half-updated under it.
# The per-conversion path (_run, tick) and frame reads are viper and allocation-free;
# all viper intermediates fit in 32 bits.
import time
from array import array
from time import ticks_diff

import micropython
from micropython import const

NREG = const(0x18)
FRAME = const(27)
NCH = const(8)

# Opcodes (same values as the driver's).
_WAKEUP = const(0x02)
_STANDBY = const(0x04)
_RESET = const(0x06)
_START = const(0x08)
_STOP = const(0x0A)
_RDATAC = const(0x10)
_SDATAC = const(0x11)
_RDATA = const(0x12)

# Registers used by the model.
_ID = const(0x00)
_CONFIG1 = const(0x01)
_CONFIG2 = const(0x02)
_CONFIG3 = const(0x03)
_LOFF = const(0x04)
_CH1SET = const(0x05)
_LOFF_SENSP = const(0x0F)
_LOFF_SENSN = const(0x10)
_LOFF_FLIP = const(0x11)
_LOFF_STATP = const(0x12)
_LOFF_STATN = const(0x13)
_GPIO = const(0x14)
_CONFIG4 = const(0x17)

_DEFAULTS = b"\x3e\x96\xc0\x60\x00" + b"\x61" * 8 + b"\x00\x00\x00\x00\x00\x00\x00\x0f\x00\x00\x00"
# Bits each register must keep (mask, value), from the register descriptions.
_RES_MASK = b"\x00\x98\xe8\x60\x10" + b"\x00" * 8 + b"\x00" * 7 + b"\x00\xdf\xff\xf5"
_RES_VAL = b"\x00\x90\xc0\x60\x00" + b"\x00" * 8 + b"\x00" * 7 + b"\x00\x00\x00\x00"

_GAINS = (1, 2, 4, 6, 8, 12, 24)
# Largest |nV| worth converting per gain (just past the rail; keeps viper in 32 bits).
_LIM = (0x7FFFFFFF, 0x7FFFFFFF, 1125001000, 750001000, 562501000, 375001000, 187501000)
_K = const(17578125)  # 4.5e9 nV / 2^8: code = nv * gain * 2^15 / _K

_T_POR_US = const(128_000)  # 2^18 tCLK at 2.048 MHz

FCLK_HZ = const(2_048_000)  # the internal oscillator (CLKSEL = 1)
FCLK_MIN_HZ = const(1_501_502)  # tCLK <= 666 ns
FCLK_MAX_HZ = const(2_252_252)  # tCLK >= 444 ns
_T_RESET_US = const(9)  # 18 tCLK
_T_RST_LOW_US = const(1)  # 2 tCLK

# Channel modes in _par[0:8].
_M_ZERO = const(0)
_M_INPUT = const(1)
_M_NOISE = const(2)
_M_TEST = const(3)
_M_RAILP = const(4)
_M_RAILN = const(5)
# _par layout: mode[8], gain[8], lim[8], test code[8].

# State words shared by Python and viper (all non-negative).
_S_RD = const(0)  # input FIFO read index (samples)
_S_CNT = const(1)  # input samples queued
_S_CAP = const(2)  # input capacity (samples)
_S_OW = const(3)  # output slot to write
_S_OR = const(4)  # output slot to read
_S_PEND = const(5)  # conversions ready, unread
_S_DEPTH = const(6)
_S_SEED = const(7)  # noise LCG state (16 bits)
_S_STATUS = const(8)  # 24-bit status word
_S_TSHIFT = const(9)  # test square half period = 2^TSHIFT conversions; 0 = DC
_S_CONV = const(10)  # conversions since START (test-signal phase)
_S_OVR = const(11)
_S_UND = const(12)
_S_N = const(13)  # in: conversions to process
_S_LEN = const(14)

# Serial-interface parser states.
_P_IDLE = const(0)
_P_RREG_N = const(1)
_P_RREG_D = const(2)
_P_WREG_N = const(3)
_P_WREG_D = const(4)
_P_RDATA = const(5)

# Pin kinds.
_PIN_CS = const(0)
_PIN_DRDY = const(1)
_PIN_RESET = const(2)
_PIN_START = const(3)
_PIN_PWDN = const(4)


@micropython.viper
def _run(inp, out, par, st):
    # Process st[_S_N] completed conversions: consume input, pack frames, account losses.
    s = ptr32(st)
    p = ptr32(par)
    src = ptr16(inp)  # int32 samples read as 16-bit halves: sign-correct on 32 and 64 bit
    dst = ptr8(out)
    n = int(s[_S_N])
    depth = int(s[_S_DEPTH])
    cap = int(s[_S_CAP])
    rd = int(s[_S_RD])
    cnt = int(s[_S_CNT])
    ow = int(s[_S_OW])
    orr = int(s[_S_OR])
    pend = int(s[_S_PEND])
    seed = int(s[_S_SEED])
    status = int(s[_S_STATUS])
    tshift = int(s[_S_TSHIFT])
    conv = int(s[_S_CONV])
    ovr = int(s[_S_OVR])
    und = int(s[_S_UND])
    if n > depth:
        # Overwritten before anyone could read them: they only consume input.
        skip = n - depth
        take = skip if skip < cnt else cnt
        ovr += skip
        und += skip - take
        cnt -= take
        rd += take
        if rd >= cap:
            rd -= cap
        conv += skip
        n = depth
    while n > 0:
        if pend == depth:  # oldest unread conversion is overwritten
            orr += 1
            if orr == depth:
                orr = 0
            pend -= 1
            ovr += 1
        o = ow * 27
        dst[o] = (status >> 16) & 0xFF
        dst[o + 1] = (status >> 8) & 0xFF
        dst[o + 2] = status & 0xFF
        o += 3
        have = cnt > 0
        base = rd * 16
        conv += 1
        tneg = 0
        if tshift:
            tneg = (conv >> tshift) & 1
        ch = 0
        while ch < 8:
            mode = int(p[ch])
            seed = (seed * 25173 + 13849) & 0xFFFF
            code = ((seed >> 9) & 7) - 4
            if mode == 1 and have:
                lo = int(src[base + 2 * ch])
                hi = int(src[base + 2 * ch + 1])
                if hi & 0x8000:
                    hi -= 0x10000
                x = (hi << 16) | lo
                neg = 0
                if x < 0:
                    neg = 1
                    x = 0 - x
                lim = int(p[16 + ch])
                if x > lim or x < 0:  # x < 0: -2^31 on a 32-bit word
                    x = lim
                g = int(p[8 + ch])
                # x * g * 2^15 / _K, exact, in 32-bit steps: x*g = 4*x4 + r2.
                x4 = (x >> 2) * g + (((x & 3) * g) >> 2)
                r2 = ((x & 3) * g) & 3
                q = x4 // _K
                r = x4 - q * _K
                r = r << 6
                t = r // _K
                q = (q << 6) + t
                r = r - t * _K
                r = r << 6
                t = r // _K
                q = (q << 6) + t
                r = r - t * _K
                r = r << 5
                t = r // _K
                q = (q << 5) + t
                r = r - t * _K + (r2 << 15)
                if r >= _K:
                    q += 1
                    r -= _K
                if (r << 1) >= _K:  # round half away from zero
                    q += 1
                if neg:
                    if q > 0x800000:
                        q = 0x800000
                    code = 0 - q
                else:
                    if q > 0x7FFFFF:
                        q = 0x7FFFFF
                    code = q
            elif mode == 0:
                code = 0
            elif mode == 3:
                code = int(p[24 + ch])
                if tneg:
                    code = 0 - code
            elif mode == 4:
                code = 0x7FFFFF
            elif mode == 5:
                code = -0x800000
            dst[o] = (code >> 16) & 0xFF
            dst[o + 1] = (code >> 8) & 0xFF
            dst[o + 2] = code & 0xFF
            o += 3
            ch += 1
        if have:
            cnt -= 1
            rd += 1
            if rd == cap:
                rd = 0
        else:
            und += 1
        ow += 1
        if ow == depth:
            ow = 0
        pend += 1
        n -= 1
    s[_S_RD] = rd
    s[_S_CNT] = cnt
    s[_S_OW] = ow
    s[_S_OR] = orr
    s[_S_PEND] = pend
    s[_S_SEED] = seed
    s[_S_CONV] = conv
    s[_S_OVR] = ovr
    s[_S_UND] = und


@micropython.viper
def _copy(dst, src, soff: int, n: int):
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[i] = s[soff + i]
        i += 1


@micropython.viper
def _ring_in(ring, src, st, n: int) -> int:
    # Append n 8-channel samples to the input ring; returns how many fitted.
    s = ptr32(st)
    d = ptr32(ring)
    a = ptr32(src)
    cap = int(s[_S_CAP])
    cnt = int(s[_S_CNT])
    if n > cap - cnt:
        n = cap - cnt
    w = int(s[_S_RD]) + cnt
    if w >= cap:
        w -= cap
    i = 0
    j = 0
    while i < n:
        o = w * 8
        k = 0
        while k < 8:
            d[o + k] = a[j]
            j += 1
            k += 1
        w += 1
        if w == cap:
            w = 0
        i += 1
    s[_S_CNT] = cnt + n
    return n


@micropython.viper
def _ring_add(ring, src, st, k0: int, n: int) -> int:
    # Add n 8-channel samples onto the queued input samples k0..k0+n-1 (0 = the next
    # to be converted); samples not queued (already converted, or not fed yet) are
    # skipped. Returns how many were patched.
    s = ptr32(st)
    d = ptr32(ring)
    a = ptr32(src)
    cap = int(s[_S_CAP])
    cnt = int(s[_S_CNT])
    rd = int(s[_S_RD])
    done = 0
    i = 0
    while i < n:
        k = k0 + i
        if k >= 0 and k < cnt:
            w = rd + k
            if w >= cap:
                w -= cap
            o = w * 8
            j = i * 8
            c = 0
            while c < 8:
                d[o + c] = d[o + c] + a[j + c]
                c += 1
            done += 1
        i += 1
    return done


def _nop() -> None:
    pass


class _Pin:
    """machine.Pin-like line between the MCU and the model."""

    def __init__(self, chip, kind: int, level: int):
        self._chip = chip
        self._kind = kind
        self._level = level

    def value(self, v=None):
        if v is None:
            if self._kind == _PIN_DRDY:
                return self._chip._drdy_level()
            return self._level
        v = 1 if v else 0
        if self._kind != _PIN_DRDY and v != self._level:  # DRDY is the chip's output
            c = self._chip
            c._mask()
            self._level = v
            c._pin_edge(self._kind, v)
            c._unmask()

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=0, hard=False):
        """DRDY only: ``handler(pin)`` runs at each conversion's falling edge, as a hard
        IRQ would (the chip model's interrupt; see FakeADS1299._advance)."""
        if self._kind != _PIN_DRDY:
            raise ValueError("only DRDY raises an interrupt in this model")
        self._chip._drdy_irq = handler
        self._chip._tell_due()

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class _CsPin(_Pin):
    """Chip select: on the per-frame path, so it skips the generic edge dispatch."""

    def value(self, v=None):
        if v is None:
            return self._level
        if v:
            self.on()
        else:
            self.off()

    def on(self):
        c = self._chip
        self._level = 1
        c._cs_low = False
        c._pst = _P_IDLE  # CS high resets the serial interface

    def off(self):
        c = self._chip
        if self._level:
            self._level = 0
            c._selected()


class _SPI:
    """machine.SPI-like bus with the model as the only device."""

    def __init__(self, chip):
        self._c = chip

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def write(self, buf):
        c = self._c
        c._mask()
        i = 0
        n = len(buf)
        while i < n:
            c._xfer(buf[i])
            i += 1
        c._unmask()

    def readinto(self, buf, write=0):
        c = self._c
        n = len(buf)
        # Fast path: a whole-frame read in RDATAC, as the driver's read_frame does.
        if write == 0 and n <= FRAME and c._pos == 0 and c._rdatac and c._pst == _P_IDLE and c._cs_low and c._alive and not c._hold_us:
            c._advance()
            c._latch()
            _copy(buf, c._cur, 0, n)
            c._pos = n
            return
        c._mask()
        i = 0
        while i < n:
            buf[i] = c._xfer(write)
            i += 1
        c._unmask()

    def read(self, n, write=0):
        b = bytearray(n)
        self.readinto(b, write)
        return bytes(b)

    def write_readinto(self, wbuf, rbuf):
        c = self._c
        c._mask()
        i = 0
        n = len(wbuf)
        while i < n:
            rbuf[i] = c._xfer(wbuf[i])
            i += 1
        c._unmask()


class FakeADS1299:
    """An ADS1299 on a virtual SPI bus: use ``spi``, ``cs``, ``drdy``, ``reset_pin``,
    ``start_pin``, ``pwdn_pin`` with the real driver.

    clock: () -> microseconds with time.ticks_us semantics (default time.ticks_us).
    depth: output FIFO in conversions (1 = the real chip; more = an MCU DRDY ring).
    capacity: input FIFO in 8-channel samples (default 4096: 2 s at 2 kHz).
    fclk_hz: the master clock (tCLK 444..666 ns in the datasheet; ValueError outside).
    """

    def __init__(self, clock=None, depth: int = 1, capacity: int = 4096, chip_id: int = 0x3E,
                 fclk_hz: int = FCLK_HZ):
        if depth < 1 or capacity < 1:
            raise ValueError("depth and capacity must be >= 1")
        if not FCLK_MIN_HZ <= fclk_hz <= FCLK_MAX_HZ:
            raise ValueError("fCLK %d Hz outside the ADS1299's %d..%d Hz (tCLK 444..666 ns)" % (
                fclk_hz, FCLK_MIN_HZ, FCLK_MAX_HZ))
        self.fclk_hz = fclk_hz
        self._clock = clock or time.ticks_us
        self.chip_id = chip_id
        self.regs = bytearray(NREG)  # inspect only; the SPI bus is the way to change it
        self._in = array("i", bytes(4 * NCH * capacity))
        self._out = bytearray(FRAME * depth)
        self._cur = bytearray(FRAME)  # the frame being shifted out
        self._par = array("i", bytes(4 * 4 * NCH))
        self._st = array("i", bytes(4 * _S_LEN))
        st = self._st
        st[_S_CAP] = capacity
        st[_S_DEPTH] = depth
        st[_S_SEED] = 0x1299
        self._loff_p = 0
        self._loff_n = 0
        # Pins as the board wires them: CS idle high, RESET/PWDN high, START low.
        self.spi = _SPI(self)
        self.cs = _CsPin(self, _PIN_CS, 1)
        self.drdy = _Pin(self, _PIN_DRDY, 1)
        self.reset_pin = _Pin(self, _PIN_RESET, 1)
        self.start_pin = _Pin(self, _PIN_START, 0)
        self.pwdn_pin = _Pin(self, _PIN_PWDN, 1)
        self._cs_low = False
        self._alive = True
        self._rst_low_t = 0
        self._running = False
        self._start_cmd = False
        self._standby = False
        self._rdatac = True
        self._pst = _P_IDLE
        self._addr = 0
        self._cnt = 0
        self._pos = 0
        self._t_last = 0
        self._acc = 0  # microseconds x fs since the last conversion, < 1_000_000
        self._fs = fclk_hz // 128 >> 6  # CONFIG1 DR = 110 after reset
        self._conv_total = 0
        self._hold_t = 0
        self._hold_us = 0
        self._drdy_irq = None  # DRDY falling-edge handler (drdy.irq), or None: polled
        self._in_irq = False
        # report_due(): the sim's clock (sim/clock.py due_at) runs the interrupt on time
        self.on_due = None
        self._driven = False  # conversions on tick() (a timer interrupt), not on access
        self._mask = _nop  # mask / unmask that interrupt around the loop's accesses
        self._unmask = _nop
        # Daisy chain (sim/ads1299_chain.py): chips that share this chip's clock and START
        # convert when this one does (`_followers`); a follower never reads the clock.
        self._followers = ()  # type: tuple
        self._follows = False
        self.reset_counters()
        self._power_up()

    # -- test / sim interface ------------------------------------------------------

    def drive(self, hold, release) -> None:
        """Conversions complete on tick() from now on (a timer interrupt at the data rate:
        the chip's own clock), no longer when the model is accessed. ``hold()`` /
        ``release()`` mask / unmask that interrupt (nested) around the loop's accesses."""
        self._advance()  # what was due by the clock so far
        self._driven = True
        self._mask = hold
        self._unmask = release

    def tick(self, n: int) -> None:
        """The conversion clock's interrupt (driven mode): ``n`` conversions completed since
        the last tick; DRDY's handler runs once, on the newest (with n > 1 the older ones
        were overwritten unread: overruns, as on the chip). Allocation-free."""
        if not self._running or self._in_irq:
            return
        self._convert(n)
        irq = self._drdy_irq
        if irq is not None:
            self._in_irq = True
            irq(self.drdy)
            self._in_irq = False

    def reset_counters(self) -> None:
        st = self._st
        st[_S_OVR] = 0
        st[_S_UND] = 0
        self.ignored_busy = 0  # bytes clocked while CS high, in reset or before tPOR
        self.ignored_rdatac = 0  # RREG/WREG/RDATA sent in RDATAC mode
        self.ignored_ro = 0  # writes to read-only registers
        self.ignored_unknown = 0  # undefined opcodes
        self.reserved_violations = 0  # writes breaking reserved bits / reserved codes
        self.short_resets = 0  # RESET pulses shorter than 2 tCLK
        self.frames_read = 0
        self.feed_dropped = 0  # samples refused by feed() because the input FIFO was full

    def feed(self, nv, n_samples: int) -> int:
        """Queue n_samples interleaved 8-channel samples (array('i'), nV at the electrodes).

        Returns how many fitted; the rest are dropped and counted in ``feed_dropped``.
        """
        if n_samples * NCH > len(nv):
            raise ValueError("nv holds fewer than n_samples * 8 values")
        self._advance()  # conversions due so far take the input that was there before
        self._mask()
        took = _ring_in(self._in, nv, self._st, n_samples)
        self._unmask()
        self.feed_dropped += n_samples - took
        return took

    def add_input(self, first_index: int, nv, n_samples: int) -> int:
        """Add ``nv`` (interleaved 8-channel nanovolts) onto input samples not converted yet,
        the first being the one conversion ``first_index`` (since START) will take. A late
        correction of the electrode signal (e.g. an evoked response rendered after the
        samples were fed). Returns how many samples were still queued and got it."""
        self._advance()
        self._mask()
        done = int(_ring_add(self._in, nv, self._st, first_index - self._conv_total, n_samples))
        self._unmask()
        return done

    def queued(self) -> int:
        """Input samples waiting to be converted."""
        self._advance()
        return self._st[_S_CNT]

    def space(self) -> int:
        """Free input samples."""
        self._advance()
        st = self._st
        return st[_S_CAP] - st[_S_CNT]

    def clear_input(self) -> None:
        self._mask()
        st = self._st
        st[_S_CNT] = 0
        st[_S_RD] = 0
        self._unmask()

    def set_lead_off(self, ch: int, p: bool, n: bool) -> None:
        """Electrode state of channel ch (0-based): p / n True = that electrode is off."""
        self._advance()
        self._mask()
        bit = 1 << ch
        self._loff_p = (self._loff_p | bit) if p else (self._loff_p & ~bit)
        self._loff_n = (self._loff_n | bit) if n else (self._loff_n & ~bit)
        self._recompute()
        self._unmask()

    def report_due(self, fn) -> None:
        """``fn(t_us)`` is told the time (ticks_us) the next DRDY edge is due whenever it
        moves (-1: none due, or no interrupt handler)."""
        self.on_due = fn
        self._tell_due()

    def pending(self) -> int:
        """Conversions ready and unread (DRDY is low when > 0)."""
        self._advance()
        return self._st[_S_PEND]

    def conversions(self) -> int:
        """Conversions since START (the DRDY edge count an AFE-clocked counter sees)."""
        self._advance()
        return self._conv_total

    def next_index(self) -> int:
        """Index (since START) of the oldest unread conversion, read atomically."""
        self._advance()
        return self._conv_total - self._st[_S_PEND]

    @property
    def overruns(self) -> int:
        return self._st[_S_OVR]

    @property
    def underruns(self) -> int:
        return self._st[_S_UND]

    def fs(self) -> int:
        """Data rate from CONFIG1 DR."""
        return self._fs

    def running(self) -> bool:
        return self._running

    def rdatac(self) -> bool:
        return self._rdatac

    @staticmethod
    def nv_to_code(nv: int, gain: int) -> int:
        """Reference conversion: round(nv * gain * 2^23 / 4.5e9), clipped like the chip."""
        q = ((nv if nv >= 0 else -nv) * gain * 65536 + _K) // (2 * _K)
        if nv < 0:
            return -(q if q < 0x800000 else 0x800000)
        return q if q < 0x7FFFFF else 0x7FFFFF

    # -- chip internals ----------------------------------------------------------

    def _power_up(self) -> None:
        self._hold_us = 0
        self._reset()
        self._hold(_T_POR_US)

    def _hold(self, us: int) -> None:
        # Ignore commands for `us` from now, unless an earlier wait (tPOR) lasts longer.
        now = self._clock()
        if self._hold_us and self._hold_us - ticks_diff(now, self._hold_t) > us:
            return
        self._hold_t = now
        self._hold_us = us

    def _reset(self) -> None:
        self.regs[:] = _DEFAULTS
        self.regs[_ID] = self.chip_id
        self._rdatac = True
        self._start_cmd = False
        self._standby = False
        self._pst = _P_IDLE
        self._pos = 0
        st = self._st
        st[_S_PEND] = 0
        st[_S_OW] = 0
        st[_S_OR] = 0
        self._conv_total = 0
        self._recompute()
        self._running = False
        self._update_run(True)

    def _accepting(self) -> bool:
        if not self._alive:
            return False
        if self._hold_us:
            if ticks_diff(self._clock(), self._hold_t) < self._hold_us:
                return False
            self._hold_us = 0
        return True

    def _update_run(self, restart: bool = False) -> None:
        run = self._alive and not self._standby and (self.start_pin._level or self._start_cmd)
        if run and (restart or not self._running):
            # START edge/opcode: DRDY goes high, the conversion phase and counter restart.
            self._t_last = self._clock()
            self._acc = 0
            self._conv_total = 0
            st = self._st
            st[_S_CONV] = 0
            st[_S_PEND] = 0
            st[_S_OW] = 0
            st[_S_OR] = 0
        elif self._running and not run:
            self._advance()  # what converted before the stop stays readable
        self._running = bool(run)
        self._tell_due()

    def _tell_due(self) -> None:
        f = self.on_due
        if f is None:
            return
        if self._running and not self._follows and self._drdy_irq is not None:
            fs = self._fs
            f((self._t_last + (1_000_000 - self._acc + fs - 1) // fs) & 0x3FFFFFFF)
        else:
            f(-1)

    def _advance(self) -> None:
        # Complete the conversions the clock says are due. Allocation-free.
        if not self._running or self._in_irq or self._follows or self._driven:
            return
        now = self._clock()
        d = ticks_diff(now, self._t_last)
        if d <= 0:
            return
        self._t_last = now
        # Conversions due: floor(elapsed_us * fs / 1e6), in chunks that keep every
        # intermediate a small int on a 32-bit port (chunk * 16384 + 1e6 < 2**30).
        fs = self._fs
        acc = self._acc
        n = 0
        while d > 0:
            step = d if d < 32768 else 32768
            d -= step
            acc += step * fs
            k = acc // 1_000_000
            n += k
            acc -= k * 1_000_000
        self._acc = acc
        if n == 0:
            self._tell_due()
            return
        irq = self._drdy_irq
        if irq is None:
            self._convert(n)
            for f in self._followers:
                f._convert(n)  # the chain converts together (one CLK, one START)
            return
        # DRDY interrupt: each conversion completes on its own, then its falling edge runs
        # the handler before the next one can overwrite it, as a hard IRQ on the MCU does
        # (its latency, microseconds, is far below a conversion period). Time stands
        # still inside the handler (its own chip accesses do not advance the model).
        self._in_irq = True
        try:
            while n > 0:
                self._convert(1)
                for f in self._followers:
                    f._convert(1)  # the chain's conversion completes on every chip at once
                irq(self.drdy)
                n -= 1
        finally:
            self._in_irq = False
        self._tell_due()

    def _convert(self, n: int) -> None:
        # n conversions complete now.
        if not self._running:
            return
        self._conv_total += n
        st = self._st
        st[_S_N] = n
        _run(self._in, self._out, self._par, st)
        self._pos = 0  # the output shift register reloads on each conversion

    def _latch(self) -> None:
        # First SCLK of a frame read: take the oldest pending conversion (DRDY rises).
        st = self._st
        if st[_S_PEND]:
            o = st[_S_OR]
            _copy(self._cur, self._out, o * FRAME, FRAME)
            o += 1
            if o == st[_S_DEPTH]:
                o = 0
            st[_S_OR] = o
            st[_S_PEND] -= 1
            self.frames_read += 1

    def _selected(self) -> None:
        # CS fell: a fresh serial frame starts (the chain's CS selects every chip at once).
        self._cs_low = True
        self._pst = _P_IDLE
        self._pos = 0

    def _drdy_level(self) -> int:
        self._advance()
        return 0 if self._st[_S_PEND] else 1

    def _data_byte(self) -> int:
        p = self._pos
        if p == 0:
            self._advance()
            self._latch()
        self._pos = p + 1
        if p < FRAME:
            return self._cur[p]
        if self.regs[_CONFIG1] & 0x40:  # multiple readback: the frame repeats
            return self._cur[p % FRAME]
        return 0  # daisy-chain mode: DAISY_IN, tied low

    def _xfer(self, b: int) -> int:
        # One byte on the bus: b in on DIN, result out on DOUT.
        if not self._cs_low or not self._accepting():
            self.ignored_busy += 1
            return 0
        st = self._pst
        if st == _P_IDLE:
            out = self._data_byte() if self._rdatac else 0
            self._decode(b)
            return out
        if st == _P_RDATA:
            return self._data_byte()
        if st == _P_RREG_N or st == _P_WREG_N:
            self._cnt = (b & 0x1F) + 1
            self._pst = st + 1
            return 0
        a = self._addr
        self._addr = a + 1
        self._cnt -= 1
        if self._cnt == 0:
            self._pst = _P_IDLE
        if st == _P_RREG_D:
            return self.regs[a] if a < NREG else 0
        self._write_reg(a, b)
        return 0

    def _decode(self, b: int) -> None:
        if b == 0:
            return  # DIN low while data is clocked out
        if b == _SDATAC:
            self._rdatac = False
        elif b == _RDATAC:
            self._rdatac = True
            self._pos = 0
        elif b == _START:
            self._start_cmd = True
            self._update_run(True)
        elif b == _STOP:
            self._start_cmd = False
            self._update_run()
        elif b == _RESET:
            self._reset()
            self._hold(_T_RESET_US)
        elif b == _STANDBY:
            self._standby = True
            self._update_run()
        elif b == _WAKEUP:
            self._standby = False
            self._update_run()
        elif b == _RDATA or 0x20 <= b < 0x60:
            if self._rdatac:
                self.ignored_rdatac += 1  # the next bytes decode as opcodes, as on the chip
            elif b == _RDATA:
                self._pst = _P_RDATA
                self._pos = 0
            else:
                self._addr = b & 0x1F
                self._pst = _P_RREG_N if b < 0x40 else _P_WREG_N
        else:
            self.ignored_unknown += 1

    def _write_reg(self, a: int, v: int) -> None:
        if a >= NREG:
            return
        if a == _ID or a == _LOFF_STATP or a == _LOFF_STATN:
            self.ignored_ro += 1
            return
        r = self.regs
        bad = (v & _RES_MASK[a]) != _RES_VAL[a]
        if a == _CONFIG1:
            bad = bad or (v & 7) == 7
        elif a == _CONFIG2:
            bad = bad or (v & 3) == 2
        elif _CH1SET <= a < _CH1SET + NCH:
            bad = bad or (v & 0x70) == 0x70
        if bad:
            self.reserved_violations += 1
        if a == _CONFIG3:
            v = (v & 0xFE) | (r[_CONFIG3] & 1)  # BIAS_STAT is read-only
        self._advance()  # conversions so far used the old settings
        old = r[a]
        r[a] = v
        self._recompute()
        if a == _CONFIG1 and v != old and self._running:
            self._t_last = self._clock()  # new CONFIG1 resets the digital filter
            self._acc = 0
        self._tell_due()

    def _recompute(self) -> None:
        # Derive the per-conversion tables from the registers and electrode state.
        r = self.regs
        st = self._st
        par = self._par
        dr = r[_CONFIG1] & 7
        if dr == 7:
            dr = 6
        self._fs = self.fclk_hz // 128 >> dr
        comps = r[_CONFIG4] & 2
        statp = (self._loff_p & r[_LOFF_SENSP]) if comps else 0
        statn = (self._loff_n & r[_LOFF_SENSN]) if comps else 0
        r[_LOFF_STATP] = statp
        r[_LOFF_STATN] = statn
        st[_S_STATUS] = 0xC00000 | (statp << 12) | (statn << 4) | ((r[_GPIO] >> 4) & 0xF)
        c2 = r[_CONFIG2]
        int_cal = c2 & 0x10
        amp = 3_750_000 if c2 & 4 else 1_875_000  # (VREFP - VREFN) / 2400, x2 with CAL_AMP
        f = c2 & 3
        st[_S_TSHIFT] = (13 - dr) if f == 0 else ((12 - dr) if f == 1 else 0)
        dc_loff = (r[_LOFF] & 3) == 0
        sensed = (self._loff_p & r[_LOFF_SENSP]) | (self._loff_n & r[_LOFF_SENSN])
        for ch in range(NCH):
            c = r[_CH1SET + ch]
            gi = (c >> 4) & 7
            if gi == 7:
                gi = 6
            g = _GAINS[gi]
            mux = c & 7
            bit = 1 << ch
            if c & 0x80:
                mode = _M_ZERO
            elif mux == 0:
                mode = _M_INPUT
                if dc_loff and sensed & bit:
                    mode = _M_RAILN if r[_LOFF_FLIP] & bit else _M_RAILP
            elif mux == 5 and int_cal:
                mode = _M_TEST
            else:
                mode = _M_NOISE
            par[ch] = mode
            par[NCH + ch] = g
            par[2 * NCH + ch] = _LIM[gi]
            par[3 * NCH + ch] = self.nv_to_code(amp, g)

    def _pin_edge(self, kind: int, v: int) -> None:
        if kind == _PIN_START:
            self._update_run(bool(v))
        elif kind == _PIN_RESET:
            if not v:
                self._rst_low_t = self._clock()
                self._alive = False
                self._update_run()
            else:
                self._alive = bool(self.pwdn_pin._level)
                if ticks_diff(self._clock(), self._rst_low_t) >= _T_RST_LOW_US:
                    self._reset()
                    self._hold(_T_RESET_US)
                else:
                    self.short_resets += 1
                    self._update_run()
        elif kind == _PIN_PWDN:
            if not v:
                self._alive = False
                self._update_run()
            else:
                # Leaving power-down is modelled as a fresh power-up (registers reset,
                # tPOR wait): the driver re-initialises either way.
                self._alive = bool(self.reset_pin._level)
                self._power_up()
