"""Model upload end to end: verified, atomic, resumable, rollback; and a garment killed at
many points of an upload boots with the old or the new model, never a broken one."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from garment.auth import ensure_authenticated
from garment.client import DeviceError, GarmentClient, model_id
from garment.devices import make_transport
from garment.protocol import encode_packet, wire
from garment.sim import SimGarment

GOLDEN = Path(__file__).resolve().parents[1] / "models" / "golden"
LDA = (GOLDEN / "int8_lda.gmdl").read_bytes()
MLP = (GOLDEN / "int8_mlp.gmdl").read_bytes()
RIDGE = (GOLDEN / "int8_ridge.gmdl").read_bytes()  # made for 1 kHz / 4 channels


def crc(b: bytes) -> str:
    return "%08x" % model_id(b)


async def _client(url: str) -> GarmentClient:
    g = GarmentClient(make_transport(url), timeout=5)
    await g.connect()
    await ensure_authenticated(g)
    return g


async def test_upload_activate_rollback(garment: GarmentClient) -> None:
    await ensure_authenticated(garment)
    info = await garment.upload_model(LDA)
    assert info["verified"] and info["active"]["crc"] == crc(LDA)
    info = await garment.upload_model(MLP)
    assert info["active"]["crc"] == crc(MLP) and info["previous"]["crc"] == crc(LDA)
    info = await garment.model_rollback()
    assert info["active"]["crc"] == crc(LDA)


async def test_a_chunk_found_too_old_is_signed_again_and_the_upload_completes(garment: GarmentClient) -> None:
    """The garment's clock jumped ahead of the host's estimate of it (an emulated core
    catching up after its host slowed it): the upload's first request is refused as too old.
    BEGIN and the chunks are idempotent and the model is verified before it can run, so the client
    signs it again once (the sealed refusal re-anchored the estimate) and the upload
    completes. A request that can stimulate (ARM) found too old is still not sent again."""
    await ensure_authenticated(garment)
    a = garment.signer
    assert a is not None
    host_s = [100.0]
    a.use_clock(lambda: host_s[0])
    host_s[0] -= (wire.REQUEST_MAX_AGE_MS + 300) / 1000  # the garment's seconds jumped on
    info = await garment.upload_model(LDA)
    assert info["verified"] and info["active"]["crc"] == crc(LDA), info
    host_s[0] -= (wire.REQUEST_MAX_AGE_MS + 300) / 1000
    with pytest.raises(DeviceError) as e:
        await garment.request(wire.T_ARM, privileged=True)
    assert e.value.code == wire.E_STALE, e.value


async def test_refused_models_leave_the_active_one(garment: GarmentClient) -> None:
    await ensure_authenticated(garment)
    await garment.upload_model(LDA)
    with pytest.raises(DeviceError) as e:
        await garment.upload_model(RIDGE)
    assert e.value.code == wire.E_MODEL and "1000" in str(e.value)
    broken = bytearray(MLP)
    broken[200] ^= 0x55  # the file's own CRC no longer matches
    with pytest.raises(DeviceError) as e:
        await garment.upload_model(bytes(broken))
    assert e.value.code == wire.E_MODEL
    info = await garment.model_info()
    assert info["verified"] and info["active"]["crc"] == crc(LDA)


async def test_upload_needs_authentication(garment: GarmentClient) -> None:
    with pytest.raises(DeviceError) as e:
        await garment.request(wire.T_MODEL_BEGIN, struct.pack(wire.MODEL_BEGIN_FMT, len(LDA), 0))
    assert e.value.code == wire.E_UNAUTHORIZED


async def _kill_after(sim: SimGarment, n_requests: int, data: bytes) -> None:
    """Start an upload and pull the plug after ``n_requests`` acknowledged requests."""
    g = await _client(sim.url)
    done = 0
    try:
        pkt = await g.request(wire.T_MODEL_BEGIN, struct.pack(wire.MODEL_BEGIN_FMT, len(data), model_id(data)), privileged=True)
        offset = struct.unpack_from("<I", pkt.body, 2)[0]
        done += 1
        while offset < len(data) and done < n_requests:
            pkt = await g.request(wire.T_MODEL_CHUNK, struct.pack("<I", offset) + data[offset : offset + 128], privileged=True)
            offset = struct.unpack_from("<I", pkt.body, 2)[0]
            done += 1
        if offset == len(data) and done < n_requests:
            # COMMIT goes out and the plug is pulled without waiting for its answer
            assert g.signer is not None
            await g.transport.write(encode_packet(wire.T_MODEL_COMMIT, 0x7FF0, g.signer.sign(wire.T_MODEL_COMMIT, 0x7FF0, b"")))
    finally:
        sim.kill()
        await g.close()


@pytest.mark.parametrize("cut", [1, 2, 5, 9, 14, 15, 16])
async def test_kill_during_upload_boots_old_or_new(rig: SimGarment, tmp_path: Path, cut: int) -> None:
    sim = SimGarment(state_dir=tmp_path / "flash")
    sim.start()
    try:
        g = await _client(sim.url)
        await g.upload_model(LDA)
        await g.close()
        await _kill_after(sim, cut, MLP)  # MLP is 1727 B: BEGIN + 14 chunks + COMMIT
        sim.restart()
        g = await _client(sim.url)
        info = await g.model_info()
        assert info["verified"], info
        assert info["active"]["crc"] in (crc(LDA), crc(MLP)), info
        # an interrupted upload resumes where it stopped and completes
        info = await g.upload_model(MLP)
        assert info["active"]["crc"] == crc(MLP)
        await g.close()
    finally:
        sim.stop()
