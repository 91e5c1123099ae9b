# The board's USB + BLE link: the host on BLE takes over while connected, and the
# link's `wired` flag (provisioning allowed) follows the active host.
from garmentfw.boards.dual_link import DualLink


class _Link:
    def __init__(self, wired):
        self.wired = wired
        self.up = False
        self.inbox = b""
        self.sent = b""
        self.drop = False

    def connected(self):
        return self.up

    def dropped_client(self):
        d = self.drop
        self.drop = False
        return d

    def readinto(self, buf):
        n = len(self.inbox)
        buf[:n] = self.inbox
        self.inbox = b""
        return n

    def write(self, buf, off, n):
        self.sent += bytes(buf[off:off + n])
        return n

    def wait(self, ms):
        pass


def test_ble_takes_over_and_wired_follows():
    usb, ble = _Link(True), _Link(False)
    usb.up = True
    d = DualLink(usb, ble)
    assert d.connected() and d.wired and not d.dropped_client()
    usb.inbox = b"u"
    buf = bytearray(8)
    assert d.readinto(buf) == 1 and buf[0] == ord("u")
    ble.up = True  # a phone connects over BLE
    assert d.connected() and not d.wired
    assert d.dropped_client()  # the USB host's session ends
    d.write(b"xyz", 0, 3)
    assert ble.sent == b"xyz" and usb.sent == b""
    ble.up = False
    ble.drop = True
    assert d.connected() and d.wired and d.dropped_client()
    assert not d.dropped_client()


def _estop_frame():
    from garmentfw import wire
    from garmentfw.framing import Framer

    f = Framer()
    pkt = Framer.packet()
    n = f.encode(pkt, wire.T_ESTOP, 0)
    return bytes(f.out[:n])


def test_no_takeover_while_armed_and_estop_obeyed_on_every_link():
    usb, ble = _Link(True), _Link(False)
    usb.up = True
    d = DualLink(usb, ble)
    armed = [True]
    stops = []
    d.hold = lambda: armed[0]  # the stimulation service: armed
    d.on_estop = lambda: stops.append(1)
    assert d.connected() and d.wired
    ble.up = True  # a phone connects while the USB host has the garment armed
    assert d.connected() and d.wired and not d.dropped_client(), "BLE took over an armed session"
    ble.inbox = _estop_frame()  # the E-STOP from the phone, the inactive link
    buf = bytearray(64)
    d.readinto(buf)
    assert stops == [1], "E-STOP on the inactive link ignored"
    usb.inbox = b""
    # disarmed: the BLE central takes over; now an E-STOP on USB is obeyed
    armed[0] = False
    assert d.connected() and not d.wired and d.dropped_client()
    usb.inbox = _estop_frame()
    d.readinto(buf)
    assert stops == [1, 1]
