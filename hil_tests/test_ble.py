"""The whole garment over Bluetooth LE (Nordic UART Service, MTU 247).

``--device sim`` (default) and ``--device ble:sim``: the simulated garment behind the
virtual radio (``garment.sim.ble_radio``: bumble, real ATT/GATT, host code unchanged);
``--device ble:ADDRESS``: a real garment through the platform's Bluetooth stack. Other
devices (serial) skip this module.
"""
from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from garment.auth import ensure_authenticated
from garment.client import DeviceError, GarmentClient, StreamConfig, decode_samples, model_id
from garment.protocol import cobs_encode, crc16, encode_packet, wire
from garment.sim import SimGarment
from garment.transports.ble import GARMENT_MTU, BleTransport

FILTERED16 = wire.STREAM_FILTERED16
LDA = (Path(__file__).resolve().parents[1] / "models" / "golden" / "int8_lda.gmdl").read_bytes()


@pytest.fixture(scope="module")
def ble_sim(device_spec: str, sim: SimGarment | None) -> Iterator[SimGarment | None]:
    """The firmware behind the virtual radio (None for a real garment)."""
    if sim is not None:
        yield sim
    elif device_spec.startswith("ble:"):
        yield None
    else:
        pytest.skip(f"BLE tests need --device sim, ble:sim or ble:ADDRESS, not {device_spec}")


@pytest.fixture
async def ble(device_spec: str, ble_sim: SimGarment | None) -> AsyncIterator[GarmentClient]:
    """A client connected over BLE (the virtual radio in front of the simulated garment);
    the garment is back at its default configuration after."""
    from garment.devices import open_device

    if ble_sim is not None:
        assert ble_sim.alive(), " | ".join(ble_sim.output)
    async with open_device("ble:sim" if ble_sim is not None else device_spec, timeout=3.0 if ble_sim else 5.0,
                           sim=ble_sim) as conn:
        g = conn.client
        await ensure_authenticated(g)  # the acquisition settings (T_SET_CONFIG) are privileged
        try:
            yield g
        finally:
            await g.stop_stream()
            await ensure_authenticated(g)
            await g.set_config(StreamConfig())


async def _stream_for(g: GarmentClient, seconds: float) -> tuple[int, float]:
    await g.start_stream()
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        n += len((await g.next_block(timeout=3)).data)
    await g.stop_stream()
    return n, time.monotonic() - t0


def _assert_no_loss(g: GarmentClient) -> None:
    st = g.stats
    assert st.dropped == 0 and st.gaps == 0, st
    assert st.crc_errors == 0 and st.malformed == 0 and st.packets_lost == 0, st


async def _need_16bit(g: GarmentClient) -> None:
    """8 channels at 1 kHz as 16-bit telemetry (both ends speak STREAM_FILTERED16)."""
    await g.set_config(StreamConfig(fs=1000, channels=8, kind=FILTERED16))


async def test_ble_link_negotiated(ble: GarmentClient) -> None:
    t = ble.transport
    assert isinstance(t, BleTransport)
    assert t.mtu == GARMENT_MTU, f"ATT MTU {t.mtu}: the garment asks for {GARMENT_MTU}"
    info = await ble.info()
    assert info["protocol"] == wire.PROTOCOL_VERSION and info["channels_max"] == 8
    assert await ble.ping(0x5EED) == 0x5EED


async def test_ble_stream_8ch_1khz_16bit_zero_loss(ble: GarmentClient) -> None:
    await _need_16bit(ble)
    n, dt = await _stream_for(ble, 20.0)
    _assert_no_loss(ble)
    assert abs(n / dt - 1000) < 1000 * 0.03, n / dt
    status = await ble.status()
    assert status.afe_overruns == 0 and status.tx_dropped == 0, status


async def test_ble_16bit_samples_are_the_filtered_codes_shifted(ble: GarmentClient) -> None:
    """16-bit samples arrive as kind 2 and, scaled back to codes, in whole steps of 2**shift."""
    await _need_16bit(ble)
    await ble.start_stream()
    block = await ble.next_block(timeout=3)
    await ble.stop_stream()
    assert block.kind == FILTERED16 and block.data.shape[1] == 8
    step = 1 << wire.FILTERED16_SHIFT
    assert (block.data % step == 0).all()  # whole steps of 16 codes


async def test_ble_stream_8ch_1khz_24bit_zero_loss(ble: GarmentClient) -> None:
    await ble.set_config(StreamConfig(fs=1000, channels=8, kind=wire.STREAM_FILTERED))
    n, dt = await _stream_for(ble, 10.0)
    _assert_no_loss(ble)
    assert abs(n / dt - 1000) < 1000 * 0.03, n / dt


