"""USB serial (and the simulated garment's ``socket://``) through pyserial.

pyserial is blocking, so one reader thread per port hands received bytes to the
asyncio loop; writes go through the default executor so a slow link never blocks it.
"""
from __future__ import annotations

import asyncio
import select
import threading

import serial

from garment.transports.base import Transport, TransportClosed, TransportError


class SerialTransport(Transport):
    """A pyserial URL: ``/dev/ttyACM0``, ``socket://127.0.0.1:7300``, ``rfc2217://...``."""

    def __init__(self, url: str, baudrate: int = 921600) -> None:
        self.url = url
        self.name = url
        self._baud = baudrate
        self._ser: serial.SerialBase | None = None
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._ser = await self._loop.run_in_executor(
                None, lambda: serial.serial_for_url(self.url, baudrate=self._baud, timeout=0)
            )
        except (serial.SerialException, OSError, ValueError) as e:
            raise TransportError(f"cannot open {self.url}: {e}") from None
        sock = getattr(self._ser, "_socket", None)  # socket:// (the simulated garment)
        if sock is not None:
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._thread = threading.Thread(target=self._reader, name=f"serial-rx {self.url}", daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        assert self._ser is not None and self._loop is not None
        ser = self._ser
        put = self._queue.put_nowait
        try:
            fd = ser.fileno()
            while not self._closing:
                # Wait on the descriptor, then take everything waiting in one read:
                # pyserial's in_waiting is only 0/1 for sockets, so it cannot size reads.
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    continue
                data = ser.read(65536)
                if data:
                    self._loop.call_soon_threadsafe(put, data)
        except Exception as e:  # noqa: BLE001 - any failure of the port ends the link
            if not self._closing:
                self._loop.call_soon_threadsafe(put, TransportClosed(f"{self.url}: {e}"))
            return
        if not self._closing:
            self._loop.call_soon_threadsafe(put, TransportClosed(f"{self.url}: closed"))

    async def read(self) -> bytes:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            self._queue.put_nowait(item)  # every later read fails the same way
            raise item
        return item

    async def write(self, data: bytes) -> None:
        if self._ser is None:
            raise TransportClosed(f"{self.url}: not open")
        ser = self._ser
        try:
            await asyncio.get_running_loop().run_in_executor(None, ser.write, data)
        except (serial.SerialException, OSError) as e:
            raise TransportClosed(f"{self.url}: {e}") from None

    async def close(self) -> None:
        self._closing = True
        ser, self._ser = self._ser, None
        if ser is not None:
            ser.close()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 1.0)
