import gc
import json
from array import array

from garmentfw import framing, wire


def _golden():
    with open("../../../models/golden/wire_frames.json") as f:
        return json.load(f)


def _unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


def test_crc_check_value():
    g = _golden()["crc16_check"]
    data = _unhex(g["input"])
    assert framing.crc16(data, 0, len(data)) == g["crc"] == 0x29B1


def test_golden_frames_encode():
    fr = framing.Framer()
    for case in _golden()["frames"]:
        body = _unhex(case["body"])
        fr.seq = case["seq"]
        pkt = fr.packet()
        pkt[3:3 + len(body)] = body
        n = fr.encode(pkt, case["type"], len(body))
        assert bytes(fr.out[:n]) == _unhex(case["frame"]), case["type"]


def test_golden_frames_decode():
    got = []
    errors = []

    def on_packet(t, seq, pkt, blen):
        got.append((t, seq, bytes(pkt[3:3 + blen])))

    d = framing.Deframer(on_packet, errors.append)
    frames = _golden()["frames"]
    stream = b"".join(_unhex(c["frame"]) for c in frames)
    # Feed in awkward pieces to exercise reassembly across reads.
    i = 0
    step = 1
    while i < len(stream):
        chunk = stream[i:i + step]
        d.feed(chunk, len(chunk))
        i += step
        step = step * 3 % 97 + 1
    assert errors == []
    assert len(got) == len(frames)
    for (t, seq, body), c in zip(got, frames):
        assert t == c["type"] and seq == c["seq"] and body == _unhex(c["body"])


def test_bad_frames_are_counted_not_raised():
    got = []
    errors = []
    d = framing.Deframer(lambda *a: got.append(a), errors.append)
    good = _unhex(_golden()["frames"][2]["frame"])
    bad_crc = bytearray(good)
    bad_crc[2] ^= 0x40
    junk = bytes([5, 1, 2, 0])  # code 5 promises 4 bytes, frame has 2
    over = bytes([1]) * (wire.MAX_ENCODED + 10) + b"\x00"
    for chunk in (bytes(bad_crc), junk, b"\x02\x07\x00", over, good):
        d.feed(chunk, len(chunk))
    assert errors == [wire.E_CRC, wire.E_MALFORMED, wire.E_MALFORMED, wire.E_OVERSIZE], errors
    assert len(got) == 1  # the good frame after all the garbage still decodes


def test_encode_and_feed_allocate_nothing():
    fr = framing.Framer()
    sink = []
    d = framing.Deframer(lambda t, s, p, n: None, sink.append)
    body_len = 480
    pkt = fr.packet()
    for i in range(body_len):
        pkt[3 + i] = (i * 7) & 0xFF
    n = fr.encode(pkt, wire.R_SAMPLES, body_len)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(50):
        n = fr.encode(pkt, wire.R_SAMPLES, body_len)
        d.feed(fr.out, n)
    assert gc.mem_alloc() - before == 0
