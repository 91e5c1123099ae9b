"""A virtual BLE radio for the simulated garment: real ATT/GATT, simulated air.

Everything runs in the caller's asyncio loop on bumble's in-process ``LocalLink``:

- a **host adapter** (a bumble controller + host: the "hci0" of the PC), used by the
  bleak backend of :mod:`garment.sim.bleak_bumble`, so that the host's own
  ``BleTransport`` runs unchanged;
- one :class:`SimPeripheral` per simulated garment: a bumble device with the
  garment's GATT table (Nordic UART Service, RX write/write-without-response with
  encryption required, TX notify), advertising like the firmware (flags + NUS UUID,
  the name ``Garment-XXXX`` in the scan response), MTU limit 247 and LE data length
  251, LE Secure Connections Just Works bonding with a security request on connect
  (the firmware's ``gap_pair``). It bridges the NUS to the firmware process's TCP link
  (``SimGarment``): RX writes go to the socket, socket bytes leave as notifications
  of at most MTU - 3 bytes, paced by the controller's ACL buffer credits like a
  real controller's. A dropped link closes the socket, exactly as the BLE link
  dropping does for the firmware (it stops streaming and forgets half frames).

bumble's link controller passes PDUs as loop callbacks with no air time, so the link
is as fast as the CPU unless a budget is set: ``conn_interval_ms`` and
``notifications_per_event`` model a connection's capacity (e.g. 15 ms and 6 packets
of 244 B = 97.6 kB/s), for checking what a real link of that quality would carry.

Two small corrections to bumble's link-layer model live here (bumble 0.0.2xx): its
controller reports the advertising data again in place of the scan response, and
a fixed RSSI; ``_RadioController`` delivers the advertiser's real scan response and
the RSSI set with :meth:`VirtualRadio.set_rssi`.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from typing import Any, AsyncIterator, Callable

from bumble import gatt, hci, ll, pairing
from bumble.controller import Controller
from bumble.core import UUID
from bumble.device import Advertisement, Connection, Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from garment.sim.bleak_bumble import BumbleClient, BumbleScanner, address_string
from garment.transports.ble import GARMENT_MTU, NAME_PREFIX, NUS_RX_UUID, NUS_SERVICE_UUID, NUS_TX_UUID

log = logging.getLogger(__name__)

LE_DATA_LENGTH = 251  # LL payload with data length extension (ESP32 NimBLE, any BLE 4.2+ adapter)
CONTROLLER_ACL_BUFFERS = 12  # outstanding ACL packets a controller takes before it says "wait"
FIRMWARE_TX_RING = 4096  # boards/ble_link.py: bytes the firmware holds for the air
_HOST_ADDRESS = "C0:FF:EE:00:00:01"


@dataclasses.dataclass
class _AdvIndWithScanResponse(ll.AdvInd):
    """An ADV_IND that also carries what a scanner would get from SCAN_REQ -> SCAN_RSP."""

    scan_response: bytes = b""


class _RadioController(Controller):
    """bumble's controller with scan responses and settable RSSI (see module docstring)."""

    def __init__(self, radio: "VirtualRadio", name: str, address: str) -> None:
        super().__init__(name, link=radio.link, public_address=address)
        self.radio = radio
        self.le_acl_data_packet_length = LE_DATA_LENGTH
        self.total_num_le_acl_data_packets = CONTROLLER_ACL_BUFFERS

    def send_advertising_pdu(self, packet: ll.AdvertisingPdu) -> None:
        if type(packet) is ll.AdvInd:
            packet = _AdvIndWithScanResponse(
                packet.advertiser_address, packet.data, bytes(self.le_legacy_advertiser.scan_response_data)
            )
        super().send_advertising_pdu(packet)

    def on_advertising_pdu(self, pdu: Any) -> None:
        scan_response = getattr(pdu, "scan_response", None)
        rssi = self.radio.rssi_of(pdu.advertiser_address)
        send = self.send_hci_packet

        def fix(packet: hci.HCI_Packet) -> None:
            if isinstance(packet, hci.HCI_LE_Advertising_Report_Event):
                reports = []
                for r in packet.reports:
                    rsp = r.event_type == hci.HCI_LE_Advertising_Report_Event.EventType.SCAN_RSP
                    data = scan_response if rsp and scan_response is not None else r.data
                    reports.append(dataclasses.replace(r, data=data, rssi=rssi))
                packet = hci.HCI_LE_Advertising_Report_Event(reports)
            elif isinstance(packet, hci.HCI_LE_Extended_Advertising_Report_Event):
                ext = []
                for e in packet.reports:
                    rsp = bool(e.event_type & hci.HCI_LE_Extended_Advertising_Report_Event.EventType.SCAN_RESPONSE)
                    data = scan_response if rsp and scan_response is not None else e.data
                    ext.append(dataclasses.replace(e, data=data, rssi=rssi))
                packet = hci.HCI_LE_Extended_Advertising_Report_Event(ext)
            send(packet)

        self.send_hci_packet = fix  # type: ignore[method-assign]
        try:
            super().on_advertising_pdu(pdu)
        finally:
            del self.send_hci_packet


