# Fixed-point EMG filters of the data path: stimulation-artefact blanking, then a
# Butterworth high-pass at 20 Hz (order 2 or 4) and a mains notch (50/60 Hz, Q = 30,
# optionally also at the 2nd harmonic), per channel, on interleaved int32 blocks.
#
# Bit-exact contract: garment.features.filters (host, numpy) computes the very same
# integers; models/golden/filters.json pins both. Coefficients come from the shared
# table garmentfw/filter_coeffs.py (generated on the host with scipy).
#
# Everything after construction is allocation-free: preallocated array('i') state,
# @micropython.viper kernels, integers only.
#
# ---------------------------------------------------------------- the arithmetic
# Samples: int32 words holding 24-bit ADC codes. Every input, state and output word is
# saturated to [V_MIN, V_MAX] = [-2**26, 2**26 - 1]: 4x headroom over 24 bits. The
# worst 24-bit input for the full cascade (rail-to-rail, sign-matched to its impulse
# response) peaks below 2**25 (tested on the host), so saturation only ever bites on
# out-of-contract input (e.g. int32 garbage), which is clamped, never wrapped.
#
# One biquad section, direct form I, coefficients in Q2.14 (b0, b1, b2, na1 = -a1,
# na2 = -a2), with the exact rule (">>" is an arithmetic/floor shift):
#   t = b0*x0 + b1*x1 + b2*x2 + na1*y1 + na2*y2 + ((na1*f1 + na2*f2) >> 14) + 2**13
#   y = t >> 14                        (the output: t / 2**14 rounded half up)
#   f = (t & 0x3FFF) - 2**13           (what y dropped, in 2**-14 LSB: [-2**13, 2**13))
#   if y is outside [V_MIN, V_MAX]: y = saturated, f = 0
# Error feedback: f1, f2 are the fractions dropped from y1, y2; feeding them through
# the same recursive coefficients makes the recursion behave as if y carried 14 more
# fractional bits, so rounding noise is NOT amplified by 1/A(z) (~250x near DC for
# the 20 Hz high-pass at 2 kHz, ~60x at mains for the Q=30 notch). Measured error vs.
# a float filter with the same quantised coefficients: < 2 LSB peak, no DC bias; a
# constant input decays to exactly 0 (the high-pass zeros are exactly at DC).
#
# ----------------------------------------------------------- overflow argument
# t needs ~40 bits (2**26 * 2**15), but on the MCUs viper ints are 32-bit words, so
# the device never forms t. Each word w (|w| <= 2**26) is split as
#   w = (w >> 12) * 2**12 + (w & 0xFFF):  hi in [-2**14, 2**14 - 1], lo in [0, 4095]
# and two accumulators are summed left to right:
#   HI = sum c * hi(w),  LO = sum c * lo(w) + ((na1*f1 + na2*f2) >> 14) + 2**13
# so that t = HI * 2**12 + LO. Every coefficient |c| <= 2**15 and every table
# section has sum|c| <= 7 * 2**14 = 114688 (asserted by the generator; true for any
# stable biquad with |b| <= [1, 2, 1]). Hence, for all partial sums:
#   |c * hi|      <= 2**15 * 2**14           = 2**29
#   |HI|          <= 114688 * 2**14          = 1879048192 < 2**31 - 1
#   |c * lo|      <= 2**15 * 4095            < 2**27
#   |na1*f1 + na2*f2| <= 2 * 2**15 * 2**13   = 2**29
#   |LO|          <= 114688 * 4095 + 2**15 + 2**13  < 2**29
#   S = HI + (LO >> 12): |S| <= 1879048192 + 2**17 < 2**31 - 1
# and then  y = S >> 2  (= t >> 14, since t = S*2**12 + (LO & 0xFFF)),
#           f = (((S & 3) << 12) | (LO & 0xFFF)) - 2**13  (= (t & 0x3FFF) - 2**13).
# Nothing exceeds a signed 32-bit word. The host reference re-runs this exact split
# on the golden vectors and asserts every intermediate (check_words=True).
#
# Unix port note: there viper ints are 64-bit and ptr32 loads zero-extend, so every
# word loaded from an array('i') is sign-extended with  v | (0 - (v & (1 << 31)))
# (a no-op on 32-bit MCUs); the 1 << 31 is formed at run time (it is not a small int).
#
# ------------------------------------------------------------------ blanking
# blank() replaces samples [start, start+length) of the masked channels by the line
# between the samples at start-1 and start+length:
#   sample k of the window (0-based) = a + floor((b - a) * (k+1) / (length+1)),
# computed with a Bresenham-style accumulator (no products, no overflow). Without a
# left anchor (start == 0) FilterBank.blank uses the last input of the previous block;
# without a right anchor (window reaches the block end) the left one is held, and the
# caller continues the window in the next block with start = 0. Blank the raw block
# BEFORE process(): neither the high-pass nor the notch then rings on the artefact.
import micropython
from array import array
from micropython import const

