# RP2040 / RP2350: ADS1299 conversions captured on DRDY by PIO + DMA into a ring, with
# no CPU in the capture at all (the chip holds ONE conversion; an interrupt would have
# to read SPI before the next DRDY, 500 us at 2 kHz, whatever the loop does).
# - A PIO state machine is the SPI master while streaming: it waits for DRDY's falling
#   edge, counts it (X: the AFE's clock as the MCU sees it), pushes the count, then
#   clocks the 216-bit frame in (SPI mode 1: SCLK rises, the chip shifts, SCLK falls,
#   the PIO samples MISO) with CS and SCLK as its two side-set pins (CS = GPIO 17, SCLK =
#   GPIO 18: consecutive, rp2_board.py). Autopush gives 6 words, a last push the 24
#   remaining bits: 8 words per conversion. Configuration (registers) still goes through
#   machine.SPI: configure() stops the state machine and re-inits the SPI, which takes the
#   pins back, then hands them to the PIO again.
# - DMA channel A moves the RX FIFO into a ring of RING_FRAMES conversions (8 words
#   each) aligned to its size, with the write address wrapping there (ring_size); when
#   its count (one ring) is done it chains to channel B, which writes A's control word
#   to A's CTRL_TRIG and so restarts it (the RP2040 has no endless mode; the RX FIFO,
#   joined to 8 words, holds the conversion that arrives meanwhile).
# - poll(), in the loop, reads A's write address (how far the DMA got) and moves every
#   complete conversion into the device's ring, with the index the PIO counted.
#   Ring sizing: RING_FRAMES = 256 (128 ms at 2 kHz, 8 KiB) covers the longest loop pass;
#   a pass longer than that overwrites the oldest unread conversions: seen by the PIO's
#   count jumping, counted in `overruns`, a gap in the indices. Never silent.
import uctypes
from array import array

import micropython
import rp2
from micropython import const
from rp2 import DMA, PIO, StateMachine

from garmentfw import wire
from garmentfw.capture import DrdyCapture
from garmentfw.ring import counter_add

PIO_HZ = const(8_000_000)  # 3 cycles per bit: SCLK 2.67 MHz, a frame in 81 us
FRAME_WORDS = const(8)  # count, 6 x 32 bits, 24 bits
FRAME_BITS = const(216)
RING_FRAMES = const(256)
RING_WORDS = const(2048)  # RING_FRAMES * FRAME_WORDS
RING_BYTES_LOG2 = const(13)  # 8 KiB: the DMA write address wraps at this boundary
_PIO_BASE = (0x50200000, 0x50300000)
_RXF0 = const(0x20)
_DREQ_PIO_RX0 = (4, 12)
_CTRL_TRIG = const(3)  # word offset of CHx_CTRL_TRIG in a channel's registers
_SM_PER_PIO = const(4)


@rp2.asm_pio(sideset_init=[PIO.OUT_HIGH, PIO.OUT_LOW], in_shiftdir=PIO.SHIFT_LEFT,
             autopush=True, push_thresh=32, fifo_join=PIO.JOIN_RX)
def afe_frames():
    # side-set bit 0 = CS, bit 1 = SCLK; OSR holds FRAME_BITS - 1 (pulled once)
    pull(block).side(1)  # noqa: F821 - PIO assembler names
    mov(x, invert(null)).side(1)  # noqa: F821
    wrap_target()  # noqa: F821
    wait(1, gpio, 20).side(1)  # noqa: F821 - DRDY (GPIO 20) high: CS high, SCLK low
    wait(0, gpio, 20).side(1)  # noqa: F821 - falling edge: a conversion is ready
    jmp(x_dec, "count").side(0)  # noqa: F821 - CS low
    label("count")  # noqa: F821
    mov(isr, invert(x)).side(0)  # noqa: F821 - edges since start
    push(block).side(0)  # noqa: F821 - word 0 of the conversion
    mov(y, osr).side(0)  # noqa: F821
    label("bit")  # noqa: F821
    nop().side(2)  # noqa: F821 - SCLK high: the chip shifts the next bit out
    in_(pins, 1).side(0)  # noqa: F821 - SCLK low: sample MISO
    jmp(y_dec, "bit").side(0)  # noqa: F821
    push(block).side(0)  # noqa: F821 - the last 24 bits
    wrap()  # noqa: F821


def _aligned_ring():
    # An 8 KiB window aligned to 8 KiB inside a 16 KiB buffer (ring_size needs it).
    raw = bytearray(2 << RING_BYTES_LOG2)
    a = uctypes.addressof(raw)
    off = (-a) & ((1 << RING_BYTES_LOG2) - 1)
    mv = memoryview(raw)[off:off + (1 << RING_BYTES_LOG2)]
    return raw, mv, a + off


