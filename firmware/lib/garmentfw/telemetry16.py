# 16-bit sample packing for R_SAMPLES of kind STREAM_FILTERED16 (see wire.py): each int32
# filtered code becomes int16 LE = code >> shift (arithmetic), saturated to int16.
# Called per telemetry packet on the hot path: viper, no allocation.
import micropython

from garmentfw import wire


@micropython.viper
def pack_i16(src: ptr32, n: int, dst: ptr8, off: int, shift: int, soff: int) -> int:
    """Pack n int32 values of src[soff:] into dst[off:off + 2n] as int16 LE of ``v >> shift``,
    saturated to -32768..32767; returns how many values were saturated."""
    # ptr32 loads zero-extend on the unix port (64-bit viper ints): sign-extend, as dsp.py
    # does (a no-op on the 32-bit MCUs); 1 << 31 is formed at run time (not a small int).
    sb = 1
    sb = sb << 31
    i = soff
    n += soff
    o = off
    clipped = 0
    while i < n:
        v = src[i]
        v = v | (0 - (v & sb))
        v = v >> shift
        if v > 32767:
            v = 32767
            clipped += 1
        elif v < -32768:
            v = -32768
            clipped += 1
        dst[o] = v & 0xFF
        dst[o + 1] = (v >> 8) & 0xFF
        o += 2
        i += 1
    return clipped


def sample_bytes(kind: int) -> int:
    """Bytes per sample value in an R_SAMPLES body of this stream kind."""
    return wire.SAMPLE16_BYTES if kind == wire.STREAM_FILTERED16 else wire.SAMPLE_BYTES


def reference(v: int, shift: int = wire.FILTERED16_SHIFT) -> int:
    """The value pack_i16 sends for v (plain Python, for tests and the host's golden check)."""
    v >>= shift
    return 32767 if v > 32767 else -32768 if v < -32768 else v
