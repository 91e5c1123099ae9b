# 16-bit telemetry packing (STREAM_FILTERED16): exact values, saturation, offsets, no allocation.
import gc
import struct
from array import array

from garmentfw import wire
from garmentfw.telemetry16 import pack_i16, reference, sample_bytes

VALUES = [0, 1, 15, 16, 17, -1, -15, -16, -17, 524272, 524287, 524288, 8388607,
          -524288, -524289, -524304, -8388608, 123456, -123456, 32767 << 4, -(32768 << 4)]


def test_values_match_the_reference_and_struct():
    src = array("i", VALUES)
    dst = bytearray(2 * len(VALUES) + 5)
    clipped = pack_i16(src, len(VALUES), dst, 5, wire.FILTERED16_SHIFT, 0)
    want = [reference(v) for v in VALUES]
    got = list(struct.unpack_from("<%dh" % len(VALUES), dst, 5))
    assert got == want, (got, want)
    assert dst[:5] == bytearray(5)  # nothing before the offset touched
    assert clipped == sum(1 for v in VALUES if not -32768 <= (v >> 4) <= 32767)
    assert clipped == 5  # 524288, 8388607, -524289, -524304, -8388608


def test_arithmetic_shift_rounds_towards_minus_infinity():
    src = array("i", [-1, -16, -17, 31, -32])
    dst = bytearray(10)
    pack_i16(src, 5, dst, 0, 4, 0)
    assert list(struct.unpack("<5h", dst)) == [-1, -1, -2, 1, -2]


def test_other_shifts_and_partial_count():
    src = array("i", [1 << 20, -(1 << 20), 300, -300])
    dst = bytearray(8)
    assert pack_i16(src, 2, dst, 0, 8, 0) == 0
    assert list(struct.unpack("<2h", dst[:4])) == [4096, -4096]
    assert dst[4:] == bytearray(4)  # only n values written
    assert pack_i16(src, 4, dst, 0, 0, 0) == 2
    assert list(struct.unpack("<4h", dst)) == [32767, -32768, 300, -300]


def test_sample_bytes_by_kind():
    assert sample_bytes(wire.STREAM_FILTERED16) == 2
    assert sample_bytes(wire.STREAM_FILTERED) == 3 and sample_bytes(wire.STREAM_RAW) == 3
    # a full packet of 8 ch x SAMPLES_PER_PACKET fits the body
    assert wire.SAMPLES_HDR_LEN + 8 * wire.SAMPLES_PER_PACKET * 2 <= wire.MAX_BODY


def test_no_allocation():
    src = array("i", [(i * 7919 % 4001 - 2000) * 300 for i in range(160)])
    dst = bytearray(400)
    pack_i16(src, 160, dst, 7, 4, 0)  # warm up
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(20):
        pack_i16(src, 160, dst, 7, 4, 0)
    assert gc.mem_alloc() == before
