# The BLE link (boards/ble_link.py) against a faithful fake of MicroPython's `bluetooth`
# module (fake_bluetooth.py): GATT table, advertising, MTU, notifications sized to MTU - 3
# with the stack's back-pressure, RX reassembly, disconnects, bonding keys in the Store,
# no allocation per notification, and the whole Device answering over it.
import gc
import os
import struct
import sys

import fake_bluetooth
import vclock  # noqa: F401  (first: the virtual `time`)
from fakeboard import Board

sys.modules["bluetooth"] = fake_bluetooth

from garmentfw import wire  # noqa: E402
from garmentfw.boards import ble_link  # noqa: E402
from garmentfw.boards.ble_link import BleLink  # noqa: E402
from garmentfw.framing import Deframer, Framer  # noqa: E402
from garmentfw.store import Store  # noqa: E402

NUS_LE = bytes((0x9E, 0xCA, 0xDC, 0x24, 0x0E, 0xE5, 0xA9, 0xE0, 0x93, 0xF3, 0xA3, 0xB5, 0x01, 0x00, 0x40, 0x6E))
_ROOT = "/tmp/garment-ble-test-%d" % id(Store)


def _store():
    try:
        for n in os.listdir(_ROOT):
            os.remove(_ROOT + "/" + n)
    except OSError:
        pass
    return Store(_ROOT)


def _link(pairing=True, credits=6, store=None):
    ble = fake_bluetooth.reset(pairing=pairing, credits=credits)
    return ble, BleLink(store=store)


def _connected(credits=6, mtu=247):
    ble, link = _link(credits=credits)
    ble.central_connect(0)
    buf = bytearray(512)
    link.readinto(buf)
    if mtu:
        ble.mtu_exchanged(0, mtu)
    return ble, link, buf


def _received(ble):
    return b"".join(p for _c, _h, p in ble.notified)


def test_gatt_table_advertising_and_config():
    ble, link = _link()
    assert link.wired is False and BleLink.wired is False
    rx, tx = link._rx, link._tx
    assert ble.flags[rx] == fake_bluetooth.FLAG_WRITE | fake_bluetooth.FLAG_WRITE_NO_RESPONSE | fake_bluetooth.FLAG_WRITE_ENCRYPTED
    assert ble.flags[tx] == fake_bluetooth.FLAG_NOTIFY and tx in ble.cccd
    v = ble._values[rx]
    assert v.cap == 2048 and v.append
    assert ble.config("mtu") == 247
    assert ble._cfg["bond"] is True and ble._cfg["le_secure"] is True and ble._cfg["mitm"] is False
    assert ble._cfg["io"] == 3  # no input, no output: Just Works
    assert link.name == "Garment-4B2C" and ble.config("gap_name") == "Garment-4B2C"
    interval, adv, resp, connectable = ble.advertising
    assert interval == 100000 and connectable
    assert adv == b"\x02\x01\x06\x11\x07" + NUS_LE and len(adv) == 21
    assert resp == b"\x0d\x09Garment-4B2C"
    assert ble_link.uuid128_le(ble_link.NUS_SERVICE) == NUS_LE


def test_connect_asks_for_security_and_mtu_and_stops_advertising():
    ble, link = _link()
    assert not link.connected()
    ble.central_connect(3)
    assert link.connected() and ble.advertising is None
    link.readinto(bytearray(64))
    assert ble.pair_requests == [3] and ble.mtu_requests == [3]
    assert link.mtu == 23
    assert ble.mtu_exchanged(3, 517) == 247
    assert link.mtu == 247
    ble.encryption_update(3, encrypted=True, bonded=True)
    assert link.encrypted and link.bonded
    ble.connection_update(3, 6)
    assert link.conn_interval == 6


def test_rx_writes_are_read_in_order_across_small_buffers():
    ble, link, _ = _connected()
    frame = bytes(i & 0xFF for i in range(700))
    for i in range(0, len(frame), 244):
        ble.central_write(0, link._rx, frame[i:i + 244])
    got = bytearray()
    buf = bytearray(100)
    while True:
        n = link.readinto(buf)
        if not n:
            break
        got += buf[:n]
        if len(got) == 300:  # a write lands while the loop is half way through the last one
            ble.central_write(0, link._rx, b"tail")
    assert bytes(got) == frame + b"tail"
    assert link.readinto(buf) == 0