def _just_works(_conn: Connection) -> pairing.PairingConfig:
    # The garment has no display or keys: LE Secure Connections, Just Works, bonding.
    return pairing.PairingConfig(
        sc=True, mitm=False, bonding=True,
        delegate=pairing.PairingDelegate(io_capability=pairing.PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
    )


def nus_advertising(name: str) -> tuple[bytes, bytes]:
    """(advertising data, scan response) exactly as the firmware advertises."""
    uuid = bytes(UUID(NUS_SERVICE_UUID.upper()).to_bytes(force_128=True))
    adv = bytes((2, 0x01, 0x06)) + bytes((17, 0x07)) + uuid  # flags: LE general, no BR/EDR; 128-bit UUIDs
    nm = name.encode()
    rsp = bytes((len(nm) + 1, 0x09)) + nm  # complete local name
    return adv, rsp


@dataclasses.dataclass
class PeripheralStats:
    """What crossed the simulated air for one garment."""

    connections: int = 0
    notifications: int = 0
    tx_bytes: int = 0
    rx_writes: int = 0
    rx_bytes: int = 0
    rx_refused_unencrypted: int = 0
    max_notification: int = 0
    max_write: int = 0
    credit_waits: int = 0
    budget_waits: int = 0


class SimPeripheral:
    """The simulated garment's BLE side, bridged to the firmware's TCP link."""

    def __init__(
        self,
        radio: "VirtualRadio",
        tcp_port: int,
        tcp_host: str = "127.0.0.1",
        name: str | None = None,
        address: str = "F0:5E:6A:00:00:01",
        mtu: int = GARMENT_MTU,
        require_encryption: bool = True,
        conn_interval_ms: float | None = None,
        notifications_per_event: int | None = None,
    ) -> None:
        self.radio = radio
        self.tcp = (tcp_host, tcp_port)
        self.address = address
        self.name = name or f"{NAME_PREFIX}{address.replace(':', '')[-4:]}"
        self.mtu = mtu
        self.require_encryption = require_encryption
        self.conn_interval_ms = conn_interval_ms
        self.notifications_per_event = notifications_per_event
        self.stats = PeripheralStats()
        self.connection: Connection | None = None
        self.device: Device | None = None
        self._tx: gatt.Characteristic[bytes] | None = None
        self._bridge: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending_rx: list[bytes] = []
        self._subscribed = asyncio.Event()
        self._connected = asyncio.Event()
        self._advertising = True
        self._adv_lock = asyncio.Lock()  # one HCI advertising command sequence at a time
        self._adv_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ctrl = _RadioController(self.radio, f"garment {self.name}", self.address)
        # Legacy advertising PDUs, as the firmware's gap_advertise() sends.
        ctrl.le_features = ctrl.le_features & ~hci.LeFeatureMask.LE_EXTENDED_ADVERTISING
        dev = Device(name=self.name, address=hci.Address(self.address), host=Host(ctrl, AsyncPipeSink(ctrl)))
        dev.gatt_server.max_mtu = self.mtu
        dev.pairing_config_factory = _just_works
        rx: gatt.Characteristic[bytes] = gatt.Characteristic(
            UUID(NUS_RX_UUID.upper()),
            gatt.Characteristic.Properties.WRITE | gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue[bytes](write=self._on_rx),
        )
        tx: gatt.Characteristic[bytes] = gatt.Characteristic(
            UUID(NUS_TX_UUID.upper()), gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        tx.on(tx.EVENT_SUBSCRIPTION, self._on_subscription)
        dev.add_service(gatt.Service(UUID(NUS_SERVICE_UUID.upper()), [rx, tx]))
        self._tx = tx
        dev.on(dev.EVENT_CONNECTION, self._on_connection)
        await dev.power_on()
        self.device = dev
        await self._advertise()

    async def _advertise(self) -> None:
        assert self.device is not None
        adv, rsp = nus_advertising(self.name)
        async with self._adv_lock:
            if not self._advertising or self.connection is not None:
                return
            await self.device.start_advertising(
                advertising_data=adv, scan_response_data=rsp, auto_restart=False, advertising_interval_min=20.0,
                advertising_interval_max=20.0,
            )

    # ---- connection ----------------------------------------------------------------
    def _on_connection(self, conn: Connection) -> None:
        if self.connection is not None:  # one host at a time, like the firmware
            asyncio.get_running_loop().create_task(conn.disconnect())
            return
        self.connection = conn
        self.stats.connections += 1
        self._subscribed.clear()
        self._pending_rx = []
        self._connected.set()
        conn.on(conn.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(conn, reason))
        if self.require_encryption:
            conn.request_pairing()  # the firmware's gap_pair(): a security request to the central
        self._bridge = asyncio.get_running_loop().create_task(self._run_bridge(conn), name=f"ble-bridge {self.name}")

    def _on_disconnection(self, conn: Connection, reason: int) -> None:
        if conn is not self.connection:
            return
        self.connection = None
        self._connected.clear()
        if self._bridge is not None:
            self._bridge.cancel()
            self._bridge = None
        if self._advertising and self.device is not None:
            self._adv_task = asyncio.get_running_loop().create_task(self._advertise())

    def _on_subscription(self, bearer: Any, notify: bool, indicate: bool) -> None:
        if notify:
            self._subscribed.set()
        else:
            self._subscribed.clear()

    def _on_rx(self, conn: Connection, value: bytes) -> None:
        if self.require_encryption and not conn.is_encrypted:
            self.stats.rx_refused_unencrypted += 1  # the firmware's stack drops it (insufficient encryption)
            return
        self.stats.rx_writes += 1
        self.stats.rx_bytes += len(value)
        self.stats.max_write = max(self.stats.max_write, len(value))
        if self._writer is None:
            self._pending_rx.append(bytes(value))
        else:
            self._writer.write(value)

    async def _run_bridge(self, conn: Connection) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, FIRMWARE_TX_RING)  # before connecting: the window
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, self.tcp)
            reader, writer = await asyncio.open_connection(sock=sock, limit=FIRMWARE_TX_RING)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._writer = writer
            for piece in self._pending_rx:
                writer.write(piece)
            self._pending_rx = []
            await self._pump(conn, reader)
        except (OSError, asyncio.IncompleteReadError) as e:
            log.warning("%s: firmware link: %s", self.name, e)
            if self.connection is conn:
                await conn.disconnect()
        finally:
            self._writer = None
            if writer is not None:
                writer.close()

    async def _pump(self, conn: Connection, reader: asyncio.StreamReader) -> None:
        """Firmware bytes -> notifications of at most MTU - 3 bytes, within controller credits."""
        assert self.device is not None and self._tx is not None
        dev, tx = self.device, self._tx
        queue = dev.host.get_data_packet_queue(conn.handle)
        flow = asyncio.Event()
        if queue is not None:
            queue.on("flow", flow.set)
        loop = asyncio.get_running_loop()
        event_start = loop.time()
        in_event = 0
        buf = bytearray()
        try:
            while True:
                # Take no more than the firmware's TX ring holds: while the air is busy the
                # bytes wait in the firmware (its TxQueue fills and drops, as on a garment).
                data = await reader.read(FIRMWARE_TX_RING)
                if not data:
                    log.info("%s: firmware closed its link", self.name)
                    await conn.disconnect()
                    return
                buf += data
                while buf:
                    await self._subscribed.wait()
                    size = conn.att_mtu - 3
                    piece = bytes(buf[:size])
                    del buf[:size]
                    # A real controller holds a few packets; the stack waits when they are in use.
                    while queue is not None and queue.pending >= CONTROLLER_ACL_BUFFERS:
                        self.stats.credit_waits += 1
                        flow.clear()
                        await flow.wait()
                    if self.conn_interval_ms and self.notifications_per_event:
                        now = loop.time()
                        period = self.conn_interval_ms / 1000.0
                        if now - event_start >= period:
                            event_start += period * int((now - event_start) / period)
                            in_event = 0
                        if in_event >= self.notifications_per_event:
                            self.stats.budget_waits += 1
                            await asyncio.sleep(event_start + period - now)
                            event_start += period
                            in_event = 0
                        in_event += 1
                    await dev.notify_subscriber(conn, tx, piece)
                    self.stats.notifications += 1
                    self.stats.tx_bytes += len(piece)
                    self.stats.max_notification = max(self.stats.max_notification, len(piece))
        finally:
            if queue is not None:
                queue.remove_listener("flow", flow.set)

    # ---- test controls ---------------------------------------------------------------
    async def wait_connected(self, timeout: float = 10.0) -> Connection:
        await asyncio.wait_for(self._connected.wait(), timeout)
        assert self.connection is not None
        return self.connection

    async def drop_link(self, readvertise: bool = True) -> None:
        """The radio link fails (out of range, supervision timeout): both sides see a disconnection."""
        conn = self.connection
        self._advertising = readvertise
        if conn is not None:
            await conn.disconnect(reason=hci.HCI_CONNECTION_TIMEOUT_ERROR)

    async def resume_advertising(self) -> None:
        """Back in range after ``drop_link(readvertise=False)``."""
        self._advertising = True
        if self.connection is None:
            await self._advertise()

    async def close(self) -> None:
        self._advertising = False
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.disconnect()
        if self._bridge is not None:
            self._bridge.cancel()
            with contextlib.suppress(BaseException):
                await self._bridge
            self._bridge = None
        if self._adv_task is not None:
            with contextlib.suppress(BaseException):
                await self._adv_task
        if self.device is not None:
            async with self._adv_lock:
                with contextlib.suppress(Exception):
                    await self.device.stop_advertising()


