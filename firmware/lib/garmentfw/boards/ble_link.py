# The garment's Bluetooth LE link: the framed protocol (the same bytes as over USB) on
# the Nordic UART Service, with MicroPython's `bluetooth` module (NimBLE on ESP32).
#
# GATT: service 6E400001-B5A3-F393-E0A9-E50E24DCCA9E with
#   RX 6E400002 (write, write without response; encryption required): host -> garment,
#      appended into a 2 kB stack buffer (gatts_set_buffer append mode), read by the loop;
#   TX 6E400003 (notify): garment -> host, notifications of at most MTU - 3 bytes.
# Advertising: flags + the NUS UUID (21 bytes), the name "Garment-XXXX" (last MAC bytes)
# in the scan response. One host at a time; advertising resumes when it goes.
# MTU: 247 preferred (config(mtu=...)); the peripheral also asks for the exchange itself
# (NimBLE can). Until it completes notifications carry 20 bytes.
# Security: LE Secure Connections, bonding, Just Works (the garment has no display or
# keys), keys kept in the Store ("ble_secrets", CRC-verified, atomic); the garment sends a
# security request on connect so the host pairs or re-encrypts before it can write.
# On a stack without pairing (config refuses bond/le_secure) RX does not ask for it.
#
# The IRQ handler only records events; the loop (readinto/write, called every pass)
# does the work: reading RX, sending notifications from a preallocated TX ring,
# restarting advertising, saving bonds. Nothing allocates per notification.
# `wired = False`: the auth service refuses provisioning over this link.
import struct
import time

import bluetooth
import micropython
from micropython import const

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_CONNECTION_UPDATE = const(27)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)
_IRQ_PASSKEY_ACTION = const(31)

_FLAG_WRITE_NO_RESPONSE = const(0x0004)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_FLAG_WRITE_ENCRYPTED = const(0x1000)

_IO_CAPABILITY_NO_INPUT_OUTPUT = const(3)

_ADV_INTERVAL_US = const(100000)
_PREFERRED_MTU = const(247)
_DEFAULT_MTU = const(23)
_ATT_HEADER = const(3)
_MAX_PAYLOAD = const(244)  # _PREFERRED_MTU - _ATT_HEADER
_RX_BUFFER = const(2048)  # > one upload frame (MAX_ENCODED) plus what arrives while the loop works
_TX_RING = const(4096)
_NOTIFY_PER_PASS = const(8)  # bounds the time one loop pass spends in the stack
_MAX_SECRETS = const(48)  # a few bonds (each is several secrets: keys, CCCDs)
_SECRETS = "ble_secrets"

NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"


def uuid128_le(s: str) -> bytes:
    """A 128-bit UUID string as it goes on air (little-endian), for advertising data."""
    h = s.replace("-", "")
    return bytes(int(h[i:i + 2], 16) for i in range(30, -2, -2))


def advertising_payloads(name: str):
    """(advertising data, scan response): flags + NUS UUID; the complete local name."""
    adv = b"\x02\x01\x06" + b"\x11\x07" + uuid128_le(NUS_SERVICE)  # LE general discoverable, no BR/EDR
    nm = name.encode()
    return adv, bytes((len(nm) + 1, 0x09)) + nm


@micropython.viper
def _copy(src: ptr8, so: int, dst: ptr8, do: int, n: int):
    i = 0
    while i < n:
        dst[do + i] = src[so + i]
        i += 1


