# Register-level model of ADS1299s in daisy-chain mode (TI SBAS499, "Daisy-Chain Mode"),
# behind the same SPI / Pin interface as one chip (sim/ads1299_model.py), for the HD
# garment: up to 8 chips, 64 electrodes. What the real chain does, and so the model:
# - CS, SCLK, DIN, START, RESET and PWDN are shared; every chip decodes every byte, so a
#   WREG programs all of them alike (with a shared DIN no chip can be set up alone);
# - DOUT of chip k+1 feeds DAISY_IN of chip k and only chip 1's DOUT reaches the MCU:
#   register reads (RREG) return chip 1's registers only; the other chips cannot be read
#   back, so the driver checks them through their data (status sync word);
# - in RDATAC (or after RDATA) with CONFIG1 DAISY_EN' = 0, chip 1 shifts out its own 216
#   bits (24-bit status + 8 x 24-bit channels) then, from SCLK 217 on, what comes in on
#   DAISY_IN: chip 2's frame, then chip 3's ... (Figure "Daisy-Chain Timing": no bit
#   between the frames). DAISY_IN of the last chip is tied low: reading past the chain
#   gives zeros. With DAISY_EN' = 1 (multiple readback) a chip repeats its own frame and
#   ignores DAISY_IN, so the chips behind it vanish;
# - one external clock for all (datasheet: with a shared DIN an external clock must be
#   used) and one START: conversions happen together, DRDY is chip 1's;
# - a chip that is missing or unpowered drives no data: its frame reads zeros and it
#   passes nothing from DAISY_IN, so every chip behind it vanishes too (`fit(k, False)`).
# Electrode inputs are fed as interleaved n_inputs-channel samples (chip-major: input i is
# chip i // 8, channel i % 8), split to the chips' own input FIFOs.
import time

import micropython
from array import array
from micropython import const

from garmentfw.sim.ads1299_model import FRAME, NCH, FakeADS1299, _SPI

MAX_CHIPS = const(8)
_P_IDLE = const(0)  # the chip model's serial-interface states (sim/ads1299_model.py)
_P_RDATA = const(5)
_CONFIG1 = const(0x01)
_READBACK = const(0x40)  # CONFIG1 DAISY_EN' = 1: multiple readback
_SPLIT = const(256)  # samples split per feed() step


@micropython.viper
def _split(src, soff: int, dst, chip: int, n_chips: int, n: int):
    # dst[s*8 + c] = src[soff + s*(8*n_chips) + chip*8 + c] for n samples (int32)
    a = ptr32(src)
    d = ptr32(dst)
    stride = 8 * n_chips
    s = 0
    o = soff + chip * 8
    j = 0
    while s < n:
        c = 0
        while c < 8:
            d[j + c] = a[o + c]
            c += 1
        j += 8
        o += stride
        s += 1


@micropython.viper
def _put(dst, doff: int, src, n: int):
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[doff + i] = s[i]
        i += 1


@micropython.viper
def _zero(dst, doff: int, n: int):
    d = ptr8(dst)
    i = 0
    while i < n:
        d[doff + i] = 0
        i += 1


class _ChainPin:
    """A line shared by every chip of the chain (CS, RESET, START, PWDN)."""

    def __init__(self, chain, name: str):
        self._chain = chain
        self._pins = [getattr(c, name) for c in chain.chips]
        self._level = self._pins[0]._level

    def value(self, v=None):
        if v is None:
            return self._level
        self._chain._tick()
        self._level = 1 if v else 0
        for p in self._pins:
            p.value(v)

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class _ChainCs(_ChainPin):
    """Chip select: on the per-frame path, so it sets every chip's interface state at once
    (what each chip's own CS pin does: sim/ads1299_model.py _CsPin)."""

    def value(self, v=None):
        if v is None:
            return self._level
        if v:
            self.on()
        else:
            self.off()

    def on(self):
        self._level = 1
        for c in self._chain.chips:
            c.cs._level = 1
            c._cs_low = False
            c._pst = _P_IDLE  # CS high resets the serial interface

    def off(self):
        if not self._level:
            return
        self._chain._tick()
        self._level = 0
        for c in self._chain.chips:
            c.cs._level = 0
            c._selected()


