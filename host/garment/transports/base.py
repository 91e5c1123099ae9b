"""The transport abstraction: an async byte pipe to one garment."""
from __future__ import annotations

import abc


class TransportError(Exception):
    """The transport could not be opened or failed; the message says why, in one line."""


class TransportClosed(TransportError):
    """The garment went away (cable pulled, process died, BLE link lost)."""


class Transport(abc.ABC):
    """An ordered, reliable-as-the-medium byte stream to a garment.

    Framing, CRC and sequence numbers live above it (``garment.protocol``), so a
    transport only moves bytes and reports when the other side vanishes.

    The contract (one public face over every medium, as bleak's ``BaseBleakClient`` is
    over its backends): ``open``, ``read``, ``write`` and ``close`` are required;
    ``reconnect`` and ``rssi`` are optional capabilities with defaults here, so callers
    use them on any transport without probing for them:

    - :meth:`reconnect` re-establishes the link after :class:`TransportClosed`. The
      default closes and opens again (a serial port or socket); BLE scans for the same
      garment and keeps the bytes received before the drop readable, in order.
    - :attr:`rssi` is the received signal strength in dBm where the medium measures one
      (BLE), else None.
    """

    #: Short description for logs and the TUI (e.g. ``socket://127.0.0.1:7300``).
    name: str = ""
    #: Received signal strength (dBm) on a radio link; None where the medium has none.
    rssi: int | None = None

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect; raise :class:`TransportError` with a readable reason on failure."""

    @abc.abstractmethod
    async def read(self) -> bytes:
        """Wait for the next received bytes; raise :class:`TransportClosed` when gone."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send bytes (the transport chunks them as its medium needs)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect; safe to call twice."""

    async def reconnect(self) -> None:
        """Open the link again after it dropped (default: :meth:`close`, then :meth:`open`);
        raise :class:`TransportError` with a readable reason on failure."""
        await self.close()
        await self.open()