class BleLink:
    """The link interface of device.py over BLE: readinto / write / connected / dropped_client."""

    wired = False

    def __init__(self, store=None, name=None, require_encryption: bool = True, ble=None):
        b = ble if ble is not None else bluetooth.BLE()
        self._ble = b
        b.active(True)
        self._store = store
        self._secrets: list = []  # [sec_type, key, value] (bonds), loaded from and saved to the store
        self._secrets_dirty = False
        self._load_secrets()
        try:
            b.config(mtu=_PREFERRED_MTU)
        except (ValueError, OSError):
            pass
        try:
            b.config(bond=True, le_secure=True, mitm=False, io=_IO_CAPABILITY_NO_INPUT_OUTPUT)
            self.secure = True
        except (ValueError, OSError):
            self.secure = False  # a stack built without the security manager
        mac = b.config("mac")[1]
        self.name = name or "Garment-%02X%02X" % (mac[4], mac[5])
        try:
            b.config(gap_name=self.name)
        except (ValueError, OSError):
            pass
        rx_flags = _FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE
        if require_encryption and self.secure:
            rx_flags |= _FLAG_WRITE_ENCRYPTED
        svc = (bluetooth.UUID(NUS_SERVICE), ((bluetooth.UUID(NUS_RX), rx_flags), (bluetooth.UUID(NUS_TX), _FLAG_NOTIFY)))
        handles = b.gatts_register_services((svc,))
        self._rx = handles[0][0]  # ints (the stubs say memoryview)
        self._tx = handles[0][1]
        b.gatts_set_buffer(self._rx, _RX_BUFFER, True)
        self._adv, self._resp = advertising_payloads(self.name)
        # TX ring and the notification buffer, with one view per payload size (made on first use).
        self._ring = bytearray(_TX_RING)
        self._start = 0
        self._used = 0
        self._chunk = bytearray(_MAX_PAYLOAD)
        self._chunk_mv = memoryview(self._chunk)
        self._views = [None] * (_MAX_PAYLOAD + 1)
        self._rx_data = b""
        self._rx_off = 0
        # Written by the IRQ handler, acted on by the loop.
        self._conn = -1
        self._mtu = _DEFAULT_MTU
        self._rx_ready = False
        self._new_conn = False
        self._dropped = False
        self._advertising = False
        self.encrypted = False
        self.bonded = False
        self.conn_interval = 0  # units of 1.25 ms
        # Counters (for status and tests).
        self.connects = 0
        self.notifications = 0
        self.notify_busy = 0  # passes that found the stack's buffers full
        self.tx_bytes = 0
        self.rx_bytes = 0
        self.secret_refusals = 0
        b.irq(self._irq)
        self._advertise()

    # ---- events (IRQ context: record only) -----------------------------------------
    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            conn = data[0]
            if self._conn >= 0:
                self._ble.gap_disconnect(conn)  # one host at a time
                return None
            self._mtu = _DEFAULT_MTU
            self.encrypted = False
            self.bonded = False
            self._advertising = False  # the stack stops advertising on a connection
            self._conn = conn
            self._new_conn = True
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self._conn:
                self._conn = -1
                self._dropped = True
        elif event == _IRQ_GATTS_WRITE:
            if data[0] == self._conn and data[1] == self._rx:
                self._rx_ready = True
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self._conn:
                self._mtu = data[1]
        elif event == _IRQ_CONNECTION_UPDATE:
            if data[0] == self._conn:
                self.conn_interval = data[1]
        elif event == _IRQ_ENCRYPTION_UPDATE:
            if data[0] == self._conn:
                self.encrypted = bool(data[1])
                self.bonded = bool(data[3])
        elif event == _IRQ_GET_SECRET:
            return self._get_secret(data[0], data[1], data[2])
        elif event == _IRQ_SET_SECRET:
            return self._set_secret(data[0], data[1], data[2])
        elif event == _IRQ_PASSKEY_ACTION:
            # We declared no input and no output: only Just Works is acceptable.
            self._ble.gap_passkey(data[0], data[1], 0)
        return None

    # ---- bonds ---------------------------------------------------------------------
    def _get_secret(self, sec_type, index, key):
        if key is None:
            i = 0
            for t, _k, v in self._secrets:
                if t == sec_type:
                    if i == index:
                        return v
                    i += 1
            return None
        k = bytes(key)
        for t, kk, v in self._secrets:
            if t == sec_type and kk == k:
                return v
        return None

    def _set_secret(self, sec_type, key, value) -> bool:
        k = bytes(key)
        for i in range(len(self._secrets)):
            e = self._secrets[i]
            if e[0] == sec_type and e[1] == k:
                if value is None:
                    self._secrets.pop(i)
                else:
                    e[2] = bytes(value)
                self._secrets_dirty = True
                return True
        if value is None:
            return False
        if len(self._secrets) >= _MAX_SECRETS:
            self.secret_refusals += 1
            return False
        self._secrets.append([sec_type, k, bytes(value)])
        self._secrets_dirty = True
        return True

    def _load_secrets(self):
        if self._store is None:
            return
        try:
            raw = self._store.load(_SECRETS)
        except Exception as e:  # a damaged record: bonds are lost, hosts pair again
            print("ble: bonds unreadable (%r), starting without" % (e,))
            return
        if not raw:
            return
        out = []
        p = 0
        try:
            while p < len(raw):
                t, kl = raw[p], raw[p + 1]
                key = bytes(raw[p + 2:p + 2 + kl])
                p += 2 + kl
                vl = struct.unpack_from("<H", raw, p)[0]
                out.append([t, key, bytes(raw[p + 2:p + 2 + vl])])
                p += 2 + vl
        except (IndexError, ValueError):
            print("ble: bonds record malformed, starting without")
            return
        self._secrets = out[:_MAX_SECRETS]

    def _save_secrets(self):
        self._secrets_dirty = False
        if self._store is None:
            return
        parts = []
        for t, k, v in self._secrets:
            parts.append(bytes((t, len(k))) + k + struct.pack("<H", len(v)) + v)
        try:
            self._store.save(_SECRETS, b"".join(parts), keep_previous=False)
        except Exception as e:  # storage trouble must not take the link down
            print("ble: cannot save bonds: %r" % (e,))

    # ---- the loop side ---------------------------------------------------------------
    def _advertise(self):
        self._ble.gap_advertise(_ADV_INTERVAL_US, self._adv, resp_data=self._resp)
        self._advertising = True

    def _service(self):
        if self._new_conn:
            self._new_conn = False
            self._start = 0
            self._used = 0  # nothing queued for a previous host belongs to this one
            self.connects += 1
            conn = self._conn
            if conn >= 0:
                if self.secure:
                    try:
                        self._ble.gap_pair(conn)  # security request: the host bonds or re-encrypts
                    except OSError:
                        pass
                try:
                    self._ble.gattc_exchange_mtu(conn)
                except (OSError, ValueError):
                    pass  # BTstack: the central starts the exchange
        if self._conn < 0:
            if self._used:
                self._start = 0
                self._used = 0
            if not self._advertising:
                try:
                    self._advertise()
                except OSError:
                    pass  # the stack is still tearing the link down: next pass
        if self._secrets_dirty:
            self._save_secrets()

    def _pump(self):
        conn = self._conn
        if conn < 0 or not self._used:
            return
        payload = self._mtu - _ATT_HEADER
        if payload > _MAX_PAYLOAD:
            payload = _MAX_PAYLOAD
        sent = 0
        while self._used and sent < _NOTIFY_PER_PASS:
            k = self._used if self._used < payload else payload
            run = _TX_RING - self._start
            if run >= k:
                _copy(self._ring, self._start, self._chunk, 0, k)
            else:
                _copy(self._ring, self._start, self._chunk, 0, run)
                _copy(self._ring, 0, self._chunk, run, k - run)
            view = self._views[k]
            if view is None:
                view = self._chunk_mv[:k]
                self._views[k] = view
            try:
                self._ble.gatts_notify(conn, self._tx, view)
            except OSError:
                self.notify_busy += 1  # the stack's buffers are full: the next pass retries
                return
            self._start = (self._start + k) % _TX_RING
            self._used -= k
            self.notifications += 1
            self.tx_bytes += k
            sent += 1

    def connected(self) -> bool:
        return self._conn >= 0

    def dropped_client(self) -> bool:
        """True once after the host disconnected."""
        d = self._dropped
        self._dropped = False
        return d

    def readinto(self, buf) -> int:
        self._service()
        self._pump()
        if self._dropped:
            # The host went: forget what it wrote last; the device resets its deframer
            # (dropped_client) before anything is read for the next host.
            self._rx_data = b""
            if self._rx_ready:
                self._rx_ready = False
                self._ble.gatts_read(self._rx)
            return 0
        if self._rx_off >= len(self._rx_data) and self._rx_ready:
            self._rx_ready = False  # cleared first: a write racing the read sets it again
            self._rx_data = self._ble.gatts_read(self._rx)  # what was appended; the stack clears it
            self._rx_off = 0
        left = len(self._rx_data) - self._rx_off
        if left <= 0:
            return 0
        n = len(buf)
        if left < n:
            n = left
        _copy(self._rx_data, self._rx_off, buf, 0, n)
        self._rx_off += n
        self.rx_bytes += n
        return n

    def write(self, buf, off: int, n: int) -> int:
        if self._conn < 0:
            return 0
        free = _TX_RING - self._used
        if n > free:
            n = free
        if n:
            end = (self._start + self._used) % _TX_RING
            run = _TX_RING - end
            if run >= n:
                _copy(buf, off, self._ring, end, n)
            else:
                _copy(buf, off, self._ring, end, run)
                _copy(buf, off + run, self._ring, 0, n - run)
            self._used += n
        self._pump()
        return n

    @property
    def mtu(self) -> int:
        return self._mtu

    def wait(self, ms: int) -> None:
        if not self._rx_ready and not self._new_conn:
            time.sleep_ms(ms)
