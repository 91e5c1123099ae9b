"""The BLE transport (bleak) over the virtual radio (bumble): real ATT/GATT, simulated air.

The garment behind the radio is the real firmware on the unix port (SimGarment); the
host side is the production ``BleTransport`` with the bumble bleak backend.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import struct
from typing import AsyncIterator, Iterator

import pytest

from garment.client import DeviceError, GarmentClient, StreamConfig
from garment.devices import connect, make_transport
from garment.protocol import encode_packet, wire
from garment.sim import SimGarment
from garment.sim.ble_radio import SimPeripheral, VirtualRadio, sim_ble
from garment.transports import TransportClosed, TransportError
from garment.transports.ble import GARMENT_MTU, NUS_SERVICE_UUID, BleTransport, scan

PAYLOAD = GARMENT_MTU - 3  # bytes per notification / write command at MTU 247


@pytest.fixture(scope="module")
def sim() -> Iterator[SimGarment]:
    s = SimGarment()
    s.start()
    # provisioned over the wire (BLE refuses provisioning): the acquisition settings
    # (T_SET_CONFIG) need an authenticated session
    asyncio.run(_provision(s.url))
    yield s
    s.stop()


async def _provision(url: str) -> None:
    from garment.auth import ensure_authenticated
    from garment.devices import make_transport

    g = GarmentClient(make_transport(url), timeout=3.0)
    await g.connect()
    try:
        await ensure_authenticated(g)
    finally:
        await g.close()


@pytest.fixture
async def ble(sim: SimGarment) -> AsyncIterator[tuple[VirtualRadio, SimPeripheral]]:
    assert sim.alive(), " | ".join(sim.output)
    async with sim_ble(sim.port) as rp:
        yield rp


def transport(radio: VirtualRadio, p: SimPeripheral) -> BleTransport:
    return BleTransport(p.address, radio.client_backend, radio.scanner_backend)


@contextlib.asynccontextmanager
async def client(radio: VirtualRadio, p: SimPeripheral) -> AsyncIterator[GarmentClient]:
    from garment.auth import ensure_authenticated

    g = GarmentClient(transport(radio, p), timeout=3.0)
    await g.connect()
    await ensure_authenticated(g)
    try:
        yield g
    finally:
        with contextlib.suppress(Exception):
            await g.stop_stream()
        await g.close()


async def test_scan_finds_the_garment_by_service_uuid_not_bystanders(ble: tuple[VirtualRadio, SimPeripheral]) -> None:
    radio, p = ble
    await radio.add_bystander("HR-Strap")
    radio.set_rssi(p.address, -67)
    found = await scan(timeout=5.0, backend=radio.scanner_backend, until=1)
    assert [(r.name, r.address, r.rssi) for r in found] == [(p.name, p.address, -67)]
    assert p.name.startswith("Garment-")
    # the bystander is on the air all the same: an unfiltered bleak scan hears it
    from bleak import BleakScanner
    from bleak.backends.scanner import AdvertisementData

    heard: dict[str, list[str]] = {}
    both = asyncio.Event()

    def on_adv(_device: object, adv: AdvertisementData) -> None:
        if adv.local_name:
            heard[adv.local_name] = adv.service_uuids
        if {"HR-Strap", p.name} <= set(heard):
            both.set()

    async with BleakScanner(on_adv, backend=radio.scanner_backend):
        await asyncio.wait_for(both.wait(), 5)
    assert NUS_SERVICE_UUID in heard[p.name] and NUS_SERVICE_UUID not in heard["HR-Strap"]


async def test_connect_negotiates_mtu_pairs_and_reports_rssi(ble: tuple[VirtualRadio, SimPeripheral]) -> None:
    radio, p = ble
    radio.set_rssi(p.address, -72)
    async with client(radio, p) as g:
        t = g.transport
        assert isinstance(t, BleTransport)
        assert t.mtu == GARMENT_MTU
        assert t.rssi == -72 and t.device_name == p.name
        assert p.connection is not None and p.connection.is_encrypted  # LE Secure Connections bond
        assert p.stats.rx_refused_unencrypted == 0
        assert (await g.info())["board"] == "sim"


async def test_connect_by_advertised_name(ble: tuple[VirtualRadio, SimPeripheral]) -> None:
    radio, p = ble
    g = GarmentClient(BleTransport(p.name, radio.client_backend, radio.scanner_backend), timeout=3.0)
    await g.connect()
    try:
        assert await g.ping(7) == 7
    finally:
        await g.close()


async def test_writes_are_chunked_to_mtu_and_reassembled_by_the_garment(ble: tuple[VirtualRadio, SimPeripheral]) -> None:
    radio, p = ble
    async with client(radio, p) as g:
        t = g.transport
        assert isinstance(t, BleTransport)
        writes0, bytes0 = p.stats.rx_writes, p.stats.rx_bytes
        # A 700-byte body where 4 are expected: the garment's answer quotes the length it got,
        # so it proves the frame arrived whole, in order, from three write commands.
        frame = encode_packet(wire.T_PING, 0, bytes(range(256)) * 2 + bytes(188))
        with pytest.raises(DeviceError) as e:
            await g.request(wire.T_PING, bytes(range(256)) * 2 + bytes(188))
        assert e.value.code == wire.E_MALFORMED and "got 700" in str(e.value)
        assert p.stats.rx_writes - writes0 == math.ceil(len(frame) / PAYLOAD)
        assert p.stats.rx_bytes - bytes0 == len(frame)
        assert p.stats.max_write == PAYLOAD
        assert await g.ping(0xC0FFEE) == 0xC0FFEE  # and the link is in step afterwards


async def test_notifications_are_reassembled_into_frames(ble: tuple[VirtualRadio, SimPeripheral]) -> None:
    radio, p = ble
    async with client(radio, p) as g:
        t = g.transport
        assert isinstance(t, BleTransport)
        n0 = t.notifications
        info = await g.info()  # a JSON reply longer than one notification
        assert info["channels_max"] == 8
        assert t.notifications - n0 >= 2
        await g.set_config(StreamConfig(fs=1000, channels=8))  # 8 x 20 x 3 B = 480 B per packet
        await g.start_stream()
        got = 0
        while got < 1000:
            got += len((await g.next_block(timeout=3)).data)
        await g.stop_stream()
        st = g.stats
        assert st.crc_errors == 0 and st.malformed == 0 and st.packets_lost == 0 and st.dropped == 0, st
        assert p.stats.max_notification == PAYLOAD  # full notifications, never more than MTU - 3


async def test_disconnect_is_detected_and_reconnect_resumes_streaming_with_the_gap_reported(
    ble: tuple[VirtualRadio, SimPeripheral], sim: SimGarment
) -> None:
    radio, p = ble
    async with client(radio, p) as g:
        t = g.transport
        assert isinstance(t, BleTransport)
        await g.set_config(StreamConfig(fs=1000, channels=8))
        await g.start_stream()
        last = None
        while last is None or last.first_index < 500:
            last = await g.next_block(timeout=3)
        gone = sum("link: host gone" in line for line in sim.output)

        await p.drop_link(readvertise=False)  # out of range: supervision timeout on both sides
        with pytest.raises(TransportClosed):
            while True:
                last = await g.next_block(timeout=3)  # what was in flight, then the loss
        assert g.closed_reason is not None and "BLE link lost" in g.closed_reason
        assert not t.connected
        with pytest.raises(TransportClosed):
            await g.ping()
        # the firmware saw its host go (and stopped streaming) before the garment is back in range
        assert sim.wait_output("link: host gone", count=gone + 1, timeout=10)
        before = g.stats.samples

        await p.resume_advertising()
        await g.resume()
        assert t.reconnects == 1 and t.connected and p.stats.connections == 2
        block = await g.next_block(timeout=3)
        st = g.stats
        assert st.gaps == 1 and st.dropped > 0, st
        assert block.first_index == last.first_index + len(last.data) + st.dropped
        while g.stats.samples < before + 500:
            await g.next_block(timeout=3)
        assert g.stats.gaps == 1 and g.stats.crc_errors == 0 and g.stats.malformed == 0, g.stats


async def test_a_garment_that_is_not_there_is_one_line_error(ble: tuple[VirtualRadio, SimPeripheral]) -> None:
    radio, _ = ble
    t = BleTransport("F0:00:00:00:00:99", radio.client_backend, radio.scanner_backend, scan_timeout=0.3)
    with pytest.raises(TransportError) as e:
        await t.open()
    assert "no garment advertising as F0:00:00:00:00:99" in str(e.value)
    with pytest.raises(TransportClosed):
        await t.write(b"\x00")


def test_device_specs() -> None:
    t = make_transport("ble:C4:DE:E2:12:34:56")
    assert isinstance(t, BleTransport) and t.address == "C4:DE:E2:12:34:56" and t.name == "ble:C4:DE:E2:12:34:56"
    with pytest.raises(TransportError, match="needs the garment's address"):
        make_transport("ble:")
    with pytest.raises(TransportError, match="open_device"):
        make_transport("ble:sim")


async def test_connect_ble_sim_spec() -> None:
    async with connect("ble:sim", timeout=3.0) as g:
        assert isinstance(g.transport, BleTransport)
        info = await g.info()
        assert info["board"] == "sim" and g.transport.mtu == GARMENT_MTU
        status = struct.unpack(wire.STATUS_FMT, (await g.request(wire.T_STATUS)).body[2:])
        assert status[1] == wire.ST_IDLE
