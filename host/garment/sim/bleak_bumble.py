"""A bleak backend (scanner + client) on a bumble central of the virtual radio.

bleak 3 takes ``backend=`` classes: :class:`BumbleScanner` and :class:`BumbleClient`
implement ``BaseBleakScanner`` / ``BaseBleakClient`` over a bumble ``Device`` whose
controller sits on the in-process link of :class:`garment.sim.ble_radio.VirtualRadio`.
The radio hands out subclasses bound to itself (``radio.scanner_backend``,
``radio.client_backend``), so host code (``BleTransport``) passes them like any
backend and runs unchanged over real ATT/GATT: MTU exchange, discovery, CCCD writes,
write commands, notifications, pairing/encryption, disconnections.

The client behaves like BlueZ where that matters: ``pair=True`` pairs (LE Secure
Connections, Just Works) or re-encrypts with the bond's keys before ``connect()``
returns; a security request from the peripheral is honoured the same way; the MTU
request asks for 517 and gets what the peripheral allows.
"""
from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from typing import TYPE_CHECKING, Any, Callable, Optional

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import core, hci
from bumble.device import Advertisement, Connection, Peer

if TYPE_CHECKING:
    from garment.sim.ble_radio import VirtualRadio

log = logging.getLogger(__name__)

_CLIENT_MTU = 517  # what BlueZ / Android / iOS ask for; the peripheral answers with its own limit

_PROPS = [
    (0x01, "broadcast"), (0x02, "read"), (0x04, "write-without-response"), (0x08, "write"),
    (0x10, "notify"), (0x20, "indicate"), (0x40, "authenticated-signed-writes"), (0x80, "extended-properties"),
]


