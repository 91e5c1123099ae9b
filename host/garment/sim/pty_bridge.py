"""Expose the simulated garment's link as a pseudo-terminal, so the host opens a
``/dev/pts/N`` path with pyserial exactly like ``/dev/ttyACM0`` (termios and all)."""
from __future__ import annotations

import os
import select
import socket
import threading
import tty


class PtyBridge:
    """Relays bytes between a pty pair's master side and the sim's TCP link."""

    def __init__(self, host: str, port: int) -> None:
        self.addr = (host, port)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line discipline: a byte pipe like USB CDC
        self.path = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-bridge", daemon=True)
        self._sock: socket.socket | None = None

    def start(self) -> str:
        self._thread.start()
        return self.path

    def _connect(self) -> socket.socket:
        s = socket.create_connection(self.addr, timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        return s

    def _run(self) -> None:
        # The TCP side is opened when the host first writes, like a USB port that
        # is enumerated before anyone opens it.
        sock: socket.socket | None = None
        while not self._stop.is_set():
            fds = [self.master] + ([sock] if sock is not None else [])
            ready, _, _ = select.select(fds, [], [], 0.1)
            if self.master in ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # nobody holds the slave open right now
                    data = b""
                if data:
                    if sock is None:
                        sock = self._connect()
                    sock.setblocking(True)
                    sock.sendall(data)
                    sock.setblocking(False)
            if sock is not None and sock in ready:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                if not data:  # the firmware dropped the link (died or replaced us)
                    sock.close()
                    sock = None
                    continue
                os.write(self.master, data)
        if sock is not None:
            sock.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