def test_rx_buffer_limit_drops_excess_like_the_stack():
    ble, link, buf = _connected()
    ble.central_write(0, link._rx, bytes(2000))
    ble.central_write(0, link._rx, bytes(100))  # only 48 bytes of room left
    total = 0
    while True:
        n = link.readinto(buf)
        if not n:
            break
        total += n
    assert total == 2048


def test_notifications_are_sized_to_mtu_minus_3():
    ble, link = _link()
    ble.central_connect(0)
    link.readinto(bytearray(8))
    data = bytes((i * 7) & 0xFF for i in range(1000))
    assert link.write(data, 0, 100) == 100
    ble.radio_done()
    link.readinto(bytearray(8))
    assert [len(p) for _c, _h, p in ble.notified] == [20] * 5  # before the MTU exchange
    ble.mtu_exchanged(0, 247)
    off = 100
    while off < len(data):
        off += link.write(data, off, len(data) - off)
        ble.radio_done()
        link.readinto(bytearray(8))
    ble.radio_done()
    link.readinto(bytearray(8))
    sizes = [len(p) for _c, _h, p in ble.notified[5:]]
    assert sizes == [244, 244, 244, 168], sizes
    assert _received(ble) == data and ble.truncated == 0
    assert all(h == link._tx and c == 0 for c, h, _p in ble.notified)


def test_stack_back_pressure_and_ring_wrap_lose_nothing():
    ble, link, buf = _connected(credits=2)
    sent = bytearray()
    k = 0
    src = bytearray(1500)
    for rnd in range(40):
        for i in range(len(src)):
            src[i] = (k + i) & 0xFF
        k += 13
        off = 0
        while off < len(src):
            n = link.write(src, off, len(src) - off)
            sent += src[off:off + n]
            off += n
            if not n or rnd % 3 == 0:
                ble.radio_done(1)  # the controller frees one buffer at a time
                link.readinto(buf)
    while link._used:
        ble.radio_done()
        link.readinto(buf)
    assert ble.enomem > 0 and link.notify_busy > 0  # the stack said "full" and the link waited
    assert _received(ble) == bytes(sent)
    assert max(len(p) for _c, _h, p in ble.notified) == 244 and ble.truncated == 0


def test_ring_full_takes_what_fits():
    ble, link, buf = _connected(credits=0)
    big = bytes(5000)
    assert link.write(big, 0, 5000) == 4096
    assert link.write(big, 0, 10) == 0


def test_disconnect_is_reported_once_and_clears_state():
    ble, link, buf = _connected(credits=0)
    link.write(bytes(300), 0, 300)
    ble.central_write(0, link._rx, b"half a fra")
    ble.central_disconnect(0)
    assert not link.connected()
    assert link.write(b"x", 0, 1) == 0
    assert link.readinto(buf) == 0  # the old host's bytes are never handed over
    assert link.dropped_client() is True and link.dropped_client() is False
    assert ble.advertising is not None  # advertising again
    ble.credits_max = 6
    ble.central_connect(1)
    link.readinto(buf)
    ble.mtu_exchanged(1, 247)
    assert link.readinto(buf) == 0 and ble.notified == []  # nothing left from the old host
    ble.central_write(1, link._rx, b"new")
    assert link.readinto(buf) == 3 and bytes(buf[:3]) == b"new"
    assert link.connects == 2


def test_a_second_central_is_refused():
    ble, link, buf = _connected()
    ble.central_connect(1)
    assert ble.disconnect_requests == [1]
    ble.process()
    assert link.connected() and link._conn == 0 and not link.dropped_client()


def test_passkey_requests_are_refused():
    ble, link, buf = _connected()
    ble.passkey_action(0, 4, 123456)  # numeric comparison: we have no display
    assert ble.passkeys == [(0, 4, 0)]