class VirtualRadio:
    """The simulated air: a host adapter plus simulated garments, in this asyncio loop."""

    def __init__(self, default_rssi: int = -55) -> None:
        self.link = LocalLink()
        self.default_rssi = default_rssi
        self.peripherals: list[SimPeripheral] = []
        self._bystanders: list[Device] = []
        self._rssi: dict[str, int] = {}
        self._central: Device | None = None
        self._central_lock = asyncio.Lock()
        self._listeners: list[Callable[[Advertisement], None]] = []
        self._scanning = False
        self._seen: dict[str, hci.Address] = {}
        self._seen_event = asyncio.Event()
        self.scanner_backend: type[BumbleScanner] = type("BumbleScanner", (BumbleScanner,), {"radio": self})
        self.client_backend: type[BumbleClient] = type("BumbleClient", (BumbleClient,), {"radio": self})

    # ---- garments ------------------------------------------------------------------
    async def add_garment(self, tcp_port: int, tcp_host: str = "127.0.0.1", **kwargs: Any) -> SimPeripheral:
        """A simulated garment bridged to the firmware listening on ``tcp_host:tcp_port``."""
        kwargs.setdefault("address", f"F0:5E:6A:00:{len(self.peripherals) >> 8:02X}:{(len(self.peripherals) + 1) & 0xFF:02X}")
        p = SimPeripheral(self, tcp_port, tcp_host, **kwargs)
        await p.start()
        self.peripherals.append(p)
        return p

    async def add_bystander(self, name: str, address: str = "F0:00:00:00:BE:EF", service_uuid16: int = 0x180D) -> Device:
        """Another BLE device in the room (a heart-rate strap by default): advertises, is no garment."""
        ctrl = _RadioController(self, f"bystander {name}", address)
        ctrl.le_features = ctrl.le_features & ~hci.LeFeatureMask.LE_EXTENDED_ADVERTISING
        dev = Device(name=name, address=hci.Address(address), host=Host(ctrl, AsyncPipeSink(ctrl)))
        await dev.power_on()
        nm = name.encode()
        adv = bytes((2, 0x01, 0x06, 3, 0x03, service_uuid16 & 0xFF, service_uuid16 >> 8))
        await dev.start_advertising(advertising_data=adv, scan_response_data=bytes((len(nm) + 1, 0x09)) + nm,
                                    advertising_interval_min=20.0, advertising_interval_max=20.0)
        self._bystanders.append(dev)
        return dev

    def set_rssi(self, address: str, dbm: int) -> None:
        """What the host adapter hears from ``address`` (its advertisements)."""
        self._rssi[address.upper()] = dbm

    def rssi_of(self, address: hci.Address) -> int:
        return self._rssi.get(address_string(address).upper(), self.default_rssi)

    # ---- the host adapter (used by the bleak backend) -----------------------------
    async def host_adapter(self) -> Device:
        async with self._central_lock:
            if self._central is None:
                ctrl = _RadioController(self, "host adapter", _HOST_ADDRESS)
                dev = Device(name="host", address=hci.Address(_HOST_ADDRESS), host=Host(ctrl, AsyncPipeSink(ctrl)))
                dev.pairing_config_factory = _just_works
                dev.on(dev.EVENT_ADVERTISEMENT, self._on_advertisement)
                await dev.power_on()
                self._central = dev
            return self._central

    def _on_advertisement(self, adv: Advertisement) -> None:
        self._seen[address_string(adv.address).upper()] = adv.address
        self._seen_event.set()
        for fn in list(self._listeners):
            fn(adv)

    async def listen(self, fn: Callable[[Advertisement], None]) -> None:
        self._listeners.append(fn)
        await self._update_scanning()

    async def unlisten(self, fn: Callable[[Advertisement], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(fn)
        await self._update_scanning()

    async def _update_scanning(self) -> None:
        central = await self.host_adapter()
        want = bool(self._listeners)
        if want and not self._scanning:
            self._scanning = True
            await central.start_scanning(filter_duplicates=False)
        elif not want and self._scanning:
            self._scanning = False
            await central.stop_scanning()

    async def resolve(self, address: str, timeout: float) -> hci.Address | None:
        """The bumble address of an advertiser (scanning for it if it was not heard yet)."""
        key = address.upper()
        if key in self._seen:
            return self._seen[key]

        def nop(_adv: Advertisement) -> None:
            pass

        await self.listen(nop)
        try:
            async with asyncio.timeout(timeout):
                while key not in self._seen:
                    self._seen_event.clear()
                    await self._seen_event.wait()
        except TimeoutError:
            return None
        finally:
            await self.unlisten(nop)
        return self._seen[key]

    async def close(self) -> None:
        for p in self.peripherals:
            await p.close()
        self.peripherals = []
        for dev in self._bystanders:
            with contextlib.suppress(Exception):
                await dev.stop_advertising()
        self._bystanders = []
        self._listeners = []
        if self._central is not None:
            with contextlib.suppress(Exception):
                if self._scanning:
                    await self._central.stop_scanning()
            for conn in list(self._central.connections.values()):
                with contextlib.suppress(Exception):
                    await conn.disconnect()
        self._scanning = False


@contextlib.asynccontextmanager
async def sim_ble(tcp_port: int, **garment_kwargs: Any) -> AsyncIterator[tuple[VirtualRadio, SimPeripheral]]:
    """A virtual radio with one simulated garment bridged to a firmware's TCP link port.

    ``async with sim_ble(sim.port) as (radio, garment): BleTransport(garment.address,
    radio.client_backend, radio.scanner_backend)``.
    """
    radio = VirtualRadio()
    try:
        peripheral = await radio.add_garment(tcp_port, **garment_kwargs)
        yield radio, peripheral
    finally:
        await radio.close()
