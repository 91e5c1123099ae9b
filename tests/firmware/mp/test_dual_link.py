# The board's USB + BLE link: the host on BLE takes over while connected, and the
# link's `wired` flag (provisioning allowed) follows the active host.
import stim_testlib as S

from garmentfw import wire
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


def test_estop_from_the_inactive_link_stops_the_output():
    # the reference board's USB + BLE link: a phone's E-STOP while the USB host is armed
    from garmentfw.boards.dual_link import DualLink
    from garmentfw.device import Device
    from garmentfw.framing import Framer

    b = S.Board(n_stim=4)
    usb = b.link
    ble = S.Link()
    ble.wired = False
    ble_up = [False]
    ble.connected = lambda: ble_up[0]
    class _Dual(DualLink):  # what the test host reads: the USB side's output
        @property
        def out(self):
            return usb.out

        @out.setter
        def out(self, v):
            usb.out = v

    b.link = _Dual(usb, ble)
    d = Device(b)
    stim = S.add_stim(d, b)
    d.auth = S.AcceptAll()
    h = S.Host(d, b)
    S.run(d, h, 20)
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    h.ping()
    h.ok(wire.T_ARM)
    h.ok(wire.T_STIM_TEST, S.test_body(0, 15000, dur=5000))
    S.run(d, h, 200)
    ble_up[0] = True  # a phone connects: no takeover while armed
    S.run(d, h, 50)
    assert stim.sup.armed() and b.link.active is usb
    f = Framer()
    n = f.encode(Framer.packet(), wire.T_ESTOP, 0)
    ble.inbox = bytearray(f.out[:n])
    S.run(d, h, 5)
    assert stim.sup.fault == wire.FAULT_ESTOP and not b.stim.enabled