from garmentfw import filter_coeffs as _fc

_V_MAX = const(67108863)  # 2**26 - 1
_V_MIN = const(-67108864)  # -2**26
_NW = const(6)  # state words per section and channel: x1 x2 y1 y2 f1 f2

if _fc.Q != 14 or _fc.SPLIT != 12 or _fc.V_MAX != _V_MAX or _fc.V_MIN != _V_MIN:
    raise ImportError("filter_coeffs arithmetic does not match dsp")


@micropython.viper
def _run(blk: ptr32, n: int, n_ch: int, coef: ptr32, n_sec: int, st: ptr32):
    # Filters blk (n samples x n_ch, interleaved) in place through n_sec sections.
    # st = [last input per channel (n_ch)] + [x1 x2 y1 y2 f1 f2] per (channel, section).
    sb = 1
    sb = sb << 31
    end = n * n_ch
    ch = 0
    while ch < n_ch:
        v = blk[end - n_ch + ch]
        v = v | (0 - (v & sb))
        if v > _V_MAX:
            v = _V_MAX
        elif v < _V_MIN:
            v = _V_MIN
        st[ch] = v
        k = 0
        while k < n_sec:
            c = 5 * k
            b0 = coef[c]
            b0 = b0 | (0 - (b0 & sb))
            b1 = coef[c + 1]
            b1 = b1 | (0 - (b1 & sb))
            b2 = coef[c + 2]
            b2 = b2 | (0 - (b2 & sb))
            a1 = coef[c + 3]
            a1 = a1 | (0 - (a1 & sb))
            a2 = coef[c + 4]
            a2 = a2 | (0 - (a2 & sb))
            s = n_ch + _NW * (ch * n_sec + k)
            x1 = st[s]
            x1 = x1 | (0 - (x1 & sb))
            x2 = st[s + 1]
            x2 = x2 | (0 - (x2 & sb))
            y1 = st[s + 2]
            y1 = y1 | (0 - (y1 & sb))
            y2 = st[s + 3]
            y2 = y2 | (0 - (y2 & sb))
            f1 = st[s + 4]
            f1 = f1 | (0 - (f1 & sb))
            f2 = st[s + 5]
            f2 = f2 | (0 - (f2 & sb))
            p = ch
            while p < end:
                x0 = blk[p]
                x0 = x0 | (0 - (x0 & sb))
                if x0 > _V_MAX:
                    x0 = _V_MAX
                elif x0 < _V_MIN:
                    x0 = _V_MIN
                hi = b0 * (x0 >> 12) + b1 * (x1 >> 12) + b2 * (x2 >> 12) + a1 * (y1 >> 12) + a2 * (y2 >> 12)
                lo = b0 * (x0 & 0xFFF) + b1 * (x1 & 0xFFF) + b2 * (x2 & 0xFFF) + a1 * (y1 & 0xFFF) + a2 * (y2 & 0xFFF)
                lo = lo + ((a1 * f1 + a2 * f2) >> 14)
                lo = lo + 8192
                hi = hi + (lo >> 12)
                y = hi >> 2
                f = (((hi & 3) << 12) | (lo & 0xFFF)) - 8192
                if y > _V_MAX:
                    y = _V_MAX
                    f = 0
                elif y < _V_MIN:
                    y = _V_MIN
                    f = 0
                blk[p] = y
                x2 = x1
                x1 = x0
                y2 = y1
                y1 = y
                f2 = f1
                f1 = f
                p += n_ch
            st[s] = x1
            st[s + 1] = x2
            st[s + 2] = y1
            st[s + 3] = y2
            st[s + 4] = f1
            st[s + 5] = f2
            k += 1
        ch += 1


@micropython.viper
def _zero(buf: ptr32, n: int):
    i = 0
    while i < n:
        buf[i] = 0
        i += 1


@micropython.viper
def _prime(blk: ptr32, n_ch: int, n_sec: int, st: ptr32):
    # Section 0's input history := the first sample (a DC input in steady state).
    sb = 1
    sb = sb << 31
    ch = 0
    while ch < n_ch:
        v = blk[ch]
        v = v | (0 - (v & sb))
        if v > _V_MAX:
            v = _V_MAX
        elif v < _V_MIN:
            v = _V_MIN
        s = n_ch + _NW * ch * n_sec
        st[s] = v
        st[s + 1] = v
        ch += 1


@micropython.viper
def _ld(buf: ptr32, i: int) -> int:
    # buf[i] sign-extended and saturated to [V_MIN, V_MAX] (a small int on every port).
    sb = 1
    sb = sb << 31
    v = buf[i]
    v = v | (0 - (v & sb))
    if v > _V_MAX:
        v = _V_MAX
    elif v < _V_MIN:
        v = _V_MIN
    return v