def _uuid_str(u: core.UUID) -> str:
    """bumble UUID -> bleak's lower-case 128-bit string."""
    return str(uuidlib.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


def address_string(address: hci.Address) -> str:
    """The form bleak shows: ``AA:BB:CC:DD:EE:FF`` (no bumble type suffix)."""
    return address.to_string(with_type_qualifier=False)


def advertisement_data(adv: Advertisement) -> AdvertisementData:
    """bumble's merged advertisement (+ scan response) -> bleak's AdvertisementData."""
    name = None
    uuids: list[str] = []
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    tx_power = None
    for ad_type, raw in adv.data.ad_structures:
        t = int(ad_type)
        if t in (0x08, 0x09):  # shortened / complete local name
            if name is None or t == 0x09:
                name = raw.decode("utf-8", "replace")
        elif t in (0x02, 0x03):  # 16-bit UUID lists
            uuids += [_uuid_str(core.UUID.from_bytes(raw[i : i + 2])) for i in range(0, len(raw) - 1, 2)]
        elif t in (0x06, 0x07):  # 128-bit UUID lists
            uuids += [_uuid_str(core.UUID.from_bytes(raw[i : i + 16])) for i in range(0, len(raw) - 15, 16)]
        elif t == 0xFF and len(raw) >= 2:
            manufacturer[raw[0] | raw[1] << 8] = bytes(raw[2:])
        elif t == 0x16 and len(raw) >= 2:
            service_data[_uuid_str(core.UUID.from_bytes(raw[:2]))] = bytes(raw[2:])
        elif t == 0x0A and raw:
            tx_power = int.from_bytes(raw[:1], "little", signed=True)
    return AdvertisementData(name, manufacturer, service_data, uuids, tx_power, adv.rssi, (adv,))


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend listening on the virtual radio's host adapter."""

    radio: "VirtualRadio"  # bound by VirtualRadio.scanner_backend

    def __init__(
        self,
        detection_callback: Optional[AdvertisementDataCallback],
        service_uuids: Optional[list[str]],
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._listening = False

    def _on_advertisement(self, adv: Advertisement) -> None:
        data = advertisement_data(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = address_string(adv.address)
        device = self.create_or_update_device(address, address, data.local_name, adv, data)
        self.call_detection_callbacks(device, data)

    async def start(self) -> None:
        self.seen_devices = {}
        if not self._listening:
            self._listening = True
            await self.radio.listen(self._on_advertisement)

    async def stop(self) -> None:
        if self._listening:
            self._listening = False
            await self.radio.unlisten(self._on_advertisement)


class BumbleClient(BaseBleakClient):
    """bleak client backend: a GATT client on the virtual radio's host adapter."""

    radio: "VirtualRadio"  # bound by VirtualRadio.client_backend

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._device_name: str | None = None
        if isinstance(address_or_ble_device, BLEDevice):
            self._device_name = address_or_ble_device.name
        self._conn: Connection | None = None
        self._peer: Peer | None = None
        self._local_disconnect = False
        self._securing = asyncio.Lock()
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # ---- connection ----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._conn.att_mtu if self._conn is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._conn is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        timeout = float(kwargs.get("timeout", self._timeout))
        central = await self.radio.host_adapter()
        target = await self.radio.resolve(self.address, timeout)
        if target is None:
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found.")
        try:
            conn = await central.connect(target, timeout=timeout)
        except (core.BaseBumbleError, asyncio.TimeoutError) as e:
            raise BleakError(f"connection to {self.address} failed: {e}") from None
        self._conn = conn
        self._local_disconnect = False
        conn.on(conn.EVENT_DISCONNECTION, self._on_disconnection)
        conn.on(conn.EVENT_SECURITY_REQUEST, self._on_security_request)
        try:
            peer = Peer(conn)
            self._peer = peer
            await peer.request_mtu(_CLIENT_MTU)
            if pair:
                await self._secure(pair=True)
            self.services = await self._discover(peer)
        except BaseException:
            await self.disconnect()
            raise

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        coll = BleakGATTServiceCollection()
        await peer.discover_services()
        conn = self._conn
        for svc in peer.services:
            await peer.discover_characteristics(service=svc)
            bsvc = BleakGATTService(svc, svc.handle, _uuid_str(svc.uuid))
            coll.add_service(bsvc)
            for ch in svc.characteristics:
                await peer.discover_descriptors(characteristic=ch)
                props = [name for bit, name in _PROPS if int(ch.properties) & bit]
                bch = BleakGATTCharacteristic(
                    ch, ch.handle, _uuid_str(ch.uuid), props,  # type: ignore[arg-type]
                    lambda: (conn.att_mtu if conn is not None else 23) - 3, bsvc,
                )
                coll.add_characteristic(bch)
                for d in ch.descriptors:
                    coll.add_descriptor(BleakGATTDescriptor(d, d.handle, _uuid_str(d.type), bch))
        return coll

    def _on_disconnection(self, reason: int) -> None:
        self._conn = None
        self._peer = None
        self.services = None
        if not self._local_disconnect and self._disconnected_callback is not None:
            self._disconnected_callback()

    def _on_security_request(self, _auth_req: Any) -> None:
        # The peripheral asks for security (MicroPython's gap_pair()): pair or re-encrypt, like BlueZ.
        async def answer() -> None:
            try:
                await self._secure(pair=True)
            except (BleakError, core.BaseBumbleError, asyncio.TimeoutError) as e:
                log.warning("%s: security request not honoured: %s", self.address, e)

        asyncio.get_running_loop().create_task(answer())

    async def _secure(self, pair: bool) -> None:
        async with self._securing:
            conn = self._conn
            if conn is None or conn.is_encrypted:
                return
            central = await self.radio.host_adapter()
            keys = await central.keystore.get(str(conn.peer_address)) if central.keystore else None
            try:
                if keys is not None and keys.ltk is not None:
                    await conn.encrypt()
                elif pair:
                    await conn.pair()
            except core.BaseBumbleError as e:
                raise BleakError(f"{self.address}: pairing failed: {e}") from None

    async def disconnect(self) -> None:
        conn = self._conn
        if conn is None:
            return
        self._local_disconnect = True
        try:
            await conn.disconnect()
        except (core.BaseBumbleError, asyncio.TimeoutError) as e:
            log.debug("disconnect: %s", e)
        self._conn = None
        self._peer = None
        self.services = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        await self._secure(pair=True)

    async def unpair(self) -> None:
        central = await self.radio.host_adapter()
        if self._conn is not None and central.keystore is not None:
            await central.keystore.delete(str(self._conn.peer_address))
        await self.disconnect()

    def _need(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    # ---- I/O -----------------------------------------------------------------------
    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False,
                             **kwargs: Any) -> bytearray:
        self._need()
        try:
            return bytearray(await characteristic.obj.read_value())
        except core.ProtocolError as e:
            raise BleakError(f"read of {characteristic.uuid} failed: {e}") from None

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False,
                                   **kwargs: Any) -> bytearray:
        self._need()
        try:
            return bytearray(await descriptor.obj.read_value())
        except core.ProtocolError as e:
            raise BleakError(f"read of {descriptor.uuid} failed: {e}") from None

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any, response: bool) -> None:
        self._need()
        value = bytes(data)
        limit = self.mtu_size - 3
        if not response and len(value) > limit:
            raise BleakError(f"write without response of {len(value)} bytes exceeds MTU - 3 = {limit}")
        try:
            await characteristic.obj.write_value(value, with_response=response)
        except core.ProtocolError as e:
            raise BleakError(f"write to {characteristic.uuid} failed: {e}") from None

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        self._need()
        try:
            await descriptor.obj.write_value(bytes(data), with_response=True)
        except core.ProtocolError as e:
            raise BleakError(f"write to {descriptor.uuid} failed: {e}") from None

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:
        self._need()

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = deliver
        try:
            await characteristic.obj.subscribe(deliver, prefer_notify=True)
        except core.ProtocolError as e:
            raise BleakError(f"subscription to {characteristic.uuid} failed: {e}") from None

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._need()
        deliver = self._subscribers.pop(characteristic.handle, None)
        await characteristic.obj.unsubscribe(deliver)
