"""Host decode throughput: R_SAMPLES frames -> deframed, CRC-checked, int32 arrays.

Prints samples (8-channel) decoded per CPU second and the ratio to the 2 kHz that a
garment streams: how many garments one host core could follow.

Usage: python benchmarks/bench_host_decode.py [--frames 20000]
"""
from __future__ import annotations

import argparse
import struct
import time

import numpy as np

from garment.client import decode_samples
from garment.protocol import Deframer, encode_packet, wire


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    n, nch = wire.SAMPLES_PER_PACKET, 8
    stream = bytearray()
    for i in range(a.frames):
        x = rng.integers(-(2**23), 2**23, size=(n, nch), dtype=np.int32)
        body = struct.pack(wire.SAMPLES_HDR_FMT, i * n, n, nch, 1) + x.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        stream += encode_packet(wire.R_SAMPLES, i & 0xFFFF, body)
    d = Deframer()
    t0 = time.process_time()
    total = 0
    for i in range(0, len(stream), 4096):  # reads of the size a serial port hands over
        for p in d.feed(bytes(stream[i : i + 4096])):
            total += len(decode_samples(p.body)[3])
    dt = time.process_time() - t0
    assert total == a.frames * n and d.crc_errors == 0
    rate = total / dt
    print(f"host decode: {total} samples x {nch} ch in {dt:.3f} CPU s -> {rate:,.0f} samples/s "
          f"({dt / total * 1e6:.2f} us per 8-ch sample; {rate / 2000:.0f}x one 8 ch x 2 kHz garment)")


if __name__ == "__main__":
    main()