class _ChainDrdy:
    """DRDY of chip 1 (the chain converts in lockstep; the MCU watches one DRDY)."""

    def __init__(self, chain):
        self._chain = chain

    def value(self, v=None):
        c = self._chain
        c._tick()
        return c.chips[0]._drdy_level()

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=0, hard=False):
        """DRDY's falling-edge interrupt: chip 1's, raised once the whole chain converted."""
        self._chain.chips[0].drdy.irq(handler, trigger, hard)


class _ChainSPI(_SPI):
    """machine.SPI-like bus: DIN to every chip, DOUT from chip 1 (the chain behind it);
    ``self._c`` is the chain (init, deinit and read as the one-chip bus's)."""

    def write(self, buf):
        c = self._c
        c._tick()
        for i in range(len(buf)):
            c._xfer(buf[i])

    def readinto(self, buf, write=0):
        c = self._c
        c._tick()
        n = len(buf)
        c0 = c.chips[0]
        # Fast path: a whole-chain frame read in RDATAC, as the driver's read_frame does.
        if write == 0 and c0._pos == 0 and c0._rdatac and c0._pst == _P_IDLE and c0._cs_low and c0._alive \
                and not c0._hold_us:
            last = c.chained()
            if last == c.n_chips:
                c0._advance()  # and its followers
                for ch in c.chips:
                    ch._latch()
                    ch._pos = n
                c._shift_out(buf, n, last)
                return
        for i in range(n):
            buf[i] = c._xfer(write)

    def write_readinto(self, wbuf, rbuf):
        c = self._c
        c._tick()
        for i in range(len(wbuf)):
            rbuf[i] = c._xfer(wbuf[i])


