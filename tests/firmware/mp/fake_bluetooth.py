# A faithful stand-in for MicroPython's `bluetooth` module (NimBLE flavour), for unit tests
# of the BLE link on the unix port (which has no Bluetooth). Install it before importing
# the code under test:  import sys, fake_bluetooth; sys.modules["bluetooth"] = fake_bluetooth
#
# What it models, as the real module behaves (docs.micropython.org, library/bluetooth):
# - BLE() is a singleton; active(); config() get/set (mac, gap_name, mtu 23..517, bond,
#   le_secure, mitm, io, addr_mode; unknown names raise ValueError; pairing options raise
#   ValueError when built with pairing=False, like a stack without a security manager);
# - irq(handler): events come as (event, data) with the real constant values; addresses
#   and secrets arrive as memoryviews into buffers the stack reuses (copy them!);
#   _IRQ_GET_SECRET / _IRQ_SET_SECRET use the handler's return value;
# - gatts_register_services(): handles as the real one returns them (per service, the
#   value handles of its characteristics and descriptors, in definition order); a
#   characteristic with notify/indicate gets a CCCD handle (not returned);
# - gatts_write / gatts_read / gatts_set_buffer: values are limited to the buffer size
#   (default 20 bytes); in append mode central writes are appended (excess dropped) and
#   gatts_read() returns and clears the value;
# - gatts_notify(conn, handle, data): needs a connection (OSError ENOTCONN); the stack
#   holds `credits` notifications at a time (OSError ENOMEM when full; radio_done()
#   frees them, as the controller sending them would); a notification longer than
#   MTU - 3 is TRUNCATED as the ATT layer does (counted in `truncated`: tests assert 0);
# - gap_advertise(interval_us, adv_data, *, resp_data, connectable): payloads over 31
#   bytes raise OSError(EINVAL); None stops; a connection stops advertising;
# - gap_disconnect(conn): False if not connected, else the disconnect IRQ comes later
#   (deliver it with process());
# - gattc_exchange_mtu / gap_pair / gap_passkey are recorded.
# Test side: central_connect, central_disconnect, central_write, mtu_exchanged,
# encryption_update, connection_update, get_secret, set_secret, radio_done, process.
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

FLAG_READ = const(0x0002)
FLAG_WRITE_NO_RESPONSE = const(0x0004)
FLAG_WRITE = const(0x0008)
FLAG_NOTIFY = const(0x0010)
FLAG_INDICATE = const(0x0020)
FLAG_WRITE_ENCRYPTED = const(0x1000)

_ENOMEM = const(12)
_EINVAL = const(22)
_ENOTCONN = const(107)
_DEFAULT_BUFFER = const(20)
_ADV_MAX = const(31)

_CONFIG_KEYS = ("mac", "gap_name", "mtu", "bond", "le_secure", "mitm", "io", "addr_mode", "rxbuf")
_PAIRING_KEYS = ("bond", "le_secure", "mitm", "io")


class UUID:
    def __init__(self, value):
        if isinstance(value, int):
            self._s = "%04X" % value
        else:
            s = value.upper()
            if len(s.replace("-", "")) != 32:
                raise ValueError("invalid UUID")
            self._s = s

    def __eq__(self, other):
        return isinstance(other, UUID) and other._s == self._s

    def __hash__(self):
        return hash(self._s)

    def __str__(self):
        return "UUID('%s')" % self._s


_instance = None


def BLE():
    global _instance
    if _instance is None:
        _instance = _BLE()
    return _instance


def reset(pairing=True, credits=6):
    """A fresh radio (tests start from power-up)."""
    global _instance
    _instance = _BLE(pairing, credits)
    return _instance


class _Value:
    def __init__(self):
        self.data = bytearray()
        self.cap = _DEFAULT_BUFFER
        self.append = False


