# Packs processed samples into R_SAMPLES packets (int24 LE, or int16 LE for
# STREAM_FILTERED16) and queues them.
import micropython

from garmentfw import wire
from garmentfw.telemetry16 import pack_i16


@micropython.viper
def _pack_i24(src: ptr32, n: int, dst: ptr8, off: int, soff: int):
    i = soff
    n += soff
    o = off
    while i < n:
        v = src[i]
        dst[o] = v & 0xFF
        dst[o + 1] = (v >> 8) & 0xFF
        dst[o + 2] = (v >> 16) & 0xFF
        o += 3
        i += 1


class SampleStreamer:
    """Builds R_SAMPLES packets of up to wire.samples_per_packet(n_ch) contiguous samples."""

    def __init__(self, framer, txq):
        self._fr = framer
        self._pkt = framer.packet()
        self._txq = txq
        self.n_ch = 0
        self.kind = wire.STREAM_FILTERED
        self._n = 0
        self._first = 0
        self._bps = wire.SAMPLE_BYTES
        self._cap = wire.SAMPLES_PER_PACKET  # samples per packet at this channel count
        self.packets = 0
        self.clipped16 = 0  # 16-bit values saturated (STREAM_FILTERED16)

    def start(self, n_ch: int, kind: int) -> None:
        self.n_ch = n_ch
        self.kind = kind
        self._bps = wire.SAMPLE16_BYTES if kind == wire.STREAM_FILTERED16 else wire.SAMPLE_BYTES
        self._cap = wire.samples_per_packet(n_ch, self._bps)
        self._n = 0

    def add(self, block, n: int, first_index: int) -> None:
        """Append n samples (interleaved in block) whose first AFE index is first_index."""
        if self._n and first_index != (self._first + self._n) & wire.COUNTER_MASK:
            self.flush()  # a gap: never join non-contiguous samples in one packet
        nch = self.n_ch
        pkt = self._pkt
        cap = self._cap
        done = 0
        while done < n:
            if self._n == 0:
                self._first = (first_index + done) & wire.COUNTER_MASK
            k = cap - self._n
            if k > n - done:
                k = n - done
            off = wire.HEADER_LEN + wire.SAMPLES_HDR_LEN + self._n * nch * self._bps
            if self._bps == wire.SAMPLE16_BYTES:
                self.clipped16 += pack_i16(block, k * nch, pkt, off, wire.FILTERED16_SHIFT, done * nch)
            else:
                _pack_i24(block, k * nch, pkt, off, done * nch)
            self._n += k
            done += k
            if self._n >= cap:
                self.flush()

    def flush(self) -> None:
        n = self._n
        if not n:
            return
        pkt = self._pkt
        f = self._first
        pkt[3] = f & 0xFF
        pkt[4] = (f >> 8) & 0xFF
        pkt[5] = (f >> 16) & 0xFF
        pkt[6] = (f >> 24) & 0xFF
        pkt[7] = n
        pkt[8] = self.n_ch
        pkt[9] = self.kind
        body = wire.SAMPLES_HDR_LEN + n * self.n_ch * self._bps
        m = self._fr.encode(pkt, wire.R_SAMPLES, body)
        self._txq.push(self._fr.out, m)
        self._n = 0
        self.packets += 1
