# The rig port of the simulated garment: the HIL rig / EMG feeder connects here and
# feeds electrode signals (nanovolts) into the AFE model, and sets lead-off faults.
# It is the physics side of the simulation, not part of the firmware's protocol.
import struct
import time

import micropython
from array import array

from garmentfw import wire
from garmentfw.sim.tcp_link import accept, listen
from garmentfw.framing import Deframer, Framer


@micropython.viper
def _le32_into(src: ptr8, off: int, dst: ptr32, n: int):
    i = 0
    o = off
    while i < n:
        dst[i] = src[o] | (src[o + 1] << 8) | (src[o + 2] << 16) | (src[o + 3] << 24)
        o += 4
        i += 1


class RigPort:
    REPORT_MS = 10

    def __init__(self, port: int, chip, host: str = "127.0.0.1"):
        self.server = listen(port, host)
        self.client = None
        self.chip = chip
        self.n_inputs = getattr(chip, "n_inputs", 8)  # electrode inputs: 8, or a daisy chain's 8 per chip
        self.rx = bytearray(4096)
        self.nv = array("i", bytes(4 * 256 * 8))
        self.framer = Framer()
        self.pkt = Framer.packet()
        self.deframer = Deframer(self._on_packet, self._on_error)
        self.fed = 0
        self.added = 0
        self.errors = 0
        self._last = 0
        self.fs = 0
        self.n_ch = 0

    def _on_error(self, code):
        self.errors += 1

    def _on_packet(self, ptype, seq, pkt, n):
        if ptype == wire.RIG_FEED and n >= 3:
            count, nch = struct.unpack_from(wire.RIG_FEED_HDR_FMT, pkt, 3)
            if nch != self.n_inputs or n != 3 + count * nch * 4 or count * nch > len(self.nv):
                self.errors += 1
                return
            _le32_into(pkt, 6, self.nv, count * nch)
            self.chip.feed(self.nv, count)
            self.fed = (self.fed + count) & 0x3FFFFFFF
        elif ptype == wire.RIG_ADD and n >= 6:
            first, count = struct.unpack_from(wire.RIG_ADD_HDR_FMT, pkt, 3)
            nch = self.n_inputs
            if n != 6 + count * nch * 4 or count * nch > len(self.nv):
                self.errors += 1
                return
            _le32_into(pkt, 9, self.nv, count * nch)
            self.added += self.chip.add_input(first, self.nv, count)
        elif ptype == wire.RIG_LEAD_OFF and n == 3:
            ch, p, nn = struct.unpack_from(wire.RIG_LEAD_OFF_FMT, pkt, 3)
            if ch < self.n_inputs:
                self.chip.set_lead_off(ch, bool(p), bool(nn))
        else:
            self.errors += 1

    def _report(self):
        struct.pack_into(
            wire.RIG_AFE_FMT, self.pkt, 3, self.fs, self.n_ch,
            self.chip.conversions() & 0x3FFFFFFF, self.chip.queued(), self.fed,
        )
        m = self.framer.encode(self.pkt, wire.RIG_AFE, 15)
        try:
            self.client.write(self.framer.out, 0, m)
        except OSError:
            self._drop()

    def _drop(self):
        try:
            self.client.close()
        except OSError:
            pass
        self.client = None
        self.deframer.reset()

    def service(self, now_ms: int):
        if self.client is None:
            c = accept(self.server)
            if c is None:
                return
            self.client = c
            self.fed = 0
            self._report()
            return
        # Only take more input when the AFE model has room: TCP back-pressure paces the rig.
        while self.client is not None and self.chip.space() >= 256:
            try:
                n = self.client.readinto(self.rx)
            except OSError:
                self._drop()
                return
            if n is None:
                break
            if n == 0:
                self._drop()
                return
            self.deframer.feed(self.rx, n)
        if self.client is not None and time.ticks_diff(now_ms, self._last) >= self.REPORT_MS:
            self._last = now_ms
            self._report()