def test_bonds_are_kept_in_the_store_and_survive_a_reboot():
    store = _store()
    ble, link = _link(store=store)
    assert ble.set_secret(1, b"peer-A-key", b"ltk-A-value-0123")
    assert ble.set_secret(1, b"peer-B-key", b"ltk-B")
    assert ble.set_secret(2, b"cccd-A", b"\x01\x00")
    assert ble.get_secret(1, 0, b"peer-A-key") == b"ltk-A-value-0123"  # copied, not the stack's buffer
    assert ble.get_secret(1, 0) == b"ltk-A-value-0123" and ble.get_secret(1, 1) == b"ltk-B"
    assert ble.get_secret(1, 2) is None and ble.get_secret(3, 0, b"x") is None
    assert ble.set_secret(1, b"peer-B-key", None) is True
    assert ble.set_secret(1, b"peer-B-key", None) is False
    assert store.load("ble_secrets") is None  # saved from the loop, not from the IRQ
    link.readinto(bytearray(8))
    assert store.load("ble_secrets") is not None
    ble2, link2 = _link(store=store)  # power cycle
    assert ble2.get_secret(1, 0, b"peer-A-key") == b"ltk-A-value-0123"
    assert ble2.get_secret(2, 0, b"cccd-A") == b"\x01\x00"
    assert ble2.get_secret(1, 1) is None


def test_bond_table_is_bounded():
    ble, link = _link(store=None)
    for i in range(48):
        assert ble.set_secret(1, b"k%d" % i, b"v")
    assert ble.set_secret(1, b"one too many", b"v") is False
    assert link.secret_refusals == 1
    assert ble.set_secret(1, b"k3", b"updated")  # replacing an entry still works


def test_damaged_bond_record_starts_empty():
    store = _store()
    store.save("ble_secrets", b"\x01\x30garbage")
    ble, link = _link(store=store)
    assert link._secrets == []
    assert ble.get_secret(1, 0) is None


def test_stack_without_pairing():
    ble, link = _link(pairing=False)
    assert not link.secure
    assert ble.flags[link._rx] == fake_bluetooth.FLAG_WRITE | fake_bluetooth.FLAG_WRITE_NO_RESPONSE
    ble.central_connect(0)
    link.readinto(bytearray(8))
    assert ble.pair_requests == [] and ble.mtu_requests == [0]


def test_no_allocation_per_notification():
    ble, link, buf = _connected(credits=1000)
    ble.record = False
    block = bytearray(335)  # one 8 ch x 20 x 16-bit R_SAMPLES frame
    for _ in range(50):  # warm up: the views of every size used get made once
        link.write(block, 0, len(block))
        link.readinto(buf)
        ble.radio_done()
    gc.collect()
    before = gc.mem_alloc()
    n0 = ble.notify_count
    for _ in range(200):
        link.write(block, 0, len(block))
        link.readinto(buf)
        ble.radio_done()
    assert gc.mem_alloc() == before
    assert ble.notify_count - n0 >= 200 and ble.truncated == 0


# ---- the whole device over the link ---------------------------------------------------
def test_device_answers_over_ble():
    from garmentfw.device import Device

    ble, link = _link()
    dev = Device(Board(link=link))
    ble.central_connect(0)
    dev.step()
    ble.mtu_exchanged(0, 247)
    got = []
    de = Deframer(lambda t, s, p, n: got.append((t, bytes(p[3:3 + n]))), lambda code: got.append(("err", code)))
    fr = Framer()
    for ptype in (wire.T_HELLO, wire.T_INFO):
        pkt = Framer.packet()
        n = fr.encode(pkt, ptype, 0)
        frame = bytes(fr.out[:n])
        for i in range(0, n, 20):  # a central with the default MTU writes 20-byte pieces
            ble.central_write(0, link._rx, frame[i:i + 20])
    for _ in range(20):
        dev.step()
        ble.radio_done()
    data = _received(ble)
    de.feed(data, len(data))
    types = [t for t, _b in got]
    assert types == [wire.R_EVENT, wire.R_HELLO, wire.R_INFO] or types == [wire.R_HELLO, wire.R_INFO], got
    info = [b for t, b in got if t == wire.R_INFO][0]
    assert b'"board": "test"' in info and len(info) > 244  # more than one notification
    assert ble.truncated == 0 and max(len(p) for _c, _h, p in ble.notified) <= 244
    ble.central_disconnect(0)
    dev.step()
    assert not dev.streaming and ble.advertising is not None
