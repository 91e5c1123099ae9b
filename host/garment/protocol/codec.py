"""COBS framing and CRC-16/CCITT-FALSE on the host, byte-identical to ``garmentfw.framing``.

Golden frames in ``models/golden/wire_frames.json`` pin both implementations.
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass

import numpy as np

from garment.protocol.wire import wire


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); ``binascii.crc_hqx`` is exactly that."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` and append the 0x00 delimiter (same byte layout as the firmware)."""
    if len(data) >= 64:
        fast = _cobs_encode_short_runs(data)
        if fast is not None:
            return fast
    out = bytearray()
    for i, block in enumerate(data.split(b"\x00")):
        # Each zero-free run is split into pieces of at most 254 bytes.
        start = 0
        while True:
            piece = block[start : start + 254]
            out.append(len(piece) + 1)
            out += piece
            start += 254
            if len(piece) < 254:
                break
            if start > len(block):
                break
            if start == len(block):
                # A run of exactly k*254 bytes: the firmware emits a final code 0x01.
                out.append(1)
                break
    out.append(0)
    return bytes(out)


def _cobs_encode_short_runs(data: bytes) -> bytes | None:
    """The same encoding in numpy when no zero-free run reaches 254 bytes (then every code
    byte is the distance to the next zero; samples full of zero bytes make the loop above
    slow), else None. The rig's feed packets are such data."""
    a = np.empty(len(data) + 2, dtype=np.uint8)
    a[0] = 0
    a[1:-1] = np.frombuffer(data, dtype=np.uint8)
    z = np.flatnonzero(a[:-1] == 0)
    nxt = np.empty_like(z)
    nxt[:-1] = z[1:]
    nxt[-1] = len(a) - 1
    dist = nxt - z
    if int(dist.max()) >= 254:
        return None
    a[z] = dist
    a[-1] = 0
    return a.tobytes()


def cobs_decode(frame: bytes | bytearray | memoryview) -> bytes:
    """Decode one COBS frame without its delimiter; ``ValueError`` if it is malformed."""
    out = bytearray()
    i = 0
    n = len(frame)
    while i < n:
        code = frame[i]
        if code == 0:
            raise ValueError("zero byte inside a COBS frame")
        end = i + code
        if end > n:
            raise ValueError("COBS block runs past the end of the frame")
        chunk = frame[i + 1 : end]
        if 0 in chunk:
            raise ValueError("zero byte inside a COBS frame")
        out += chunk
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded packet: its type, the sender's sequence number and the body."""

    type: int
    seq: int
    body: bytes


def encode_packet(ptype: int, seq: int, body: bytes = b"") -> bytes:
    """Build the on-wire frame (COBS + delimiter) of one packet."""
    if len(body) > wire.MAX_BODY:
        raise ValueError(f"body of {len(body)} bytes exceeds MAX_BODY={wire.MAX_BODY}")
    pkt = bytes((ptype, seq & 0xFF, (seq >> 8) & 0xFF)) + bytes(body)
    c = crc16(pkt)
    return cobs_encode(pkt + bytes((c & 0xFF, c >> 8)))


class Deframer:
    """Turns received bytes into packets; counts CRC failures, malformed and oversize frames."""

    def __init__(self, max_encoded: int = wire.MAX_ENCODED) -> None:
        self._buf = bytearray()
        self._max = max_encoded
        self._discarding = False
        self.crc_errors = 0
        self.malformed = 0
        self.oversize = 0

    def reset(self) -> None:
        """Forget a partly received frame (the link dropped); the counters stay."""
        self._buf.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[Packet]:
        """Add received bytes; return every complete, valid packet they finish."""
        packets: list[Packet] = []
        buf = self._buf
        buf += data
        start = 0
        while True:
            end = buf.find(0, start)
            if end < 0:
                break
            frame = buf[start:end]
            start = end + 1
            if self._discarding:
                self._discarding = False
                continue
            if not frame:
                continue
            if len(frame) > self._max:
                self.oversize += 1
                continue
            pkt = self._decode(frame)
            if pkt is not None:
                packets.append(pkt)
        del buf[:start]
        if len(buf) > self._max:
            # No delimiter within the longest legal frame: drop it and resync at the next 0x00.
            self.oversize += 1
            buf.clear()
            self._discarding = True
        return packets

    def _decode(self, frame: bytes | bytearray) -> Packet | None:
        try:
            pkt = cobs_decode(frame)
        except ValueError:
            self.malformed += 1
            return None
        if len(pkt) < wire.HEADER_LEN + wire.CRC_LEN:
            self.malformed += 1
            return None
        if crc16(pkt[:-2]) != (pkt[-2] | (pkt[-1] << 8)):
            self.crc_errors += 1
            return None
        return Packet(pkt[0], pkt[1] | (pkt[2] << 8), pkt[3:-2])