class Rp2Capture(DrdyCapture):
    """PIO frames on DRDY, DMA into an aligned ring; poll() rings them for the loop."""

    def __init__(self, driver, reclaim, sm_id: int, cs_pin, miso_pin, dma_a=None, dma_b=None, gain: int = 24):
        """``reclaim()``: give SCLK, MOSI, MISO back to SPI0 and CS back to a GPIO output
        (high), for the driver's register access; ``cs_pin``: CS, SCLK is the next GPIO."""
        super().__init__(driver, gain)
        self.reclaim = reclaim
        self.sm_id = sm_id
        self.cs_pin = cs_pin
        self.miso_pin = miso_pin
        self._raw, self.words, self.base = _aligned_ring()
        self.a = dma_a if dma_a is not None else DMA()
        self.b = dma_b if dma_b is not None else DMA()
        self._ctrl = array("I", [0])  # A's control word, B's source
        self.sm = None  # type: StateMachine | None
        self._rd = 0  # next word of the ring to read (multiple of FRAME_WORDS)
        self.expected = 0  # PIO count of the next conversion
        self.frame_buf = bytearray(27)

    def configure(self, fs: int, n_ch: int) -> None:
        self._stop()
        self.reclaim()  # the pins back to SPI0 for the registers
        super().configure(fs, n_ch)
        self._start()

    def _stop(self) -> None:
        if self.sm is not None:
            self.sm.active(0)
        self.a.active(0)
        self.b.active(0)

    def _start(self) -> None:
        sm = StateMachine(self.sm_id, afe_frames, freq=PIO_HZ, sideset_base=self.cs_pin, in_base=self.miso_pin)
        self.sm = sm
        pio = self.sm_id // _SM_PER_PIO
        fifo = _PIO_BASE[pio] + _RXF0 + 4 * (self.sm_id % _SM_PER_PIO)
        a = self.a
        b = self.b
        ctrl = a.pack_ctrl(size=2, inc_read=False, inc_write=True, ring_size=RING_BYTES_LOG2, ring_sel=True,
                           treq_sel=_DREQ_PIO_RX0[pio] + self.sm_id % _SM_PER_PIO,
                           chain_to=b.channel)  # type: ignore[union-attr]  # the stubs lack DMA's channel, registers, write
        self._ctrl[0] = ctrl
        trig = uctypes.addressof(a.registers) + 4 * _CTRL_TRIG  # type: ignore[union-attr]
        b.config(read=self._ctrl, write=trig, count=1,
                 ctrl=b.pack_ctrl(size=2, inc_read=False, inc_write=False))
        a.config(read=fifo, write=self.words, count=RING_WORDS, ctrl=ctrl, trigger=True)
        self._rd = 0
        self.expected = 0
        sm.put(FRAME_BITS - 1)
        sm.active(1)

    def _written(self) -> int:
        # Words the DMA has written into the ring, as a ring offset (0 .. RING_WORDS - 1).
        return ((self.a.write - self.base) >> 2) & (RING_WORDS - 1)  # type: ignore[union-attr]

    def poll(self, ring) -> int:
        """Move every complete conversion the DMA ringed into ``ring`` (the loop's side)."""
        if not self._on:
            return 0
        w = self._written() & ~(FRAME_WORDS - 1)  # whole conversions only
        rd = self._rd
        words = self.words
        fb = self.frame_buf
        moved = 0
        while rd != w:
            idx = _unpack_frame(words, rd, fb)
            e = self.expected
            if idx != e:
                # the DMA lapped the reader: the conversions between are gone
                self.lost((idx - e) & wire.COUNTER_MASK)
            self.expected = counter_add(idx, 1)
            self.commit(fb, idx)
            moved += 1
            rd += FRAME_WORDS
            if rd == RING_WORDS:
                rd = 0
        self._rd = rd
        return moved


@micropython.viper
def _unpack_frame(words, at: int, frame) -> int:
    # 8 ring words (count, 6 x 32 bits, 24 bits; each word little-endian in memory) ->
    # the 27-byte frame as the chip sent it; returns the PIO's count - 1 (the index).
    w = ptr8(words)
    f = ptr8(frame)
    o = at * 4
    cnt = (w[o] | (w[o + 1] << 8) | (w[o + 2] << 16) | (w[o + 3] << 24)) & 0x3FFFFFFF
    j = 0
    k = 1
    while k < 7:
        b = o + 4 * k
        f[j] = w[b + 3]
        f[j + 1] = w[b + 2]
        f[j + 2] = w[b + 1]
        f[j + 3] = w[b]
        j += 4
        k += 1
    b = o + 28
    f[24] = w[b + 2]
    f[25] = w[b + 1]
    f[26] = w[b]
    return (cnt - 1) & 0x3FFFFFFF
