# A held-up loop on the sim board (rig RIG_HOLD, wire.py): every pass is held up hold_us
# twice, as by long stages on an MCU (an inference, a flash write): before it takes its
# first block (the ring fills beyond one block) and between that block and the next; the
# DRDY interrupts fire meanwhile (sim/clock.py hold_us), so conversions keep arriving
# while the loop works through the ring, as a real capture's do.
# Hook (boards/sim.py): attach(rig, board) once; board.service() calls arm() every pass.
import struct

from garmentfw import wire
from garmentfw.sim import clock


class PassHold:
    def __init__(self):
        self.hold_us = 0
        self._takes = 0
        self._take = None  # the ring's own take()

    def wrap(self, ring) -> None:
        """From now on the loop's takes from ``ring`` go through the hold."""
        if self._take is None:
            self._take = ring.take
            ring.take = self.take

    def arm(self) -> None:
        """A pass begins (before the capture's poll)."""
        self._takes = 0

    def take(self, dst, max_n: int) -> int:
        # allocation-free: the loop's hot path
        self._takes += 1
        if self._takes <= 2 and self.hold_us:
            clock.hold_us(self.hold_us)
        return self._take(dst, max_n)


def attach(rig, hold: PassHold) -> None:
    deframer = rig.deframer
    orig = deframer._on_packet

    def on_packet(ptype, seq, pkt, n):
        if ptype == wire.RIG_HOLD:
            if n == 4:
                hold.hold_us = struct.unpack_from(wire.RIG_HOLD_FMT, pkt, 3)[0]
            else:
                rig.errors += 1
            return
        orig(ptype, seq, pkt, n)

    deframer._on_packet = on_packet
