"""GarmentClient's loss counters and the Transport contract's optional parts, over an
in-memory transport (deterministic: the test decides every byte the "garment" sends)."""
from __future__ import annotations

import asyncio
import struct

import pytest

from garment.client import GarmentClient, StimState
from garment.protocol import cobs_encode, encode_packet, wire
from garment.transports.base import Transport


class PipeTransport(Transport):
    """Bytes the test puts in come out of read(); writes are kept."""

    name = "pipe"

    def __init__(self) -> None:
        self.rx: asyncio.Queue[bytes] = asyncio.Queue()
        self.written: list[bytes] = []
        self.opens = 0
        self.closes = 0

    async def open(self) -> None:
        self.opens += 1

    async def read(self) -> bytes:
        return await self.rx.get()

    async def write(self, data: bytes) -> None:
        self.written.append(data)

    async def close(self) -> None:
        self.closes += 1


async def _drain(g: GarmentClient, t: PipeTransport) -> None:
    """Let the receive loop take everything queued so far (it reads, then waits again)."""
    while not t.rx.empty():
        await asyncio.sleep(0)
    for _ in range(3):
        await asyncio.sleep(0)


async def _started(t: PipeTransport) -> GarmentClient:
    g = GarmentClient(t)
    await t.open()
    g._rx_task = asyncio.create_task(g._rx_loop())  # no handshake: the test is the garment
    return g


async def test_packet_level_malformed_counts_survive_later_reads() -> None:
    # Regression: the receive loop set stats.malformed to the deframer's count after every
    # read, so packets found malformed after deframing (a samples packet whose length
    # contradicts its header, a reply too short to name its request) were forgotten.
    t = PipeTransport()
    g = await _started(t)
    try:
        short_samples = struct.pack(wire.SAMPLES_HDR_FMT, 0, 5, 8, wire.STREAM_FILTERED) + bytes(10)
        t.rx.put_nowait(encode_packet(wire.R_SAMPLES, 0, short_samples))
        t.rx.put_nowait(encode_packet(wire.R_ACK, 1, b"\x01"))  # no room for its ref
        await _drain(g, t)
        assert g.stats.malformed == 2, g.stats
        t.rx.put_nowait(cobs_encode(b"\x80\x02\x00\x01\x00\x05" + b"\x12\x34"))  # well framed, bad CRC
        t.rx.put_nowait(b"\x05\x01\x02\x00")  # bad COBS
        t.rx.put_nowait(encode_packet(wire.R_ACK, 3, b"\x01\x00\x05"))  # a good one after it all
        await _drain(g, t)
        assert (g.stats.malformed, g.stats.crc_errors, g.stats.packets) == (3, 1, 3), g.stats
    finally:
        await g.close()


async def test_every_stim_state_reaches_the_one_callback() -> None:
    t = PipeTransport()
    g = await _started(t)
    seen: list[tuple[str, bool]] = []
    g.on_stim_state = lambda st, unsolicited: seen.append((st.state, unsolicited))
    body = struct.pack(wire.STIM_STATE_FMT, wire.SS_ARMED, wire.FAULT_NONE, 1, 0, *([0] * 8))
    try:
        fut = asyncio.ensure_future(g.arm())
        await asyncio.sleep(0)
        (frame,) = t.written
        seq = frame and struct.unpack_from("<H", _decode(frame), 1)[0]
        t.rx.put_nowait(encode_packet(wire.R_STIM_STATE, 0, struct.pack("<H", seq) + body))
        st = await asyncio.wait_for(fut, 2)
        fault = struct.pack(wire.STIM_STATE_FMT, wire.SS_FAULT, wire.FAULT_HEARTBEAT, 0, 0, *([0] * 8))
        t.rx.put_nowait(encode_packet(wire.R_STIM_STATE, 1, struct.pack("<H", wire.NO_REF) + fault))
        await _drain(g, t)
        assert st == StimState("armed", "none", 1, 0, (0,) * 8)
        assert seen == [("armed", False), ("fault", True)]
        assert g.last_stim_state is not None and g.last_stim_state.fault == "heartbeat"
    finally:
        await g.close()


def _decode(frame: bytes) -> bytes:
    from garment.protocol import cobs_decode

    return cobs_decode(frame[:-1])


async def test_transport_reconnect_and_rssi_have_a_default() -> None:
    t = PipeTransport()
    assert t.rssi is None  # no radio: no signal strength
    await t.reconnect()
    assert (t.closes, t.opens) == (1, 1)  # the default: close, then open again


@pytest.mark.parametrize("name", ["limits", "calibration", "wire"])
def test_firmware_contracts_load_without_leaving_stand_ins(name: str) -> None:
    import sys

    from garment.contracts import load_contract

    mod = load_contract(name)
    assert mod.__name__ == f"garment._fw.{name}"
    assert "micropython" not in sys.modules and "garmentfw" not in sys.modules


@pytest.mark.parametrize("proto", [wire.PROTOCOL_VERSION - 1, wire.PROTOCOL_VERSION + 1])
async def test_a_garment_of_another_protocol_version_is_refused_by_name(proto: int) -> None:
    # The request trailer and reply tags changed in protocol 2: an old garment (or a newer
    # one) must be refused at the handshake, not misread frame by frame.
    from garment.client import DeviceError

    t = PipeTransport()
    g = await _started(t)
    try:
        fut = asyncio.ensure_future(g.hello())
        await asyncio.sleep(0)
        (frame,) = t.written
        seq = struct.unpack_from("<H", _decode(frame), 1)[0]
        t.rx.put_nowait(encode_packet(wire.R_HELLO, 0, struct.pack("<H", seq) + bytes((proto,)) + b"1.0"))
        with pytest.raises(DeviceError) as e:
            await asyncio.wait_for(fut, 2)
        assert f"garment speaks protocol {proto}, host speaks {wire.PROTOCOL_VERSION}" in str(e.value)
    finally:
        await g.close()
