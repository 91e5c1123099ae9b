# Acquisition from an ADS1299 into the sample ring. The sample counter comes from
# the AFE's own clock (DRDY edges), so a conversion the MCU missed is a visible gap.
# This polled source moves what the chip model's FIFO holds (the qemu board); the
# boards capture on DRDY instead (capture.py and its board mechanisms).

from garmentfw import wire
from garmentfw.drivers.ads1299 import lsb_fv


class Ads1299Source:
    """Moves pending conversions into a SampleRing.

    ``pending()`` -> conversions ready to read; ``index()`` -> AFE counter of the next
    one to be read (DRDY edges since START minus those still pending). The board
    supplies both: a DRDY interrupt counter on hardware, the chip model in the sim.
    """

    def __init__(self, driver, pending, index, gain: int = 24):
        self.drv = driver
        self._pending = pending
        self._index = index
        self.gain = gain
        self.frame = bytearray(driver.frame_bytes)  # 27 bytes per chip (a daisy chain: up to 8)
        self.max_channels = driver.max_channels
        self.chips = driver.n_chips
        self.fs_allowed = wire.ALLOWED_FS  # the rates this board offers (a board on another AFE clock sets its own)
        self.n_ch = 8
        self.fs = 0
        self.lead_off = 0
        self.overruns = 0  # conversions lost because the ring was full
        self.count = 0  # conversions moved into the ring

    def attach(self, ring) -> None:
        """The ring this source fills (polled: the ring is poll()'s argument)."""

    def lsb_fv(self) -> int:
        """Input-referred size of one code, in femtovolts, at the configured gain."""
        return lsb_fv(self.gain)

    def configure(self, fs: int, n_ch: int) -> None:
        drv = self.drv
        drv.stop()
        drv.configure(fs, n_ch, self.gain)
        drv.start()
        self.fs = fs
        self.n_ch = n_ch
        self.lead_off = 0
        self.count = 0

    def poll(self, ring) -> int:
        drv = self.drv
        frame = self.frame
        nch = self.n_ch
        moved = 0
        pend = self._pending()
        while pend > 0:
            if ring.space() == 0:
                break
            idx = self._index()
            drv.read_frame(frame)
            drv.unpack(frame, ring.buf, ring.slot_offset(), nch)
            ring.commit(idx & wire.COUNTER_MASK)
            moved += 1
            pend -= 1
        if moved:
            self.lead_off = drv.lead_off(frame)
            self.count += moved
        return moved