@pytest.mark.parametrize("fs,channels", [(250, 1), (500, 4), (1000, 8), (2000, 8)])
async def test_ble_config_round_trip(ble: GarmentClient, fs: int, channels: int) -> None:
    want = StreamConfig(fs=fs, channels=channels, mains=60 if fs == 1000 else 50, kind=wire.STREAM_RAW)
    assert await ble.set_config(want) == want
    assert await ble.get_config() == want
    info = await ble.info()
    assert (info["fs"], info["channels"]) == (fs, channels)
    await ble.start_stream()
    block = await ble.next_block(timeout=3)
    assert block.data.shape[1] == channels
    await ble.stop_stream()


async def test_ble_out_of_range_config_is_refused(ble: GarmentClient) -> None:
    before = await ble.get_config()
    for bad, field in ((StreamConfig(fs=3000), "fs"), (StreamConfig(channels=9), "channels"), (StreamConfig(kind=7), "kind")):
        with pytest.raises(DeviceError) as e:
            await ble.set_config(bad)
        assert e.value.code == wire.E_OUT_OF_RANGE and field in str(e.value)
    assert await ble.get_config() == before


async def test_ble_bad_input_is_dropped_and_counted(ble: GarmentClient) -> None:
    g = ble
    cfg = StreamConfig(fs=1000, channels=4, mains=60)
    await g.set_config(cfg)
    before = await g.status()
    # a truncated frame (delimiter kept), a bad CRC, and garbage longer than a notification
    await g.transport.write(encode_packet(wire.T_SET_CONFIG, 100, StreamConfig(fs=250).pack())[:-4] + b"\x00")
    pkt = bytes((wire.T_SET_CONFIG, 1, 0)) + StreamConfig(fs=250).pack()
    await g.transport.write(cobs_encode(pkt + struct.pack("<H", crc16(pkt) ^ 1)))
    await g.transport.write(bytes(range(1, 256)) * 2 + b"\x00")
    assert await g.hello() == g.hello_version
    assert await g.get_config() == cfg  # nothing the damaged frames carried was applied
    after = await g.status()
    assert after.rx_crc_errors >= before.rx_crc_errors + 1
    assert (after.rx_malformed + after.rx_crc_errors) >= (before.rx_malformed + before.rx_crc_errors) + 3
    with pytest.raises(DeviceError) as e:
        await g.request(0x55)
    assert e.value.code == wire.E_UNKNOWN_TYPE
    with pytest.raises(DeviceError) as e:
        await g.request(wire.T_SET_CONFIG, b"\x01\x02", privileged=True)
    assert e.value.code == wire.E_MALFORMED


async def test_ble_refuses_provisioning_but_authenticates_and_uploads(
    device_spec: str, ble_sim: SimGarment | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Provisioning is for the cable; over BLE a provisioned garment authenticates, and a
    model upload (frames of ~550 bytes, three write commands each) is verified and activated."""
    from garment.auth import ensure_authenticated, load_or_create_secret, provision

    async def over_ble(g: GarmentClient) -> None:
        uid = str((await g.info())["uid"])
        with pytest.raises(DeviceError) as e:
            await provision(g, load_or_create_secret(uid))  # the user's own secret: harmless if taken
        assert e.value.code == wire.E_UNAUTHORIZED and "wired" in str(e.value)
        await ensure_authenticated(g)
        info = await g.upload_model(LDA)
        assert info["verified"] and info["active"]["crc"] == "%08x" % model_id(LDA)
        assert (await g.model_info())["active"]["crc"] == info["active"]["crc"]

    if ble_sim is None:  # a real garment: provisioned over USB beforehand (garment provision)
        from garment.auth import load_secret

        g = GarmentClient(BleTransport(device_spec[len("ble:") :]), timeout=10.0)
        await g.connect()
        try:
            if load_secret(str((await g.info())["uid"])) is None:
                pytest.skip("no secret stored for this garment: provision it over USB first")
            await over_ble(g)
        finally:
            await g.close()
        return
    from garment.devices import open_device

    monkeypatch.setenv("GARMENT_SECRETS_DIR", str(tmp_path / "keys"))
    s = SimGarment(state_dir=tmp_path / "flash", wired=True)
    s.start()
    try:
        async with open_device(s.url, timeout=3.0) as usb:
            await ensure_authenticated(usb.client)  # provisioned over the cable, as a user would
        s.wired = False
        s.restart()  # same flash, now reached over the radio only
        async with open_device("ble:sim", timeout=5.0, sim=s) as conn:
            await over_ble(conn.client)
    finally:
        s.stop()
