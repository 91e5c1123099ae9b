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