class _BLE:
    def __init__(self, pairing=True, credits=6):
        self._active = False
        self._pairing = pairing
        self._cfg = {"mac": (0, b"\x24\x6f\x28\xa1\x4b\x2c"), "gap_name": "MPY", "mtu": 23,
                     "addr_mode": 0, "rxbuf": 0}
        self._irq = None
        self._values = {}
        self._next_handle = 1
        self.cccd = {}  # value handle -> CCCD handle
        self.flags = {}  # value handle -> characteristic flags
        self.conns = {}  # conn -> mtu
        self.credits_max = credits
        self.in_flight = 0
        self.notified = []  # (conn, handle, bytes) when record is True
        self.record = True
        self.notify_count = 0
        self.notify_bytes = 0
        self.truncated = 0
        self.enomem = 0
        self.advertising = None  # (interval_us, adv, resp) while advertising
        self.adv_calls = 0
        self.mtu_requests = []
        self.pair_requests = []
        self.passkeys = []
        self.disconnect_requests = []
        self._pending = []
        self._addr = bytearray(6)  # reused for every event, like the stack's buffers
        self._kbuf = bytearray(64)
        self._vbuf = bytearray(64)

    # ---- the module's API --------------------------------------------------------
    def active(self, *a):
        if a:
            self._active = bool(a[0])
        return self._active

    def config(self, *a, **kw):
        if a:
            if len(a) != 1 or kw:
                raise TypeError("config() takes one name or keywords")
            name = a[0]
            if name not in self._cfg:
                raise ValueError("unknown config param")
            return self._cfg[name]
        for k, v in kw.items():
            if k not in _CONFIG_KEYS or k == "mac":
                raise ValueError("unknown config param")
            if k in _PAIRING_KEYS and not self._pairing:
                raise ValueError("unknown config param")
            if k == "mtu" and not 23 <= v <= 517:
                raise ValueError("invalid MTU")
            self._cfg[k] = v
        return None

    def irq(self, handler):
        self._irq = handler

    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._need_active()
        if interval_us is None:
            self.advertising = None
            return
        if adv_data is not None and len(adv_data) > _ADV_MAX or resp_data is not None and len(resp_data) > _ADV_MAX:
            raise OSError(_EINVAL)
        self.advertising = (interval_us, bytes(adv_data or b""), bytes(resp_data or b""), connectable)
        self.adv_calls += 1

    def gap_disconnect(self, conn):
        if conn not in self.conns:
            return False
        self.disconnect_requests.append(conn)
        self._pending.append((_IRQ_CENTRAL_DISCONNECT, conn))
        return True

    def gap_pair(self, conn):
        if not self._pairing:
            raise OSError(_EINVAL)
        if conn not in self.conns:
            raise OSError(_ENOTCONN)
        self.pair_requests.append(conn)

    def gap_passkey(self, conn, action, passkey):
        self.passkeys.append((conn, action, passkey))

    def gattc_exchange_mtu(self, conn):
        if conn not in self.conns:
            raise OSError(_ENOTCONN)
        self.mtu_requests.append(conn)

    def gatts_register_services(self, services):
        self._need_active()
        out = []
        for uuid, chars in services:
            if not isinstance(uuid, UUID):
                raise TypeError("service UUID")
            self._next_handle += 1  # service declaration
            handles = []
            for ch in chars:
                cuuid, flags = ch[0], ch[1]
                if not isinstance(cuuid, UUID):
                    raise TypeError("characteristic UUID")
                self._next_handle += 1  # characteristic declaration
                h = self._next_handle
                self._next_handle += 1
                self._values[h] = _Value()
                self.flags[h] = flags
                handles.append(h)
                if flags & (FLAG_NOTIFY | FLAG_INDICATE):
                    self.cccd[h] = self._next_handle
                    self._next_handle += 1
                for d in ch[2] if len(ch) > 2 else ():
                    self._values[self._next_handle] = _Value()
                    handles.append(self._next_handle)
                    self._next_handle += 1
            out.append(tuple(handles))
        return tuple(out)

    def gatts_set_buffer(self, handle, length, append=False):
        v = self._value(handle)
        v.cap = length
        v.append = bool(append)
        v.data = bytearray(v.data[:length])

    def gatts_write(self, handle, data, send_update=False):
        v = self._value(handle)
        v.data = bytearray(data[: v.cap])

    def gatts_read(self, handle):
        v = self._value(handle)
        out = bytes(v.data)
        if v.append:
            v.data = bytearray()
        return out

    def gatts_notify(self, conn, handle, data=None):
        self._value(handle)
        if conn not in self.conns:
            raise OSError(_ENOTCONN)
        if self.in_flight >= self.credits_max:
            self.enomem += 1
            raise OSError(_ENOMEM)
        payload = self._values[handle].data if data is None else data
        limit = self.conns[conn] - 3
        n = len(payload)
        if n > limit:
            self.truncated += 1
            n = limit
        self.in_flight += 1
        self.notify_count += 1
        self.notify_bytes += n
        if self.record:
            self.notified.append((conn, handle, bytes(payload[:n])))

    # ---- helpers -----------------------------------------------------------------
    def _need_active(self):
        if not self._active:
            raise OSError(_EINVAL)

    def _value(self, handle):
        v = self._values.get(handle)
        if v is None:
            raise ValueError("invalid handle")
        return v

    def _fire(self, event, data):
        if self._irq is None:
            return None
        return self._irq(event, data)

    def _addr_view(self, addr):
        self._addr[:] = addr
        return memoryview(self._addr)

    # ---- the test's side (the central and the radio) ------------------------------
    def central_connect(self, conn=0, addr=b"\xaa\xbb\xcc\xdd\xee\xff", addr_type=0):
        self.conns[conn] = 23
        self.advertising = None  # a connection ends advertising
        self.in_flight = 0
        self._fire(_IRQ_CENTRAL_CONNECT, (conn, addr_type, self._addr_view(addr)))

    def central_disconnect(self, conn=0, addr=b"\xaa\xbb\xcc\xdd\xee\xff", addr_type=0):
        self.conns.pop(conn, None)
        self.in_flight = 0
        self._fire(_IRQ_CENTRAL_DISCONNECT, (conn, addr_type, self._addr_view(addr)))
        for i in range(6):
            self._addr[i] = 0xEE

    def central_write(self, conn, handle, data):
        """The central writes (request or command): stored as the stack does, then the IRQ."""
        if conn not in self.conns:
            raise OSError(_ENOTCONN)
        v = self._value(handle)
        if v.append:
            room = v.cap - len(v.data)
            v.data += data[:room]
        else:
            v.data = bytearray(data[: v.cap])
        self._fire(_IRQ_GATTS_WRITE, (conn, handle))

    def mtu_exchanged(self, conn, central_mtu):
        mtu = min(central_mtu, self._cfg["mtu"])
        if mtu < 23:
            mtu = 23
        self.conns[conn] = mtu
        self._fire(_IRQ_MTU_EXCHANGED, (conn, mtu))
        return mtu

    def connection_update(self, conn, interval, latency=0, timeout=400, status=0):
        self._fire(_IRQ_CONNECTION_UPDATE, (conn, interval, latency, timeout, status))

    def encryption_update(self, conn, encrypted=True, authenticated=False, bonded=True, key_size=16):
        self._fire(_IRQ_ENCRYPTION_UPDATE, (conn, encrypted, authenticated, bonded, key_size))

    def _view(self, buf, data):
        buf[: len(data)] = data
        return memoryview(buf)[: len(data)]

    def get_secret(self, sec_type, index, key=None):
        k = None if key is None else self._view(self._kbuf, key)
        return self._fire(_IRQ_GET_SECRET, (sec_type, index, k))

    def set_secret(self, sec_type, key, value):
        v = None if value is None else self._view(self._vbuf, value)
        r = self._fire(_IRQ_SET_SECRET, (sec_type, self._view(self._kbuf, key), v))
        for i in range(len(self._kbuf)):  # the stack reuses these buffers right away
            self._kbuf[i] = 0xEE
            self._vbuf[i] = 0xEE
        return r

    def passkey_action(self, conn, action, passkey=0):
        self._fire(_IRQ_PASSKEY_ACTION, (conn, action, passkey))

    def radio_done(self, n=None):
        """The controller sent n queued notifications (all if None): their buffers are free."""
        self.in_flight = 0 if n is None else max(0, self.in_flight - n)

    def process(self):
        """Deliver events the stack raises later (disconnects we asked for)."""
        pending, self._pending = self._pending, []
        for event, conn in pending:
            if event == _IRQ_CENTRAL_DISCONNECT and conn in self.conns:
                self.central_disconnect(conn)
