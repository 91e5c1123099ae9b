"""Bluetooth LE: the garment's Nordic UART Service (NUS) through bleak.

The garment is a GATT server with the NUS: the host writes request frames to RX
(write without response, chunked to ATT MTU - 3) and subscribes to TX, whose
notifications carry the garment's frames in pieces of up to MTU - 3 bytes. The
framing above (COBS + CRC + sequence numbers, ``garment.protocol``) finds the frame
boundaries, so this transport only turns notifications back into a byte stream.

A dropped link (out of range, garment reset) makes :meth:`BleTransport.read` raise
:class:`TransportClosed`; :meth:`BleTransport.reconnect` finds the garment again (it
re-advertises) and re-subscribes, after which the client restarts its stream and
reports the samples lost meanwhile as a gap (the AFE sample counter keeps running).

``backend`` / ``scanner_backend`` are bleak backend classes: ``None`` picks the
platform's stack (BlueZ, CoreBluetooth, WinRT); the simulated radio
(``garment.sim.ble_radio``) supplies bumble-based ones so that this very code runs
over real ATT/GATT in tests.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, NamedTuple

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from garment.transports.base import Transport, TransportClosed, TransportError

log = logging.getLogger(__name__)

NUS_SERVICE_UUID = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX_UUID = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # host -> garment: write / write without response
NUS_TX_UUID = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # garment -> host: notify
ATT_HEADER = 3  # opcode + handle: a notification or write command carries MTU - 3 bytes
DEFAULT_MTU = 23  # before (or without) an MTU exchange
GARMENT_MTU = 247  # what the garment asks for (BLE 4.2 data length extension: 251-byte LL payloads)
NAME_PREFIX = "Garment-"


class ScanResult(NamedTuple):
    """One garment heard advertising the NUS."""

    name: str | None
    address: str
    rssi: int


def _has_nus(adv: AdvertisementData) -> bool:
    return NUS_SERVICE_UUID in (u.lower() for u in adv.service_uuids)


async def scan(
    timeout: float = 5.0, backend: type[BaseBleakScanner] | None = None, until: int | None = None
) -> list[ScanResult]:
    """Garments advertising the Nordic UART Service, strongest signal first.

    Listens for ``timeout`` seconds, or until ``until`` garments were heard (with a name).
    """
    seen: dict[str, ScanResult] = {}
    enough = asyncio.Event()

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        if not _has_nus(adv):
            return  # backends filter best-effort only
        name = adv.local_name or device.name
        old = seen.get(device.address)
        seen[device.address] = ScanResult(name or (old.name if old else None), device.address, adv.rssi)
        if until is not None and sum(1 for r in seen.values() if r.name) >= until:
            enough.set()

    try:
        async with BleakScanner(on_adv, service_uuids=[NUS_SERVICE_UUID], backend=backend):
            try:
                await asyncio.wait_for(enough.wait(), timeout)
            except asyncio.TimeoutError:
                pass
    except (BleakError, OSError) as e:
        raise TransportError(f"Bluetooth is not available ({e or type(e).__name__})") from None
    return sorted(seen.values(), key=lambda r: -r.rssi)


class BleTransport(Transport):
    """A garment over BLE: ``BleTransport("C4:DE:E2:12:34:56")`` (or its advertised name).

    ``rssi`` is the signal strength of the garment's last advertisement (dBm), seen when
    the link was (re-)established; ``mtu`` the negotiated ATT MTU.
    """

    def __init__(
        self,
        address: str,
        backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        *,
        pair: bool = True,
        scan_timeout: float = 10.0,
        max_attempts: int = 3,
    ) -> None:
        self.address = address
        self.name = f"ble:{address}"
        self.rssi: int | None = None
        self.device_name: str | None = None
        self.mtu = DEFAULT_MTU
        self.notifications = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.writes = 0
        self.reconnects = 0
        self._backend = backend
        self._scanner_backend = scanner_backend
        self._pair = pair
        self._scan_timeout = scan_timeout
        self._max_attempts = max_attempts
        self._client: BleakClient | None = None
        self._rx: BleakGATTCharacteristic | None = None
        self._chunk = DEFAULT_MTU - ATT_HEADER
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._closing = False

    # ---- connection ----------------------------------------------------------------
    async def open(self) -> None:
        self._closing = False
        await self._connect()

    async def _find(self) -> BLEDevice:
        """Listen for the garment's advertisement (by address, or by name)."""
        want = self.address.upper()
        try:
            async with asyncio.timeout(self._scan_timeout):
                async with BleakScanner(service_uuids=[NUS_SERVICE_UUID], backend=self._scanner_backend) as scanner:
                    async for device, adv in scanner.advertisement_data():
                        name = adv.local_name or device.name
                        if device.address.upper() == want or (name is not None and name.upper() == want):
                            self.rssi = adv.rssi
                            self.device_name = name
                            return device
        except TimeoutError:
            raise TransportError(
                f"{self.name}: no garment advertising as {self.address} within {self._scan_timeout:.0f} s"
            ) from None
        except (BleakError, OSError) as e:
            raise TransportError(f"{self.name}: Bluetooth is not available ({e or type(e).__name__})") from None
        raise TransportError(f"{self.name}: scan ended without finding {self.address}")

    async def _connect(self) -> None:
        from bleak_retry_connector import establish_connection

        device = await self._find()
        kwargs: dict[str, Any] = {}
        if self._backend is not None:
            kwargs["backend"] = self._backend
        try:
            client = await establish_connection(
                BleakClient, device, self.name, disconnected_callback=self._on_disconnected,
                max_attempts=self._max_attempts, pair=self._pair, **kwargs,
            )
        except (BleakError, asyncio.TimeoutError, OSError) as e:
            raise TransportError(f"{self.name}: cannot connect: {e or type(e).__name__}") from None
        try:
            rx = client.services.get_characteristic(NUS_RX_UUID)
            tx = client.services.get_characteristic(NUS_TX_UUID)
            if rx is None or tx is None:
                raise TransportError(f"{self.name}: not a garment (no Nordic UART Service)")
            self._client = client
            self._rx = rx
            self.mtu = await self._negotiated_mtu(client)
            self._chunk = max(DEFAULT_MTU - ATT_HEADER, min(self.mtu - ATT_HEADER, rx.max_write_without_response_size))
            await client.start_notify(tx, self._on_notify)
        except BleakError as e:
            self._client = None
            await self._drop(client)
            raise TransportError(f"{self.name}: cannot subscribe to the garment: {e}") from None
        except BaseException:
            self._client = None
            await self._drop(client)
            raise
        log.info("%s: connected, MTU %d, writes of %d bytes, RSSI %s", self.name, self.mtu, self._chunk, self.rssi)

    @staticmethod
    async def _negotiated_mtu(client: BleakClient) -> int:
        backend = getattr(client, "_backend", None)
        acquire = getattr(backend, "_acquire_mtu", None)  # BlueZ reports 23 until asked (bleak docs)
        if acquire is not None:
            try:
                await acquire()
            except Exception as e:  # noqa: BLE001 - an older BlueZ: keep the default
                log.debug("MTU acquisition failed: %s", e)
        try:
            return int(client.mtu_size)
        except Exception:  # noqa: BLE001 - backend without the information
            return DEFAULT_MTU

    @staticmethod
    async def _drop(client: BleakClient) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), 5.0)
        except Exception as e:  # noqa: BLE001 - going away anyway
            log.debug("disconnect failed: %s", e)

    def _on_disconnected(self, client: BleakClient) -> None:
        if client is not self._client:
            return  # a stale client from before a reconnect
        self._client = None
        if not self._closing:
            self._queue.put_nowait(TransportClosed(f"{self.name}: BLE link lost"))

    def _on_notify(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self.notifications += 1
        self.rx_bytes += len(data)
        self._queue.put_nowait(bytes(data))

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def reconnect(self) -> None:
        """Re-establish the link after it dropped; bytes received before the drop stay queued."""
        old, self._client = self._client, None
        if old is not None:
            await self._drop(old)
        # Forget the end-of-link marker(s); data that arrived before them stays in order.
        kept: list[bytes | BaseException] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not isinstance(item, BaseException):
                kept.append(item)
        for item in kept:
            self._queue.put_nowait(item)
        self._closing = False
        await self._connect()
        self.reconnects += 1

    # ---- bytes ---------------------------------------------------------------------
    async def read(self) -> bytes:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            self._queue.put_nowait(item)  # every later read fails the same way
            raise item
        return item

    async def write(self, data: bytes) -> None:
        # One frame's chunks must not interleave with another writer's: hold the lock.
        async with self._write_lock:
            client, rx = self._client, self._rx
            if client is None or rx is None or not client.is_connected:
                raise TransportClosed(f"{self.name}: not connected")
            step = self._chunk
            view = memoryview(data)
            try:
                for i in range(0, len(view), step):
                    piece = view[i : i + step]
                    await client.write_gatt_char(rx, piece, response=False)
                    self.writes += 1
                    self.tx_bytes += len(piece)
            except BleakError as e:
                raise TransportClosed(f"{self.name}: write failed: {e}") from None

    async def close(self) -> None:
        self._closing = True
        client, self._client = self._client, None
        if client is not None:
            await self._drop(client)
