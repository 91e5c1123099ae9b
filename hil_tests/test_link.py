"""Handshake, configuration and streaming of a whole garment."""
from __future__ import annotations

import time

import pytest

from garment.auth import ensure_authenticated
from garment.client import DeviceError, GarmentClient, StreamConfig
from garment.protocol import wire
from garment.paths import firmware_lib


async def test_handshake_and_version(garment: GarmentClient) -> None:
    ns: dict[str, str] = {}
    exec((firmware_lib() / "garmentfw" / "__init__.py").read_text(), ns)
    assert garment.hello_version == ns["VERSION"]
    info = await garment.info()
    assert info["protocol"] == wire.PROTOCOL_VERSION
    assert info["version"] == ns["VERSION"]
    assert info["channels_max"] == 8
    assert set(info["fs_allowed"]) == set(wire.ALLOWED_FS)
    assert isinstance(info["board"], str) and info["board"]
    assert await garment.ping(0xDEADBEEF) == 0xDEADBEEF


@pytest.mark.parametrize("fs", wire.ALLOWED_FS)
@pytest.mark.parametrize("channels", [1, 4, 8])
async def test_config_round_trip(garment: GarmentClient, fs: int, channels: int) -> None:
    want = StreamConfig(fs=fs, channels=channels, mains=60 if fs == 1000 else 50, kind=wire.STREAM_RAW)
    assert await garment.set_config(want) == want
    assert await garment.get_config() == want
    info = await garment.info()
    assert (info["fs"], info["channels"]) == (fs, channels)
    # and the samples that arrive say so too
    await garment.start_stream()
    block = await garment.next_block(timeout=3)
    assert block.data.shape[1] == channels
    await garment.stop_stream()


@pytest.mark.parametrize(
    "bad,field",
    [
        (StreamConfig(fs=3000), "fs"),
        (StreamConfig(fs=0), "fs"),
        (StreamConfig(channels=0), "channels"),
        (StreamConfig(channels=9), "channels"),
        (StreamConfig(mains=55), "mains"),
        (StreamConfig(kind=7), "kind"),
    ],
)
async def test_out_of_range_config_is_refused_not_clamped(garment: GarmentClient, bad: StreamConfig, field: str) -> None:
    before = await garment.get_config()
    with pytest.raises(DeviceError) as e:
        await garment.set_config(bad)
    assert e.value.code == wire.E_OUT_OF_RANGE
    assert field in str(e.value)
    assert await garment.get_config() == before


async def test_config_change_while_streaming_is_refused(garment: GarmentClient) -> None:
    await garment.start_stream()
    with pytest.raises(DeviceError) as e:
        await garment.set_config(StreamConfig(fs=1000))
    assert e.value.code == wire.E_BAD_STATE
    await garment.stop_stream()


async def _stream_for(g: GarmentClient, seconds: float) -> tuple[int, float]:
    await g.start_stream()
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        block = await g.next_block(timeout=3)
        n += len(block.data)
    await g.stop_stream()
    return n, time.monotonic() - t0


@pytest.mark.slow  # one minute of streaming: run once over the cable, not again over BLE (Makefile)
async def test_stream_8ch_2khz_60s_no_loss(garment: GarmentClient) -> None:
    await garment.set_config(StreamConfig(fs=2000, channels=8))
    n, dt = await _stream_for(garment, 60.0)
    st = garment.stats
    assert st.dropped == 0 and st.gaps == 0, st
    assert st.crc_errors == 0 and st.malformed == 0 and st.packets_lost == 0, st
    # the AFE keeps time: the rate is the configured one (within scheduling jitter)
    assert abs(n / dt - 2000) < 2000 * 0.03, n / dt
    status = await garment.status()
    assert status.afe_overruns == 0 and status.tx_dropped == 0, status


async def test_link_over_a_pty_like_a_usb_port(sim: object) -> None:
    """The simulated garment reached through a pseudo-terminal, as /dev/ttyACM0 would be."""
    from garment.sim import SimGarment
    from garment.transports import SerialTransport

    if sim is None:
        pytest.skip("the pty path is a property of the simulated garment")
    with SimGarment(pty=True) as s:
        assert s.url.startswith("/dev/")
        g = GarmentClient(SerialTransport(s.url), timeout=3)
        await g.connect()
        await ensure_authenticated(g)  # the configuration is privileged
        await g.set_config(StreamConfig(fs=2000, channels=8))
        n, dt = await _stream_for(g, 3.0)
        await g.close()
    assert g.stats.dropped == 0 and g.stats.crc_errors == 0 and g.stats.packets_lost == 0, g.stats
    assert n > 2000 * 2.5
