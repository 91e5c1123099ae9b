# Device side of the framing in wire.py: CRC-16/CCITT-FALSE, COBS and the
# packet builder/deframer. Everything here works on preallocated buffers so that
# per-packet paths (telemetry at 100+ packets/s) allocate nothing.
import micropython
from array import array

from garmentfw import wire


def _make_crc_table():
    t = array("H", bytes(512))
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t[i] = c & 0xFFFF
    return t


_CRC_TABLE = _make_crc_table()


@micropython.viper
def _crc16(buf: ptr8, start: int, n: int, table: ptr16) -> int:
    crc = 0xFFFF
    i = start
    end = start + n
    while i < end:
        crc = ((crc << 8) & 0xFF00) ^ table[((crc >> 8) ^ buf[i]) & 0xFF]
        i += 1
    return crc


def crc16(buf, start: int, n: int) -> int:
    """CRC-16/CCITT-FALSE of buf[start:start+n] (no slice, no allocation)."""
    return int(_crc16(buf, start, n, _CRC_TABLE))


@micropython.viper
def cobs_encode(src: ptr8, n: int, dst: ptr8) -> int:
    """COBS-encode src[0:n] into dst and append the 0x00 delimiter; returns bytes written."""
    code_at = 0
    code = 1
    o = 1
    i = 0
    while i < n:
        b = src[i]
        if b == 0:
            dst[code_at] = code
            code_at = o
            o += 1
            code = 1
        else:
            dst[o] = b
            o += 1
            code += 1
            if code == 0xFF:
                dst[code_at] = code
                code_at = o
                o += 1
                code = 1
        i += 1
    dst[code_at] = code
    dst[o] = 0
    return o + 1


@micropython.viper
def cobs_decode(src: ptr8, n: int, dst: ptr8, cap: int) -> int:
    """Decode one COBS frame (without its delimiter) into dst; -1 if malformed or > cap."""
    i = 0
    o = 0
    while i < n:
        code = src[i]
        if code == 0:
            return -1
        i += 1
        k = 1
        while k < code:
            if i >= n or o >= cap:
                return -1
            b = src[i]
            if b == 0:
                return -1
            dst[o] = b
            o += 1
            i += 1
            k += 1
        if code != 0xFF and i < n:
            if o >= cap:
                return -1
            dst[o] = 0
            o += 1
    return o


@micropython.viper
def _accumulate(src: ptr8, pos: int, n: int, acc: ptr8, st: ptr32, cap: int) -> int:
    # Appends src[pos:n] to acc until a 0x00 delimiter. st[0] = bytes held, st[1] = 1
    # once the frame overflowed cap (the rest of it is discarded up to its delimiter).
    # Returns the index just past the delimiter, or -1 when src ran out first.
    held = st[0]
    while pos < n:
        b = src[pos]
        pos += 1
        if b == 0:
            st[0] = held
            return pos
        if held < cap:
            acc[held] = b
            held += 1
        else:
            st[1] = 1
    st[0] = held
    return -1


class Deframer:
    """Splits a byte stream into packets: COBS-decoded, CRC-checked, size-limited.

    ``feed`` calls ``on_packet(type, seq, pkt, body_len)`` with the packet in a reused
    buffer (body at pkt[3:3+body_len]), or ``on_error(code)`` for a frame that fails.
    """

    def __init__(self, on_packet, on_error, cap: int = wire.MAX_ENCODED):
        self._acc = bytearray(cap)
        self._pkt = bytearray(wire.MAX_PACKET)
        self._st = array("i", (0, 0))
        self._cap = cap
        self._on_packet = on_packet
        self._on_error = on_error
        self.crc_errors = 0
        self.malformed = 0
        self.oversize = 0

    def reset(self) -> None:
        self._st[0] = 0
        self._st[1] = 0

    def feed(self, data, n: int) -> None:
        pos = 0
        st = self._st
        while pos < n:
            end = _accumulate(data, pos, n, self._acc, st, self._cap)
            if end < 0:
                return
            pos = end
            held = st[0]
            over = st[1]
            st[0] = 0
            st[1] = 0
            if over:
                self.oversize += 1
                self._on_error(wire.E_OVERSIZE)
            elif held:
                self._frame(held)
            # An empty frame (two delimiters) is line noise or a resync: ignore it.

    def _frame(self, held: int) -> None:
        pkt = self._pkt
        m = cobs_decode(self._acc, held, pkt, len(pkt))
        if m < wire.HEADER_LEN + wire.CRC_LEN:
            self.malformed += 1
            self._on_error(wire.E_MALFORMED)
            return
        body_len = m - wire.HEADER_LEN - wire.CRC_LEN
        got = pkt[m - 2] | (pkt[m - 1] << 8)
        if crc16(pkt, 0, m - 2) != got:
            self.crc_errors += 1
            self._on_error(wire.E_CRC)
            return
        self._on_packet(pkt[0], pkt[1] | (pkt[2] << 8), pkt, body_len)


class Framer:
    """Encodes packets built in place: write the body at offset 3 of a packet buffer
    (``packet()`` makes one), then ``encode(pkt, type, body_len)`` leaves the COBS frame
    in ``out``. One Framer per link: its ``seq`` numbers every packet the device sends."""

    def __init__(self):
        self.out = bytearray(wire.MAX_ENCODED)
        self.seq = 0

    @staticmethod
    def packet():
        return bytearray(wire.MAX_PACKET)

    def encode(self, pkt, ptype: int, body_len: int) -> int:
        seq = self.seq
        self.seq = (seq + 1) & 0xFFFF
        pkt[0] = ptype
        pkt[1] = seq & 0xFF
        pkt[2] = seq >> 8
        end = wire.HEADER_LEN + body_len
        c = crc16(pkt, 0, end)
        pkt[end] = c & 0xFF
        pkt[end + 1] = c >> 8
        return int(cobs_encode(pkt, end + 2, self.out))
