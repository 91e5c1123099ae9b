"""Malformed input is dropped or answered with an error: never a crash, never lost state."""
from __future__ import annotations

import os
import random
import struct

import pytest

from garment.client import DeviceError, GarmentClient, StreamConfig
from garment.protocol import cobs_encode, crc16, encode_packet, wire

CFG = StreamConfig(fs=1000, channels=4, mains=60, kind=wire.STREAM_FILTERED)


async def _still_fine(g: GarmentClient) -> None:
    assert await g.hello() == g.hello_version
    assert await g.get_config() == CFG


@pytest.fixture
async def configured(garment: GarmentClient) -> GarmentClient:
    await garment.set_config(CFG)
    return garment


async def test_truncated_frame(configured: GarmentClient) -> None:
    g = configured
    before = await g.status()
    frame = encode_packet(wire.T_SET_CONFIG, 100, StreamConfig(fs=250).pack())
    await g.transport.write(frame[:-4] + b"\x00")  # cut short, delimiter kept
    await _still_fine(g)
    after = await g.status()
    assert after.rx_malformed + after.rx_crc_errors == before.rx_malformed + before.rx_crc_errors + 1


async def test_bad_crc(configured: GarmentClient) -> None:
    g = configured
    before = await g.status()
    pkt = bytes((wire.T_SET_CONFIG, 1, 0)) + StreamConfig(fs=250).pack()
    c = crc16(pkt) ^ 0x0001
    await g.transport.write(cobs_encode(pkt + struct.pack("<H", c)))
    await _still_fine(g)  # the config it carried was NOT applied
    assert (await g.status()).rx_crc_errors == before.rx_crc_errors + 1


async def test_unknown_type_is_answered(configured: GarmentClient) -> None:
    with pytest.raises(DeviceError) as e:
        await configured.request(0x55)
    assert e.value.code == wire.E_UNKNOWN_TYPE
    await _still_fine(configured)


async def test_wrong_body_length_is_answered(configured: GarmentClient) -> None:
    with pytest.raises(DeviceError) as e:
        await configured.request(wire.T_SET_CONFIG, b"\x01\x02", privileged=True)
    assert e.value.code == wire.E_MALFORMED
    await _still_fine(configured)


async def test_oversize_frame(configured: GarmentClient) -> None:
    g = configured
    before = await g.status()
    await g.transport.write(b"\x01" * (wire.MAX_ENCODED * 3) + b"\x00")
    await _still_fine(g)
    after = await g.status()
    assert after.rx_malformed == before.rx_malformed + 1


async def test_random_bytes(configured: GarmentClient) -> None:
    rnd = random.Random(7)
    for _ in range(20):
        await configured.transport.write(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000))))
    await configured.transport.write(b"\x00")  # end whatever frame the noise left open
    await _still_fine(configured)


async def test_flood_while_streaming_loses_no_samples(configured: GarmentClient) -> None:
    g = configured
    await g.start_stream()
    first = await g.next_block(timeout=3)
    # 1 MiB of noise (frames of every kind of wrongness) as fast as the link takes it
    noise = os.urandom(1 << 20)
    for i in range(0, len(noise), 16384):
        await g.transport.write(noise[i : i + 16384])
    await g.transport.write(b"\x00")
    n = 0
    while n < CFG.fs * 2:  # two more seconds of samples after the flood
        n += len((await g.next_block(timeout=3)).data)
    await g.stop_stream()
    await _still_fine(g)
    assert first.data.shape[1] == CFG.channels
    assert g.stats.dropped == 0 and g.stats.packets_lost == 0, g.stats
    st = await g.status()
    assert st.afe_overruns == 0 and st.tx_dropped == 0, st
