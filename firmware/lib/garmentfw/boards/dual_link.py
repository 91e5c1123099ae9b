# USB and BLE on one board: the device talks to whichever host is there. A BLE central
# takes over while connected; USB serves otherwise. `wired` follows the active link, so
# the auth service refuses provisioning whenever the host is on BLE.
# Safety (docs/SAFETY.md, m4): no takeover while the stimulation is armed (``hold()``,
# set by the stimulation service): the host that armed keeps the garment until it
# disarms or its link drops; and an E-STOP is obeyed from every link: the inactive link is
# read too, and a T_ESTOP frame on it calls ``on_estop()`` (nothing else on it is served).
from garmentfw import wire
from garmentfw.framing import Deframer


class DualLink:
    def __init__(self, usb, ble):
        self.usb = usb
        self.ble = ble
        self.active = usb
        self._dropped = False
        self.hold = None  # () -> True while a switch of host must wait (armed)
        self.on_estop = None  # () -> None: an E-STOP arrived on the inactive link
        self._side = Deframer(self._side_packet, self._side_error)
        self._side_buf = bytearray(64)

    @property
    def wired(self) -> bool:
        return self.active.wired

    def _select(self) -> None:
        want = self.ble if self.ble.connected() else self.usb
        if want is not self.active:
            hold = self.hold
            if hold is not None and hold() and self.active.connected():
                return  # armed: the host that armed keeps the garment
            # A change of host is a disconnect for the device: session, stream and
            # half-received frames of the old host are dropped.
            self.active = want
            self._dropped = True
            self._side.reset()

    def _side_packet(self, ptype, seq, pkt, n) -> None:
        if ptype == wire.T_ESTOP and self.on_estop is not None:
            self.on_estop()

    def _side_error(self, code) -> None:
        pass  # the inactive link gets no answers

    def _read_side(self) -> None:
        other = self.ble if self.active is self.usb else self.usb
        if not other.connected():
            return
        n = other.readinto(self._side_buf)
        if n:
            self._side.feed(self._side_buf, n)

    def connected(self) -> bool:
        self._select()
        return self.active.connected()

    def dropped_client(self) -> bool:
        self._select()
        d = self._dropped or self.active.dropped_client()
        self._dropped = False
        other = self.ble if self.active is self.usb else self.usb
        other.dropped_client()  # consume the inactive link's drops
        return d

    def readinto(self, buf) -> int:
        self._select()
        self._read_side()
        return self.active.readinto(buf)

    def write(self, buf, off: int, n: int) -> int:
        return self.active.write(buf, off, n)

    def wait(self, ms: int) -> None:
        self.active.wait(ms)