class FakeDaisyChain:
    """``n_chips`` ADS1299 models in daisy-chain mode, one SPI bus: use ``spi``, ``cs``,
    ``drdy``, ``reset_pin``, ``start_pin``, ``pwdn_pin`` with the driver (n_chips=...).

    clock: () -> microseconds (ticks_us semantics); fclk_hz: the shared external clock;
    depth / capacity: per chip, as FakeADS1299's.
    """

    def __init__(self, n_chips: int = MAX_CHIPS, clock=None, depth: int = 1, capacity: int = 4096,
                 fclk_hz: int = 2_097_152, chip_id: int = 0x3E):
        if not 1 <= n_chips <= MAX_CHIPS:
            raise ValueError("a daisy chain of %r chips; 1..%d supported" % (n_chips, MAX_CHIPS))
        self._clock = clock or time.ticks_us
        self._now = self._clock()
        self.n_chips = n_chips
        self.n_inputs = NCH * n_chips
        now = self._chip_clock
        self.chips = [FakeADS1299(clock=now, depth=depth, capacity=capacity, chip_id=chip_id, fclk_hz=fclk_hz)
                      for _ in range(n_chips)]
        lead = self.chips[0]
        lead._followers = tuple(self.chips[1:])  # chip 1's clock converts the whole chain
        for c in self.chips[1:]:
            c._follows = True
        self._fitted = [True] * n_chips
        self.regs = self.chips[0].regs
        self.spi = _ChainSPI(self)
        self.cs = _ChainCs(self, "cs")
        self.drdy = _ChainDrdy(self)
        self.reset_pin = _ChainPin(self, "reset_pin")
        self.start_pin = _ChainPin(self, "start_pin")
        self.pwdn_pin = _ChainPin(self, "pwdn_pin")
        self._scratch = array("i", bytes(4 * NCH * _SPLIT))
        self._pos = 0  # data bytes shifted out since the frame latched (generic path)

    # -- the shared clock ------------------------------------------------------------
    def _chip_clock(self):
        # Every chip reads the same instant during one bus operation: one clock, in lockstep.
        return self._now

    def _tick(self) -> None:
        self._now = self._clock()

    # -- test / sim interface ----------------------------------------------------------
    def fit(self, chip: int, fitted: bool = True) -> None:
        """Fit (or remove) chip ``chip`` (0-based): a missing chip drives no DOUT and
        cuts the chain behind it."""
        self._fitted[chip] = bool(fitted)

    def chained(self) -> int:
        """How many chips, from chip 1, reach the MCU's DOUT (all fitted, powered, and
        passing DAISY_IN: DAISY_EN' = 0)."""
        k = 0
        while k < self.n_chips:
            c = self.chips[k]
            if not self._fitted[k] or not c._alive:
                return k
            k += 1
            if c.regs[_CONFIG1] & _READBACK:  # multiple readback: DAISY_IN ignored
                return k
        return k

    def _shift_out(self, buf, n: int, last: int) -> None:
        # What DOUT gives for n data bytes from the first SCLK of a frame (all latched;
        # ``last`` = chained()).
        k = 0
        off = 0
        chips = self.chips
        while off < n:
            take = n - off
            if take > FRAME:
                take = FRAME
            if k < last:
                c = chips[k]
                _put(buf, off, c._cur, take)
                if k == last - 1 and c.regs[_CONFIG1] & _READBACK:
                    k -= 1  # multiple readback: this chip repeats its own frame
            else:
                _zero(buf, off, take)
            off += take
            k += 1

    def _xfer(self, b: int) -> int:
        # One byte on DIN to every chip; DOUT is chip 1's, or in data mode the chain's.
        chips = self.chips
        c0 = chips[0]
        data = c0._cs_low and (c0._pst == _P_RDATA or (c0._pst == _P_IDLE and c0._rdatac))
        p = c0._pos
        out = 0
        for k in range(self.n_chips):
            o = chips[k]._xfer(b) if self._fitted[k] else 0
            if k == 0:
                out = o
        if data and p >= FRAME and c0._alive:
            # chip 1 is passing DAISY_IN through: byte p of the chain's stream
            k = p // FRAME
            if not c0.regs[_CONFIG1] & _READBACK:
                out = chips[k]._cur[p % FRAME] if k < self.chained() else 0
        return out

    def feed(self, nv, n_samples: int) -> int:
        """Queue ``n_samples`` interleaved n_inputs-channel samples (nV); returns how many
        fitted. Allocation-free."""
        if n_samples * self.n_inputs > len(nv):
            raise ValueError("nv holds fewer than n_samples * %d values" % self.n_inputs)
        self._tick()
        took = n_samples
        done = 0
        sc = self._scratch
        while done < n_samples:
            m = n_samples - done
            if m > _SPLIT:
                m = _SPLIT
            t = m
            for k in range(self.n_chips):
                _split(nv, done * self.n_inputs, sc, k, self.n_chips, m)
                t = self.chips[k].feed(sc, m)
            done += m
            if t < m:
                took = done - m + t
                break
        return took

    def add_input(self, first_index: int, nv, n_samples: int) -> int:
        """Add interleaved n_inputs-channel nV onto queued input samples (see FakeADS1299)."""
        self._tick()
        got = 0
        sc = self._scratch
        m = n_samples if n_samples < _SPLIT else _SPLIT
        for k in range(self.n_chips):
            _split(nv, 0, sc, k, self.n_chips, m)
            got = self.chips[k].add_input(first_index, sc, m)
        return got

    def set_lead_off(self, ch: int, p: bool, n: bool) -> None:
        """Electrode state of input ``ch`` (0-based over the chain)."""
        self._tick()
        self.chips[ch // NCH].set_lead_off(ch % NCH, p, n)

    def queued(self) -> int:
        self._tick()
        return self.chips[0].queued()

    def space(self) -> int:
        self._tick()
        s = self.chips[0].space()
        for c in self.chips:
            v = c.space()
            if v < s:
                s = v
        return s

    def clear_input(self) -> None:
        for c in self.chips:
            c.clear_input()

    def pending(self) -> int:
        self._tick()
        return self.chips[0].pending()

    def conversions(self) -> int:
        self._tick()
        return self.chips[0].conversions()

    def next_index(self) -> int:
        self._tick()
        return self.chips[0].next_index()

    @property
    def overruns(self) -> int:
        return self.chips[0].overruns

    @property
    def underruns(self) -> int:
        return self.chips[0].underruns

    @property
    def frames_read(self) -> int:
        return self.chips[0].frames_read

    def fs(self) -> int:
        return self.chips[0].fs()

    def running(self) -> bool:
        return self.chips[0].running()

    def rdatac(self) -> bool:
        return self.chips[0].rdatac()
