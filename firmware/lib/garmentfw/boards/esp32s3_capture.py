# ESP32-S3 reference board: ADS1299 conversions captured on DRDY into the ring.
#
# What MicroPython's esp32 port really does with a pin interrupt: Pin.irq() takes
# handler, trigger and wake, and NO `hard` (micropython#4214, #14330, open): the GPIO
# ISR only calls mp_sched_schedule(), so the handler runs later on the MicroPython task,
# at the VM's next pending check (between bytecodes; not inside a viper/native call, a
# blocking C call or a flash write), from a queue of MICROPY_SCHEDULER_DEPTH (8) calls.
# `hard=True` is refused there (unknown keyword), so it is not passed. Hence:
# - the AFE's clock is counted in hardware: PCNT unit PCNT_DRDY counts DRDY's falling
#   edges (no edge lost to scheduling); the handler extends its 16-bit count to the
#   firmware's 2**30 counter;
# - the scheduled handler reads the one conversion the chip holds over SPI and rings it
#   with index = edges - 1, reading the PCNT before and after the frame: a change means
#   a newer conversion landed during the read (the frame may mix two): dropped, counted;
# - a handler that comes more than one conversion period late finds the older ones
#   overwritten in the chip (it holds ONE): each is counted in `overruns` and is a gap
#   in the sample counter the host sees; duplicate scheduled calls (several edges queued
#   for one readable conversion) ring nothing.
# Sizing: the ring (the device's, 1024 conversions = 0.5 s at 2 kHz) covers the
# consumer: a loop pass, a pulse burst, a flash write between two handler runs. What no
# ring can cover is the producer's latency: the scheduled handler must run within one
# conversion period (500 us at 2 kHz, 1 ms at 1 kHz) of each edge, so every bytecode-free
# stretch of the loop (one viper kernel call: the filters over a 20-sample block, the
# decoder) must stay under it, and a flash erase (the dose record every 10 s) loses
# conversions, counted. The board answer for loss-free 2 kHz capture under any load is a
# capture in C (an IRAM GPIO ISR starting the SPI transfer into this ring: a user C module),
# stated in docs/SAFETY.md (M8).
from esp32 import PCNT
from micropython import const

from garmentfw import wire
from garmentfw.capture import DrdyCapture
from garmentfw.ring import counter_add

PCNT_DRDY = const(2)  # units 0 and 1 measure the stimulator's phases (esp32s3_stim.py)
# The unit counts 0 .. PCNT_MOD - 1 (it resets to 0 at its maximum): the handler must run
# once per PCNT_MOD conversions (16 s at 2 kHz) to extend it, which every pass does.
PCNT_MOD = const(32767)


class Esp32s3Capture(DrdyCapture):
    """DRDY -> scheduled handler -> the held frame into the ring, indexed by a PCNT."""

    def __init__(self, driver, drdy_pin, trigger, gain: int = 24):
        super().__init__(driver, gain)
        self.pcnt = PCNT(PCNT_DRDY, pin=drdy_pin, falling=PCNT.INCREMENT, max=PCNT_MOD, value=0)
        self.pcnt.start()
        self._raw = 0  # the PCNT's count at the last handler run
        self.edges = 0  # DRDY edges since configure(), modulo 2**30
        self.taken = -1  # edges when the last frame was read (its index + 1)
        self.torn = 0  # frames dropped because a conversion landed during their read
        drdy_pin.irq(handler=self._drdy, trigger=trigger)

    def configure(self, fs: int, n_ch: int) -> None:
        super().configure(fs, n_ch)
        self._raw = self.pcnt.value()
        self.edges = 0
        self.taken = 0

    def _count(self) -> int:
        # The PCNT's count since the last call, added to `edges` (small ints only).
        raw = self.pcnt.value()
        d = raw - self._raw
        if d < 0:
            d += PCNT_MOD
        self._raw = raw
        self.edges = counter_add(self.edges, d)
        return self.edges

    def _drdy(self, _pin) -> None:
        # Scheduled (see above): on the MicroPython task, allocation-free.
        if not self._on or self.ring is None:
            return
        e = self._count()
        if e == self.taken:
            return  # a queued duplicate: this conversion is in the ring already
        missed = (e - self.taken - 1) & wire.COUNTER_MASK
        if missed:
            self.lost(missed)  # overwritten in the chip before this handler ran
        frame = self.frame
        self.drv.read_frame(frame)
        self.taken = e
        if self._count() != e:
            self.torn += 1
            self.lost(1)  # a newer conversion during the read: not trusted
            return
        self.commit(frame, e - 1)
