# The RP2 boards' DRDY capture (boards/rp2_capture.py): the PIO program assembled and run
# cycle by cycle (fake_rp2) as the SPI master of the ADS1299 model (one conversion held,
# as the chip), its RX FIFO moved by a fake rp2.DMA (DREQ pacing, write-address ring,
# chained reload) into the aligned ring, which poll() moves into the device's ring. No
# CPU in the capture: the loop may look late; a pass longer than the ring is a counted gap.
import gc
from array import array

import vclock  # noqa: F401  (first: the virtual `time`)
import fake_rp2 as R

R.install()

from machine import Pin  # noqa: E402  (the fake's)

from garmentfw.boards.rp2_capture import RING_FRAMES, Rp2Capture  # noqa: E402
from garmentfw.drivers.ads1299 import ADS1299  # noqa: E402
from garmentfw.ring import SampleRing  # noqa: E402
from garmentfw.sim.ads1299_model import FakeADS1299  # noqa: E402

PIN_CS = 17
PIN_DRDY = 20


class Bus:
    """The ADS1299 model on the PIO's pins: side-set bit 0 = CS, bit 1 = SCLK; value()
    is MISO. The chip shifts a bit out on each rising SCLK while CS is low (mode 1)."""

    def __init__(self, chip):
        self.chip = chip
        self.cs = 1
        self.sclk = 0
        self.byte = 0
        self.nbit = 8
        self.bit = 0
        self.one = bytearray(1)
        self.clocks = 0

    def side(self, v):
        cs = v & 1
        sclk = (v >> 1) & 1
        if cs != self.cs:
            if cs:
                self.chip.cs.on()
            else:
                self.chip.cs.off()
                self.nbit = 8
            self.cs = cs
        if sclk and not self.sclk and not cs:
            if self.nbit == 8:
                self.chip.spi.readinto(self.one, 0)
                self.byte = self.one[0]
                self.nbit = 0
            self.bit = (self.byte >> (7 - self.nbit)) & 1
            self.nbit += 1
            self.clocks += 1
        self.sclk = sclk

    def value(self, v=None):
        return self.bit


def _rig():
    chip = FakeADS1299(clock=vclock.ticks_us, depth=1)
    drv = ADS1299(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, start=chip.start_pin,
                  pwdn=chip.pwdn_pin, sleep_us=vclock.sleep_us)
    drv.init()
    bus = Bus(chip)
    R.SIDE_HOOKS[PIN_CS] = bus.side
    R.GPIO[PIN_DRDY] = chip.drdy
    reclaimed = []
    cap = Rp2Capture(drv, lambda: reclaimed.append(1), 0, Pin(PIN_CS, Pin.OUT, value=1), bus)
    ring = SampleRing(1024, 8)
    cap.attach(ring)
    cap.configure(2000, 8)
    ring.reset(8)
    assert reclaimed == [1]  # the SPI had its pins back for the registers
    return chip, cap, ring, bus


def _feed(chip, n):
    nv = array("i", bytes(4 * 8 * n))
    for i in range(n):
        nv[8 * i] = i * 100
        nv[8 * i + 7] = -i * 100
    chip.feed(nv, n)


def _run_us(us):
    # the hardware runs alongside the clock: the PIO never more than 25 us behind it
    for _ in range(us // 25):
        vclock.advance_us(25)
        R.StateMachine.sync_all()


def _drain(ring):
    out = array("i", bytes(4 * 8 * 20))
    runs = []
    vals = []
    while True:
        k = ring.take(out, 20)
        if not k:
            return runs, vals
        for i in range(k):
            vals.append((out[8 * i], out[8 * i + 7]))
        if runs and runs[-1][0] + runs[-1][1] == ring.first_index:
            runs[-1][1] += k
        else:
            runs.append([ring.first_index, k])


def test_every_conversion_is_captured_while_the_loop_looks_away():
    chip, cap, ring, bus = _rig()
    _feed(chip, 200)
    _run_us(100 * 500 + 100)  # 100 conversions, the CPU never looked
    assert cap.poll(ring) == 100
    runs, vals = _drain(ring)
    assert runs == [[0, 100]], runs
    code = FakeADS1299.nv_to_code
    assert vals == [(code(i * 100, 24), code(-i * 100, 24)) for i in range(100)]
    assert bus.clocks == 100 * 216 and chip.overruns == 0 and cap.overruns == 0


def test_the_chained_dma_keeps_going_past_the_end_of_the_ring():
    chip, cap, ring, bus = _rig()
    n = 300  # more than one ring: channel B restarted channel A
    assert n > RING_FRAMES
    for _ in range(n // 30):
        _run_us(30 * 500)
        cap.poll(ring)
    _run_us(200)  # the last conversion's frame is read out
    cap.poll(ring)
    runs, _ = _drain(ring)
    assert runs == [[0, n]], runs
    assert cap.overruns == 0 and cap.a.transfers == 8 * n


def test_a_pass_longer_than_the_ring_is_a_counted_gap():
    chip, cap, ring, bus = _rig()
    _run_us((RING_FRAMES + 40) * 500 + 100)
    cap.poll(ring)
    runs, _ = _drain(ring)
    assert cap.overruns == RING_FRAMES, cap.overruns
    assert runs == [[RING_FRAMES, 40]], runs  # what is left is indexed by the AFE: a gap, never joined
    _run_us(10 * 500)
    cap.poll(ring)
    assert _drain(ring)[0] == [[RING_FRAMES + 40, 10]]


def test_poll_allocates_nothing():
    chip, cap, ring, bus = _rig()
    _run_us(40 * 500)
    cap.poll(ring)
    _drain(ring)
    out = array("i", bytes(4 * 8 * 20))
    used = 0
    for _ in range(5):
        _run_us(20 * 500)
        gc.collect()
        before = gc.mem_alloc()
        cap.poll(ring)
        used += gc.mem_alloc() - before
        while ring.take(out, 20):
            pass
    assert used == 0, used
    assert cap.count == 139  # the 140th conversion is still being clocked out