@micropython.viper
def _fill(blk: ptr32, p: int, stride: int, count: int, v: int, q: int, r: int, m: int):
    # blk[p + i*stride] = v + floor((q*m + r) * (i+1) / m) for i < count; 0 <= r < m.
    acc = 0
    i = 0
    while i < count:
        v += q
        acc += r
        if acc >= m:
            acc -= m
            v += 1
        blk[p] = v
        p += stride
        i += 1


def _blank(block, n_samples, n_ch, ch_mask, start, length, last, have_last):
    s = start if start > 0 else 0
    e = start + length
    if e > n_samples:
        e = n_samples
    if e <= s:
        return
    m = e - s + 1
    for ch in range(n_ch):
        if not (ch_mask >> ch) & 1:
            continue
        has_a = s > 0 or have_last
        if s > 0:
            a = _ld(block, (s - 1) * n_ch + ch)
        elif have_last:
            a = _ld(last, ch)
        else:
            a = 0
        has_b = e < n_samples
        b = _ld(block, e * n_ch + ch) if has_b else 0
        if not has_a:
            a = b
        if not has_b:
            b = a
        d = b - a
        q = d // m  # floor division: 0 <= r < m
        _fill(block, s * n_ch + ch, n_ch, e - s, a, q, d - q * m, m)


def blank(block, n_samples, n_ch, ch_mask, start, length):
    """Interpolate samples [start, start+length) of the channels in ch_mask (bit i =
    channel i) of the interleaved block linearly between the samples at start-1 and
    start+length, in place, integer-only, allocation-free. The window is clipped to the
    block; a missing anchor holds the other one (0 if both are missing)."""
    _blank(block, n_samples, n_ch, ch_mask, start, length, None, False)


class FilterBank:
    """Per-channel cascade: high-pass (20 Hz Butterworth) then mains notch(es).

    FilterBank(n_ch, fs, mains_hz=50, hp=True, notch=True, hp_order=4, harmonic=True)
    fs in filter_coeffs.FS (250, 500, 1000, 2000), mains_hz in (50, 60), hp_order 2
    or 4; harmonic adds a notch at 2 x mains. Blocks are interleaved array('i')
    (n_samples x n_ch, 24-bit codes); all methods but __init__ allocate nothing.
    """

    def __init__(self, n_ch, fs, mains_hz=50, hp=True, notch=True, hp_order=4, harmonic=True):
        if n_ch < 1:
            raise ValueError("n_ch")
        if fs not in _fc.FS:
            raise ValueError("fs must be one of %r" % (_fc.FS,))
        if mains_hz not in _fc.MAINS:
            raise ValueError("mains_hz must be one of %r" % (_fc.MAINS,))
        if hp_order not in _fc.HP_ORDERS:
            raise ValueError("hp_order must be one of %r" % (_fc.HP_ORDERS,))
        secs = []
        if hp:
            secs.extend(_fc.HP[(fs, hp_order)])
        if notch:
            pair = _fc.NOTCH[(fs, mains_hz)]
            secs.append(pair[0])
            if harmonic:
                secs.append(pair[1])
        self.n_ch = n_ch
        self.fs = fs
        self.mains_hz = mains_hz
        self.n_sec = len(secs)
        self._hp = bool(hp)
        self._coef = array("i", [c for sec in secs for c in sec])
        self._st = array("i", bytes(4 * (n_ch + _NW * n_ch * self.n_sec)))
        self._have_last = False

    def reset(self):
        """Zero all filter state (as after construction)."""
        _zero(self._st, len(self._st))
        self._have_last = False

    def prime(self, block):
        """reset(), then set the high-pass input history to the block's first sample per
        channel, as if it had been applied forever: an electrode DC offset then causes
        no start-up transient (exactly: the high-pass DC gain is 0). Call before the
        first process(); no-op beyond reset() without a high-pass."""
        self.reset()
        if self._hp and self.n_sec:
            _prime(block, self.n_ch, self.n_sec, self._st)

    def process(self, block, n_samples):
        """Filter the first n_samples x n_ch words of block in place."""
        if n_samples <= 0:
            return
        if n_samples * self.n_ch > len(block):
            raise ValueError("block too short")
        _run(block, n_samples, self.n_ch, self._coef, self.n_sec, self._st)
        self._have_last = True

    def blank(self, block, n_samples, ch_mask, start, length):
        """Blank [start, start+length) of the channels in ch_mask by linear interpolation,
        in place, BEFORE process(). At start == 0 the previous block's last input is the
        left anchor; a window running past the block end holds its left anchor (continue
        it in the next block with start=0)."""
        _blank(block, n_samples, self.n_ch, ch_mask, start, length, self._st, self._have_last)
