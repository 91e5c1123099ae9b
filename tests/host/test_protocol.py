"""The host codec against the golden frames shared with the firmware, and bad input."""
import json
import os
from pathlib import Path

import pytest

from garment.protocol import Deframer, cobs_decode, cobs_encode, crc16, encode_packet, wire

GOLDEN = json.loads((Path(__file__).parents[2] / "models/golden/wire_frames.json").read_text())


def test_crc_check_value() -> None:
    g = GOLDEN["crc16_check"]
    assert crc16(bytes.fromhex(g["input"])) == g["crc"] == 0x29B1


@pytest.mark.parametrize("case", GOLDEN["frames"], ids=lambda c: f"t{c['type']:02x}-{len(c['body'])//2}B")
def test_golden_encode_decode(case: dict) -> None:
    body = bytes.fromhex(case["body"])
    frame = encode_packet(case["type"], case["seq"], body)
    assert frame.hex() == case["frame"]
    (pkt,) = Deframer().feed(frame)
    assert (pkt.type, pkt.seq, pkt.body) == (case["type"], case["seq"], body)


@pytest.mark.parametrize("n", [0, 1, 253, 254, 255, 507, 508, 509, 1000])
def test_cobs_roundtrip(n: int) -> None:
    for data in (bytes(n), os.urandom(n), b"\x01" * n):
        enc = cobs_encode(data)
        assert enc[-1] == 0 and 0 not in enc[:-1]
        assert cobs_decode(enc[:-1]) == data


def test_deframer_survives_garbage_and_counts_it() -> None:
    d = Deframer()
    good = encode_packet(wire.R_ACK, 7, b"\x01\x00\x05")
    bad = cobs_encode(b"\x80\x07\x00\x01\x02\x05" + b"\x12\x34")  # well framed, wrong CRC
    stream = bytes(bad) + b"\x05\x01\x02\x00" + b"\x01" * (wire.MAX_ENCODED + 50) + b"\x00" + good
    out = []
    for i in range(0, len(stream), 7):  # awkward read sizes
        out += d.feed(stream[i : i + 7])
    assert [p.seq for p in out] == [7]
    assert (d.crc_errors, d.malformed, d.oversize) == (1, 1, 1)


def test_oversize_body_refused() -> None:
    with pytest.raises(ValueError, match="MAX_BODY"):
        encode_packet(wire.T_HELLO, 0, bytes(wire.MAX_BODY + 1))


def test_cobs_fast_path_is_byte_identical_to_the_loop() -> None:
    """The numpy path (data of short zero-free runs, like the rig's feed packets) gives the
    loop's bytes; data with a run of 253 or more takes the loop."""
    import numpy as np

    from garment.protocol import codec

    rng = np.random.default_rng(3)
    fast = 0
    for n in (64, 65, 253, 254, 255, 600, 1000):
        for p_zero in (0.0, 0.004, 0.05, 0.5, 1.0):
            for _ in range(30):
                data = np.where(rng.random(n) < p_zero, 0, rng.integers(1, 256, n)).astype(np.uint8).tobytes()
                got = codec._cobs_encode_short_runs(data)
                if got is not None:
                    fast += 1
                    loop = bytearray()
                    for block in data.split(b"\x00"):  # short runs: one code byte per block
                        loop.append(len(block) + 1)
                        loop += block
                    loop.append(0)
                    assert got == bytes(loop) and cobs_decode(got[:-1]) == data
                assert cobs_decode(cobs_encode(data)[:-1]) == data
    assert fast > 300


SAMPLES64 = json.loads((Path(__file__).parents[2] / "models/golden/samples64.json").read_text())


def test_64_channel_samples_golden() -> None:
    """The HD garment's 64-channel R_SAMPLES packets (firmware side: tests/firmware/mp/test_device_hd.py)."""
    from garment.client import decode_samples

    codes = SAMPLES64["codes"]
    s = 0
    for p in SAMPLES64["packets"]:
        body = bytes.fromhex(p["body"])
        assert len(body) <= wire.MAX_BODY and p["n"] == wire.samples_per_packet(64) or p is SAMPLES64["packets"][-1]
        first, nch, kind, x = decode_samples(body)
        assert (first, nch, kind) == (p["first_index"], 64, wire.STREAM_FILTERED)
        assert x.tolist() == codes[s : s + p["n"]]
        assert encode_packet(wire.R_SAMPLES, p["seq"], body).hex() == p["frame"]
        s += p["n"]
    assert s == len(codes)
