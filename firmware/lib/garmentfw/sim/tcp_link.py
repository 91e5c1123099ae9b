# The simulated garment's "USB serial": a TCP server on loopback that the host
# opens with pyserial (socket://127.0.0.1:PORT), exactly like /dev/ttyACM0.
# One host at a time; a new connection replaces a vanished one (like a replug).
import socket

from micropython import const

_IPPROTO_TCP = const(6)  # Linux values; the unix port's socket module has no names for them
_TCP_NODELAY = const(1)
_SO_SNDBUF = const(7)
_BLE_SNDBUF = const(4096)  # behind the virtual radio: hold about what ble_link.py's TX ring holds


def listen(port: int, host: str = "127.0.0.1"):
    """A non-blocking loopback TCP server socket (one pending connection)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(socket.getaddrinfo(host, port)[0][-1])
    s.listen(1)
    s.setblocking(False)
    return s


def accept(server):
    """The next waiting connection (non-blocking, no Nagle delay), or None."""
    try:
        c, _ = server.accept()
    except OSError:
        return None
    c.setblocking(False)
    c.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)  # telemetry latency: no Nagle batching
    return c


class TcpLink:
    wired = True  # a cable (USB CDC; the sim's socket stands for one): provisioning allowed
    on_input = None  # called (no arguments) after each read that got bytes: the host is alive

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.server = listen(port, host)
        self.client = None
        self._dropped = False
        self.port = port

    def _accept(self):
        c = accept(self.server)
        if c is None:
            return
        if self.client is not None:
            self._close_client()
        if not self.wired:
            c.setsockopt(socket.SOL_SOCKET, _SO_SNDBUF, _BLE_SNDBUF)
        self.client = c
        print("link: host connected")

    def _close_client(self):
        try:
            self.client.close()
        except OSError:
            pass
        self.client = None
        self._dropped = True
        print("link: host gone")

    def connected(self) -> bool:
        return self.client is not None

    def dropped_client(self) -> bool:
        """True once after the host disconnected (or was replaced)."""
        d = self._dropped
        self._dropped = False
        return d

    def readinto(self, buf) -> int:
        if self.client is None:
            self._accept()
            if self.client is None:
                return 0
        try:
            n = self.client.readinto(buf)
        except OSError:
            self._close_client()
            return 0
        if n is None:
            self._accept()  # a new host replaces one that vanished without closing
            return 0
        if n == 0:
            self._close_client()
            return 0
        cb = self.on_input
        if cb is not None:
            cb()
        return n

    def write(self, buf, off: int, n: int) -> int:
        c = self.client
        if c is None:
            return 0
        try:
            k = c.write(buf, off, n)
        except OSError:
            self._close_client()
            return 0
        return k or 0

    def sockets(self):
        return (self.server, self.client)
