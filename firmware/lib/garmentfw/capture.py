# DRDY-driven capture: each DRDY edge moves the conversion the ADS1299 holds into the
# preallocated sample ring, so a long loop pass or a burst of pulses loses nothing as
# long as the ring covers it (the chip itself holds ONE conversion: unread, it is
# overwritten at the next DRDY). The board decides what calls on_drdy() (the sim's
# modelled hard IRQ, the ESP32-S3's scheduled pin handler; the RP2 boards capture in
# PIO + DMA instead: boards/rp2_capture.py); the loop only consumes from the ring.
# A conversion lost anyway (ring full, or the handler later than the next conversion)
# is counted in `overruns` and is a gap in the AFE's sample counter: never silent.
from garmentfw import wire
from garmentfw.afe import Ads1299Source
from garmentfw.ring import counter_add

TYPE_CHECKING = False
if TYPE_CHECKING:
    from garmentfw.ring import SampleRing


class DrdyCapture(Ads1299Source):
    """The capture stage between the chip and the ring (producer side, IRQ context).

    ``attach(ring)`` once (the device's ring); then ``on_drdy(index)`` per DRDY edge
    reads the held frame over SPI and commits it with ``index`` (the AFE's counter of
    that conversion). Allocation-free: callable from a hard interrupt. ``sync``: called
    by ``poll()`` before the loop reads the ring (the sim lets its modelled interrupts
    fire up to now; None on hardware, where they fire by themselves).
    """

    def __init__(self, driver, gain: int = 24, sync=None):
        super().__init__(driver, None, None, gain)
        self.ring = None  # type: SampleRing | None
        self._sync = sync
        self._on = False  # no capture while the chip is being configured (SPI is the config's)

    def attach(self, ring) -> None:
        self.ring = ring

    def configure(self, fs: int, n_ch: int) -> None:
        self._on = False
        super().configure(fs, n_ch)
        self._on = True

    def on_drdy(self, index: int) -> None:
        """Move the conversion the chip holds (AFE counter ``index``) into the ring."""
        if not self._on or self.ring is None:
            return
        frame = self.frame
        self.drv.read_frame(frame)
        self.commit(frame, index)

    def commit(self, frame, index: int) -> None:
        """Ring the 27-byte ``frame`` of conversion ``index`` (full ring: counted, dropped)."""
        ring = self.ring
        if ring is None:
            return
        if ring.space() == 0:
            self.overruns = counter_add(self.overruns, 1)
            return
        drv = self.drv
        drv.unpack(frame, ring.buf, ring.slot_offset(), self.n_ch)
        ring.commit(index & wire.COUNTER_MASK)
        self.count = counter_add(self.count, 1)
        self.lead_off = drv.lead_off(frame)

    def lost(self, n: int) -> None:
        """``n`` conversions went by unread (the handler came too late): counted."""
        self.overruns = counter_add(self.overruns, n)

    def poll(self, ring) -> int:
        """The loop's side: nothing to move (the edges did it); the sim's clock catches up."""
        s = self._sync
        if s is not None:
            s()
        return 0
