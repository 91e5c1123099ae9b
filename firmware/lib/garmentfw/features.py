# Windowed EMG features (MAV, WL, ZC, SSC, RMS, M2, M4, AR1..AR4, CR1..CR3), computed incrementally
# in integer viper code. The exact definitions, window alignment and 32-bit layout are THE
# contract in garmentfw/feature_spec.py; the host's numpy reference
# (garment.features.reference) produces the very same integers.
#
# Per sample and channel: saturate, form the contributions of the entering sample,
# store them in per-channel rings of the last W contributions, and update running
# sums (add entering, subtract leaving). Per window: long divisions and an integer
# square root from the running sums; for AR an integer Levinson-Durbin recursion on the
# window's autocorrelation (lags 0..4, exact 56-bit sums in two limbs, the lag products
# in a pass of their own, so the other features cost what they did); for CR the cross
# sums of neighbouring channels in a pass of their own, normalised per window by the
# channels' sums of squares. Nothing allocates
# after the constructor: all state lives in preallocated array('i') buffers.
#
# Usage:
#   fx = FeatureExtractor(n_ch=8, window=400, increment=100)
#   k = fx.push(block, n_samples)   # block: array('i'), n_samples x n_ch interleaved
#   for j in range(k):              # features of window j: fx.out[j*fx.width:(j+1)*fx.width]
#       ...                         # its end sample index: fx.ends[j]
# out/ends are overwritten by the next push(): consume them first.
import micropython
from micropython import const
from array import array

from garmentfw import feature_spec as spec

# Copies of the spec's constants as compile-time consts (inlined into the viper code);
# checked against the spec below, so the spec stays the one definition.
_SMIN = const(-8388608)
_SMAX = const(8388607)
_SPLIT = const(12)
_LO12 = const(0xFFF)
_SQ_SHIFT = const(28)
_LO28 = const(0xFFFFFFF)
_HALF = const(14)
_LO14 = const(0x3FFF)
_DMASK = const(0xFFFFFF)
_ZC_BIT = const(24)
_SSC_BIT = const(25)
_FZC = const(0x1000000)
_FSSC = const(0x2000000)
_IDX_MASK = const(0x3FFFFFFF)
assert (_SMIN, _SMAX, _SPLIT, _SQ_SHIFT, _HALF, _DMASK, _ZC_BIT, _SSC_BIT, _IDX_MASK + 1) == (
    spec.SAMPLE_MIN, spec.SAMPLE_MAX, spec.SPLIT, spec.SQ_SHIFT, spec.SQ_HALF,
    spec.D_MASK, spec.FLAG_ZC_BIT, spec.FLAG_SSC_BIT, spec.INDEX_MOD)
assert (spec.MAV, spec.WL, spec.ZC, spec.SSC, spec.RMS, spec.M2, spec.M4) == (0, 1, 2, 3, 4, 5, 6)

# Layout of the state array: header words, then _CS words per channel.
_H_NCH = const(0)
_H_W = const(1)
_H_I = const(2)
_H_ZT = const(3)  # zc threshold
_H_ST = const(4)  # ssc threshold
_H_POS = const(5)  # ring slot of the next sample (n mod W)
_H_DUE = const(6)  # samples until the next window end
_H_SEEN = const(7)  # samples seen since reset, saturated at 2
_H_IDX = const(8)  # index of the next sample, mod 2^30
_H_NEED = const(9)  # bit i set: feature id i is computed (AR: bit 7 for all four)
_H_NF = const(10)  # number of features per channel
_H_FIDS = const(11)  # feature ids in output order (up to 14 words)
_H_READY = const(25)  # 1: a window ended at the last ingested sample
_H_SX = const(26)  # sign-extension shift for ptr32 loads: 0 (32-bit MCU) or 32 (64-bit unix)
_H_RHO = const(27)  # AR scratch: rho_1..rho_4 of the channel in the recursion
_H_XPOS = const(31)  # AR / CR: ring slot of the next sample in the sample ring
_H_KCR = const(32)  # CR: largest channel offset computed (0: none)
_CH0 = const(33)
_CS = const(40)
# per-channel words
_C_P1 = const(0)  # x[n-1] - SAMPLE_MIN (offset binary: stored words stay >= 0)
_C_P2 = const(1)  # x[n-2] - SAMPLE_MIN
_C_AH = const(2)  # sum(|x| >> 12)
_C_AL = const(3)  # sum(|x| & 0xFFF)
_C_DH = const(4)  # sum(d >> 12)
_C_DL = const(5)  # sum(d & 0xFFF)
_C_ZC = const(6)  # zero-crossing count
_C_SSC = const(7)  # slope-sign-change count
_C_QH = const(8)  # sum of squares, limb 2^28
_C_QL = const(9)  # sum of squares, limb 1, in [0, 2^28)
_C_2H = const(10)  # sum of D1^2 (M2), limb 2^28
_C_2L = const(11)
_C_4H = const(12)  # sum of D2^2 (M4), limb 2^28
_C_4L = const(13)
_C_X1 = const(14)  # AR: x[n-1..n-4] - SAMPLE_MIN at _C_X1 + k - 1 (0 before the stream)
_C_R1 = const(18)  # AR: R_k as (hi signed, lo in [0, 2^28)) at _C_R1 + 2(k-1), k = 1..4
_C_A1 = const(26)  # AR: a_1..a_4 of the window that just ended (signed)
_C_S1 = const(30)  # CR: S_k = sum x_c x_(c+k) as (hi signed, lo in [0, 2^28)) at _C_S1 + 2(k-1), k = 1..3
_C_K1 = const(36)  # CR: CR1..CR3 of the window that just ended (signed)
_C_NR = const(39)  # CR scratch: the channel's normalised R_0 (see _correlate)

_NEED_A = const(1)  # MAV
_NEED_D = const(2)  # WL
_NEED_Z = const(4)  # ZC
_NEED_S = const(8)  # SSC
_NEED_Q = const(16)  # RMS (and R_0 of AR)
_NEED_2 = const(32)  # M2
_NEED_4 = const(64)  # M4
_NEED_R = const(128)  # AR1..AR4: lag products (a pass of their own: _lags)
_NEED_C = const(256)  # CR1..CR3: cross products (a pass of their own: _cross)
_ONE = const(16384)  # 2^AR_Q
_RND = const(8192)
assert (_ONE, _C_A1 - _C_R1, spec.AR1) == (1 << spec.AR_Q, 2 * spec.AR_ORDER, 7) and spec.AR_NORM_BITS == 16
assert (_C_K1 - _C_S1, _C_NR - _C_K1, spec.CR1, spec.CR_Q, spec.CR_NORM_BITS) == (6, 3, 11, 14, 29)
assert _H_READY - _H_FIDS >= spec.N_FEATURES and _CH0 == _H_KCR + 1


@micropython.viper
def _ingest(st: ptr32, ra: ptr32, rb: ptr32, rc: ptr32, blk: ptr32, off: int, n: int) -> int:
    # Consume samples blk[off..n) until the block ends or a window ends (then
    # st[_H_READY] = 1). Returns the offset of the first unconsumed sample. rc is the
    # ring of D2 (M4 only; a 1-word dummy otherwise).
    nch = int(st[_H_NCH])
    w = int(st[_H_W])
    pos = int(st[_H_POS])
    due = int(st[_H_DUE])
    seen = int(st[_H_SEEN])
    idx = int(st[_H_IDX])
    need = int(st[_H_NEED])
    zt = int(st[_H_ZT])
    sthr = int(st[_H_ST])
    sx = int(st[_H_SX])
    while off < n:
        pos1 = pos + 1
        if pos1 == w:
            pos1 = 0
        pos2 = pos1 + 1
        if pos2 == w:
            pos2 = 0
        r0 = pos * nch  # slot of x[n] (holds the contributions of x[n-W])
        r1 = pos1 * nch  # contributions of x[n-W+1]
        r2 = pos2 * nch  # contributions of x[n-W+2]
        b = off * nch
        c = 0
        s = _CH0
        while c < nch:
            x = (int(blk[b + c]) << sx) >> sx  # sign-extend the int32 word
            if x > _SMAX:
                x = _SMAX
            elif x < _SMIN:
                x = _SMIN
            p1 = int(st[s + _C_P1]) + _SMIN
            a = x
            if a < 0:
                a = 0 - a
            # entering contribution of the d-ring: |d| | zc flag | ssc flag
            e = 0
            dd = 0  # D2 of x[n]
            if seen >= 1:
                d = x - p1
                ad = d
                if ad < 0:
                    ad = 0 - ad
                e = ad
                if ((p1 > 0 and x < 0) or (p1 < 0 and x > 0)) and ad >= zt:
                    e |= _FZC
                if seen >= 2:
                    u = p1 - (int(st[s + _C_P2]) + _SMIN)  # x[n-1] - x[n-2]
                    v = 0 - d  # x[n-1] - x[n]
                    if need & _NEED_4:
                        dd = d - u  # x[n] - 2x[n-1] + x[n-2]
                        if dd < 0:
                            dd = 0 - dd
                        if dd > _SMAX:
                            dd = _SMAX
                    if (u > 0 and v > 0) or (u < 0 and v < 0):
                        au = u
                        if au < 0:
                            au = 0 - au
                        if au >= sthr or ad >= sthr:
                            e |= _FSSC
            oa = int(ra[r0 + c])  # |x[n-W]|
            ob1 = int(rb[r1 + c])  # d, zc of x[n-W+1]
            ra[r0 + c] = a
            rb[r0 + c] = e
            if need & _NEED_A:
                st[s + _C_AH] = int(st[s + _C_AH]) + (a >> _SPLIT) - (oa >> _SPLIT)
                st[s + _C_AL] = int(st[s + _C_AL]) + (a & _LO12) - (oa & _LO12)
            if need & _NEED_D:
                ed = e & _DMASK
                od = ob1 & _DMASK
                st[s + _C_DH] = int(st[s + _C_DH]) + (ed >> _SPLIT) - (od >> _SPLIT)
                st[s + _C_DL] = int(st[s + _C_DL]) + (ed & _LO12) - (od & _LO12)
            if need & _NEED_Z:
                st[s + _C_ZC] = int(st[s + _C_ZC]) + ((e >> _ZC_BIT) & 1) - ((ob1 >> _ZC_BIT) & 1)
            if need & _NEED_S:
                st[s + _C_SSC] = int(st[s + _C_SSC]) + ((e >> _SSC_BIT) & 1) - ((int(rb[r2 + c]) >> _SSC_BIT) & 1)
            if need & _NEED_Q:
                # a^2 = h^2 2^28 + 2hl 2^14 + l^2 as limbs (qh, ql): h <= 2^9, l < 2^14
                h = a >> _HALF
                l = a & _LO14
                m = (h * l) << 1  # < 2^24
                qh = h * h + (m >> _HALF)
                ql = ((m & _LO14) << _HALF) + l * l  # < 2^29
                if ql > _LO28:
                    ql -= 1 << _SQ_SHIFT
                    qh += 1
                h = oa >> _HALF
                l = oa & _LO14
                m = (h * l) << 1
                qh -= h * h + (m >> _HALF)
                ql -= ((m & _LO14) << _HALF) + l * l
                acc = int(st[s + _C_QL]) + ql  # in (-2^29, 2^29)
                st[s + _C_QH] = int(st[s + _C_QH]) + qh + (acc >> _SQ_SHIFT)  # arithmetic shift: carry/borrow
                st[s + _C_QL] = acc & _LO28
            if need & _NEED_2:
                # D1^2 entering minus D1^2 leaving, limbs as for RMS (D1 <= 2^23 - 1)
                a2 = e & _DMASK
                if a2 > _SMAX:
                    a2 = _SMAX
                h = a2 >> _HALF
                l = a2 & _LO14
                m = (h * l) << 1
                qh = h * h + (m >> _HALF)
                ql = ((m & _LO14) << _HALF) + l * l
                a2 = ob1 & _DMASK
                if a2 > _SMAX:
                    a2 = _SMAX
                h = a2 >> _HALF
                l = a2 & _LO14
                m = (h * l) << 1
                qh -= h * h + (m >> _HALF)
                ql -= ((m & _LO14) << _HALF) + l * l
                acc = int(st[s + _C_2L]) + ql
                st[s + _C_2H] = int(st[s + _C_2H]) + qh + (acc >> _SQ_SHIFT)
                st[s + _C_2L] = acc & _LO28
            if need & _NEED_4:
                h = dd >> _HALF
                l = dd & _LO14
                m = (h * l) << 1
                qh = h * h + (m >> _HALF)
                ql = ((m & _LO14) << _HALF) + l * l
                a2 = int(rc[r2 + c])  # D2 of x[n-W+2]
                h = a2 >> _HALF
                l = a2 & _LO14
                m = (h * l) << 1
                qh -= h * h + (m >> _HALF)
                ql -= ((m & _LO14) << _HALF) + l * l
                acc = int(st[s + _C_4L]) + ql
                st[s + _C_4H] = int(st[s + _C_4H]) + qh + (acc >> _SQ_SHIFT)
                st[s + _C_4L] = acc & _LO28
                rc[r0 + c] = dd
            st[s + _C_P2] = p1 - _SMIN
            st[s + _C_P1] = x - _SMIN
            c += 1
            s += _CS
        pos = pos1
        if seen < 2:
            seen += 1
        idx = (idx + 1) & _IDX_MASK
        off += 1
        due -= 1
        if due == 0:
            due = int(st[_H_I])
            st[_H_READY] = 1
            break
    st[_H_POS] = pos
    st[_H_DUE] = due
    st[_H_SEEN] = seen
    st[_H_IDX] = idx
    return off


@micropython.viper
def _lags(st: ptr32, rx: ptr32, blk: ptr32, off: int, n: int):
    # AR's lag sums over the samples blk[off..n) that _ingest just consumed:
    # R_k += x[n] x[n-k] - x[n-W+k] x[n-W], k = 1..4, as signed limbs (hi, lo in
    # [0, 2^28)); rx is the ring of the last W saturated samples (signed words).
    # Channel by channel, the limbs and the last four samples held in locals; the four
    # lags are written out (viper locals cannot be indexed, and a loop over st words
    # cost 14.1 k instead of 11.5 k instructions per 8-channel sample).
    nch = int(st[_H_NCH])
    w = int(st[_H_W])
    sx = int(st[_H_SX])
    pos0 = int(st[_H_XPOS])
    pos = pos0
    c = 0
    s = _CH0
    while c < nch:
        y1 = int(st[s + _C_X1 + 0]) + _SMIN  # x[n-1]
        h1 = (int(st[s + _C_R1 + 0]) << sx) >> sx
        l1 = int(st[s + _C_R1 + 0 + 1])
        y2 = int(st[s + _C_X1 + 1]) + _SMIN  # x[n-2]
        h2 = (int(st[s + _C_R1 + 2]) << sx) >> sx
        l2 = int(st[s + _C_R1 + 2 + 1])
        y3 = int(st[s + _C_X1 + 2]) + _SMIN  # x[n-3]
        h3 = (int(st[s + _C_R1 + 4]) << sx) >> sx
        l3 = int(st[s + _C_R1 + 4 + 1])
        y4 = int(st[s + _C_X1 + 3]) + _SMIN  # x[n-4]
        h4 = (int(st[s + _C_R1 + 6]) << sx) >> sx
        l4 = int(st[s + _C_R1 + 6 + 1])
        pos = pos0
        t = off
        while t < n:
            x = (int(blk[t * nch + c]) << sx) >> sx
            if x > _SMAX:
                x = _SMAX
            elif x < _SMIN:
                x = _SMIN
            ax = x
            if ax < 0:
                ax = 0 - ax
            xh = ax >> _HALF
            xl = ax & _LO14
            r0 = pos * nch + c  # slot of x[n] (holds x[n-W])
            o0 = (int(rx[r0]) << sx) >> sx
            ao = o0
            if ao < 0:
                ao = 0 - ao
            oh = ao >> _HALF
            ol = ao & _LO14
            p = pos
            p += 1
            if p == w:
                p = 0
            z1 = (int(rx[p * nch + c]) << sx) >> sx  # x[n-W+1]
            p += 1
            if p == w:
                p = 0
            z2 = (int(rx[p * nch + c]) << sx) >> sx  # x[n-W+2]
            p += 1
            if p == w:
                p = 0
            z3 = (int(rx[p * nch + c]) << sx) >> sx  # x[n-W+3]
            p += 1
            if p == w:
                p = 0
            z4 = (int(rx[p * nch + c]) << sx) >> sx  # x[n-W+4]
            # lag 1: + x[n] x[n-1] - x[n-W+1] x[n-W]
            ay = y1
            if ay < 0:
                ay = 0 - ay
            h = ay >> _HALF
            l = ay & _LO14
            m = xh * l + xl * h  # < 2^24
            qh = xh * h + (m >> _HALF)
            ql = ((m & _LO14) << _HALF) + xl * l  # < 2^29
            if (x < 0 and y1 > 0) or (x > 0 and y1 < 0):
                qh = 0 - qh
                ql = 0 - ql
            ay = z1
            if ay < 0:
                ay = 0 - ay
            h = ay >> _HALF
            l = ay & _LO14
            m = oh * l + ol * h
            qh -= oh * h + (m >> _HALF)
            pl = ((m & _LO14) << _HALF) + ol * l
            if (o0 < 0 and z1 > 0) or (o0 > 0 and z1 < 0):
                qh += (oh * h + (m >> _HALF)) << 1
                pl = 0 - pl
            acc = l1 + ql - pl  # in (-2^30, 2^28 + 2^30)
            h1 = h1 + qh + (acc >> _SQ_SHIFT)
            l1 = acc & _LO28
            # lag 2: + x[n] x[n-2] - x[n-W+2] x[n-W]
            ay = y2
            if ay < 0:
                ay = 0 - ay
            h = ay >> _HALF
            l = ay & _LO14
            m = xh * l + xl * h  # < 2^24
            qh = xh * h + (m >> _HALF)
            ql = ((m & _LO14) << _HALF) + xl * l  # < 2^29
            if (x < 0 and y2 > 0) or (x > 0 and y2 < 0):
                qh = 0 - qh
                ql = 0 - ql
            ay = z2
            if ay < 0:
                ay = 0 - ay
            h = ay >> _HALF
            l = ay & _LO14
            m = oh * l + ol * h
            qh -= oh * h + (m >> _HALF)
            pl = ((m & _LO14) << _HALF) + ol * l
            if (o0 < 0 and z2 > 0) or (o0 > 0 and z2 < 0):
                qh += (oh * h + (m >> _HALF)) << 1
                pl = 0 - pl
            acc = l2 + ql - pl  # in (-2^30, 2^28 + 2^30)
            h2 = h2 + qh + (acc >> _SQ_SHIFT)
            l2 = acc & _LO28
            # lag 3: + x[n] x[n-3] - x[n-W+3] x[n-W]
            ay = y3
            if ay < 0:
                ay = 0 - ay
            h = ay >> _HALF
            l = ay & _LO14
            m = xh * l + xl * h  # < 2^24
            qh = xh * h + (m >> _HALF)
            ql = ((m & _LO14) << _HALF) + xl * l  # < 2^29
            if (x < 0 and y3 > 0) or (x > 0 and y3 < 0):
                qh = 0 - qh
                ql = 0 - ql
            ay = z3
            if ay < 0:
                ay = 0 - ay
            h = ay >> _HALF
            l = ay & _LO14
            m = oh * l + ol * h
            qh -= oh * h + (m >> _HALF)
            pl = ((m & _LO14) << _HALF) + ol * l
            if (o0 < 0 and z3 > 0) or (o0 > 0 and z3 < 0):
                qh += (oh * h + (m >> _HALF)) << 1
                pl = 0 - pl
            acc = l3 + ql - pl  # in (-2^30, 2^28 + 2^30)
            h3 = h3 + qh + (acc >> _SQ_SHIFT)
            l3 = acc & _LO28
            # lag 4: + x[n] x[n-4] - x[n-W+4] x[n-W]
            ay = y4
            if ay < 0:
                ay = 0 - ay
            h = ay >> _HALF
            l = ay & _LO14
            m = xh * l + xl * h  # < 2^24
            qh = xh * h + (m >> _HALF)
            ql = ((m & _LO14) << _HALF) + xl * l  # < 2^29
            if (x < 0 and y4 > 0) or (x > 0 and y4 < 0):
                qh = 0 - qh
                ql = 0 - ql
            ay = z4
            if ay < 0:
                ay = 0 - ay
            h = ay >> _HALF
            l = ay & _LO14
            m = oh * l + ol * h
            qh -= oh * h + (m >> _HALF)
            pl = ((m & _LO14) << _HALF) + ol * l
            if (o0 < 0 and z4 > 0) or (o0 > 0 and z4 < 0):
                qh += (oh * h + (m >> _HALF)) << 1
                pl = 0 - pl
            acc = l4 + ql - pl  # in (-2^30, 2^28 + 2^30)
            h4 = h4 + qh + (acc >> _SQ_SHIFT)
            l4 = acc & _LO28
            rx[r0] = x
            y4 = y3
            y3 = y2
            y2 = y1
            y1 = x
            pos += 1
            if pos == w:
                pos = 0
            t += 1
        st[s + _C_X1 + 0] = y1 - _SMIN
        st[s + _C_R1 + 0] = h1
        st[s + _C_R1 + 0 + 1] = l1
        st[s + _C_X1 + 1] = y2 - _SMIN
        st[s + _C_R1 + 2] = h2
        st[s + _C_R1 + 2 + 1] = l2
        st[s + _C_X1 + 2] = y3 - _SMIN
        st[s + _C_R1 + 4] = h3
        st[s + _C_R1 + 4 + 1] = l3
        st[s + _C_X1 + 3] = y4 - _SMIN
        st[s + _C_R1 + 6] = h4
        st[s + _C_R1 + 6 + 1] = l4
        c += 1
        s += _CS
    st[_H_XPOS] = pos


@micropython.viper
def _bitlen(hi: int, lo: int) -> int:
    # Bit length of a non-zero sum of squares held as limbs hi * 2^28 + lo (0 <= hi < 2^29,
    # 0 <= lo < 2^28); per window only (AR's and CR's normalisations).
    t = lo
    b = 0
    if hi > 0:
        t = hi
        b = 28
    if t >= 0x10000:
        t = t >> 16
        b += 16
    if t >= 0x100:
        t = t >> 8
        b += 8
    if t >= 0x10:
        t = t >> 4
        b += 4
    if t >= 4:
        t = t >> 2
        b += 2
    if t >= 2:
        t = t >> 1
        b += 1
    return b + t


@micropython.viper
def _levinson(st: ptr32):
    # AR1..AR4 of every channel (the window that just ended) into its words _C_A1..:
    # the spec's integer Levinson-Durbin on R_0 (RMS's sum of squares) and R_1..R_4.
    nch = int(st[_H_NCH])
    sx = int(st[_H_SX])
    c = 0
    s = _CH0
    while c < nch:
        qh = int(st[s + _C_QH])
        ql = int(st[s + _C_QL])
        k = 0
        while k < 4:
            st[s + _C_A1 + k] = 0
            k += 1
        if qh != 0 or ql != 0:
            b = int(_bitlen(qh, ql))  # bit length of R_0
            sh = 0
            if b > 16:
                sh = b - 16
            if sh >= 28:
                r0 = qh >> (sh - 28)
            else:
                r0 = (qh << (28 - sh)) | (ql >> sh)
            k = 0
            while k < 4:
                hi = (int(st[s + _C_R1 + k + k]) << sx) >> sx
                lo = int(st[s + _C_R1 + k + k + 1])
                if sh >= 28:
                    r = hi >> (sh - 28)
                else:
                    r = (hi << (28 - sh)) + (lo >> sh)
                neg = 0
                if r < 0:
                    r = 0 - r
                    neg = 1
                r = (r << 14) // r0  # |R'_k| <= R'_0 + 1 <= 2^16: < 2^31
                if r > _ONE:
                    r = _ONE
                if neg:
                    r = 0 - r
                st[_H_RHO + k] = r
                k += 1
            e = _ONE
            m = 1
            while m <= 4:
                acc = (int(st[_H_RHO + m - 1]) << sx) >> sx
                i = 1
                while i < m:
                    a = (int(st[s + _C_A1 + i - 1]) << sx) >> sx
                    acc += (a * ((int(st[_H_RHO + m - i - 1]) << sx) >> sx) + _RND) >> 14
                    i += 1
                kk = 0
                if acc != 0:
                    mag = acc
                    if mag < 0:
                        mag = 0 - mag
                    if mag >= e:
                        kk = _ONE - 1
                    else:
                        kk = (mag << 14) // e
                    if acc > 0:
                        kk = 0 - kk
                i = 1
                while i + i <= m:  # a_i and a_{m-i} from their old values
                    ai = (int(st[s + _C_A1 + i - 1]) << sx) >> sx
                    aj = (int(st[s + _C_A1 + m - i - 1]) << sx) >> sx
                    st[s + _C_A1 + i - 1] = ai + ((kk * aj + _RND) >> 14)
                    if i + i < m:
                        st[s + _C_A1 + m - i - 1] = aj + ((kk * ai + _RND) >> 14)
                    i += 1
                st[s + _C_A1 + m - 1] = kk
                e = e - ((e * ((kk * kk + _RND) >> 14) + _RND) >> 14)
                m += 1
        c += 1
        s += _CS


@micropython.viper
def _cross(st: ptr32, rx: ptr32, blk: ptr32, off: int, n: int, wr: int):
    # CR's cross sums over the samples blk[off..n) that _ingest just consumed:
    # S_k(c) += x_c[n] x_d[n] - x_c[n-W] x_d[n-W], d = (c + k) mod n_ch, k = 1..K, as
    # signed limbs (hi, lo in [0, 2^28)); rx is the ring of the last W saturated samples
    # (x[n-W] at the slot of x[n]). Runs before _lags, which then writes the ring; wr = 1
    # (no AR): this pass writes it.
    nch = int(st[_H_NCH])
    w = int(st[_H_W])
    sx = int(st[_H_SX])
    kmax = int(st[_H_KCR])
    pos = int(st[_H_XPOS])
    t = off
    while t < n:
        r0 = pos * nch
        b = t * nch
        c = 0
        s = _CH0
        while c < nch:
            x = (int(blk[b + c]) << sx) >> sx
            if x > _SMAX:
                x = _SMAX
            elif x < _SMIN:
                x = _SMIN
            ax = x
            if ax < 0:
                ax = 0 - ax
            xh = ax >> _HALF
            xl = ax & _LO14
            o0 = (int(rx[r0 + c]) << sx) >> sx  # x_c[n-W]
            ao = o0
            if ao < 0:
                ao = 0 - ao
            oh = ao >> _HALF
            ol = ao & _LO14
            d = c
            k = 1
            while k <= kmax:
                d += 1
                if d == nch:
                    d = 0
                y = (int(blk[b + d]) << sx) >> sx  # x_d[n]
                if y > _SMAX:
                    y = _SMAX
                elif y < _SMIN:
                    y = _SMIN
                z = (int(rx[r0 + d]) << sx) >> sx  # x_d[n-W]
                # + x_c[n] x_d[n] - x_c[n-W] x_d[n-W], from 14-bit halves as AR's lags
                ay = y
                if ay < 0:
                    ay = 0 - ay
                h = ay >> _HALF
                l = ay & _LO14
                m = xh * l + xl * h  # < 2^24
                qh = xh * h + (m >> _HALF)
                ql = ((m & _LO14) << _HALF) + xl * l  # < 2^29
                if (x < 0 and y > 0) or (x > 0 and y < 0):
                    qh = 0 - qh
                    ql = 0 - ql
                ay = z
                if ay < 0:
                    ay = 0 - ay
                h = ay >> _HALF
                l = ay & _LO14
                m = oh * l + ol * h
                qh -= oh * h + (m >> _HALF)
                pl = ((m & _LO14) << _HALF) + ol * l
                if (o0 < 0 and z > 0) or (o0 > 0 and z < 0):
                    qh += (oh * h + (m >> _HALF)) << 1
                    pl = 0 - pl
                j = s + _C_S1 + k + k - 2
                acc = int(st[j + 1]) + ql - pl  # in (-2^30, 2^28 + 2^30)
                st[j] = ((int(st[j]) << sx) >> sx) + qh + (acc >> _SQ_SHIFT)
                st[j + 1] = acc & _LO28
                k += 1
            c += 1
            s += _CS
        if wr:
            c = 0
            while c < nch:
                x = (int(blk[b + c]) << sx) >> sx
                if x > _SMAX:
                    x = _SMAX
                elif x < _SMIN:
                    x = _SMIN
                rx[r0 + c] = x
                c += 1
        pos += 1
        if pos == w:
            pos = 0
        t += 1
    if wr:
        st[_H_XPOS] = pos


@micropython.viper
def _correlate(st: ptr32):
    # CR1..CRK of every channel (the window that just ended) into its words _C_K1..:
    # S_k normalised by the square roots of both channels' R_0, as the spec defines.
    nch = int(st[_H_NCH])
    sx = int(st[_H_SX])
    kmax = int(st[_H_KCR])
    c = 0
    s = _CH0
    while c < nch:  # every channel's normalised R_0: (sh + 64) << 16 | isqrt(V'), 0 if R_0 = 0
        qh = int(st[s + _C_QH])
        ql = int(st[s + _C_QL])
        st[s + _C_NR] = 0
        if qh != 0 or ql != 0:
            b = int(_bitlen(qh, ql))
            sh = b - 29
            sh -= sh & 1
            if sh >= 28:
                v = qh >> (sh - 28)
            elif sh >= 0:
                v = (qh << (28 - sh)) | (ql >> sh)
            else:
                v = ql << (0 - sh)  # R_0 < 2^29 here: qh = 0
            # floor(sqrt(v)), 2^28 <= v < 2^30: digit by digit, two bits a step
            root = 0
            rem = 0
            k = 14
            while k >= 0:
                rem = (rem << 2) | ((v >> (k + k)) & 3)
                trial = (root << 2) | 1
                root = root << 1
                if rem >= trial:
                    rem -= trial
                    root += 1
                k -= 1
            st[s + _C_NR] = ((sh + 64) << 16) | root  # sh + 64 keeps the word >= 0
        c += 1
        s += _CS
    c = 0
    s = _CH0
    while c < nch:
        na = int(st[s + _C_NR])
        d = c
        k = 1
        while k <= kmax:
            d += 1
            if d == nch:
                d = 0
            nb = int(st[_CH0 + d * _CS + _C_NR])
            v = 0
            den = ((na & 0xFFFF) * (nb & 0xFFFF)) >> 14
            if na != 0 and nb != 0 and den != 0:
                t = ((na >> 16) + (nb >> 16) - 128) >> 1  # (sh_A + sh_B) / 2, both even
                j = s + _C_S1 + k + k - 2
                hi = (int(st[j]) << sx) >> sx
                lo = int(st[j + 1])
                neg = 0
                if hi < 0:  # |S| as limbs (mh, ml in [0, 2^28))
                    neg = 1
                    hi = 0 - hi - 1
                    lo = (1 << _SQ_SHIFT) - lo
                    if lo == (1 << _SQ_SHIFT):
                        lo = 0
                        hi += 1
                if t >= 28:
                    m = hi >> (t - 28)
                elif t >= 0:
                    m = (hi << (28 - t)) | (lo >> t)
                else:  # |S| * 2^-t < 2^30
                    m = (hi << (28 - t)) | (lo << (0 - t))
                v = m // den
                if v > _ONE:
                    v = _ONE
                if neg:
                    v = 0 - v
            st[s + _C_K1 + k - 1] = v
            k += 1
        c += 1
        s += _CS


@micropython.viper
def _emit(st: ptr32, out: ptr32, o: int):
    # Features of the window that just ended, channel-major, into out[o...].
    nch = int(st[_H_NCH])
    w = int(st[_H_W])
    nf = int(st[_H_NF])
    sx = int(st[_H_SX])
    c = 0
    s = _CH0
    while c < nch:
        j = 0
        while j < nf:
            fid = int(st[_H_FIDS + j])
            v = 0
            if fid >= 11:  # CR1..CR3, computed above
                v = (int(st[s + _C_K1 + fid - 11]) << sx) >> sx
            elif fid >= 7:  # AR1..AR4, computed above
                v = (int(st[s + _C_A1 + fid - 7]) << sx) >> sx
            elif fid == 0 or fid == 1:  # MAV / WL: floor((hi*2^12 + lo) / den)
                den = w
                hi = int(st[s + _C_AH])
                lo = int(st[s + _C_AL])
                if fid == 1:
                    den = w - 1
                    hi = int(st[s + _C_DH])
                    lo = int(st[s + _C_DL])
                q = hi // den
                t = ((hi - q * den) << _SPLIT) + lo  # < 2^23
                v = (q << _SPLIT) + t // den
            elif fid == 2:
                v = int(st[s + _C_ZC])
            elif fid == 3:
                v = int(st[s + _C_SSC])
            else:  # RMS / M2 / M4: isqrt(floor((qh*2^28 + ql) / den))
                den = w
                hi = int(st[s + _C_QH])
                lo = int(st[s + _C_QL])
                if fid == 5:
                    den = w - 1
                    hi = int(st[s + _C_2H])
                    lo = int(st[s + _C_2L])
                elif fid == 6:
                    den = w - 2
                    hi = int(st[s + _C_4H])
                    lo = int(st[s + _C_4L])
                mh = hi // den  # <= 2^18
                t = ((hi - mh * den) << _HALF) | (lo >> _HALF)  # < 2^24
                q1 = t // den
                t = ((t - q1 * den) << _HALF) | (lo & _LO14)
                ml = (q1 << _HALF) | (t // den)  # < 2^28
                # digit-by-digit square root of mh*2^28 + ml (< 2^48), two bits a step
                root = 0
                rem = 0
                k = 23
                while k >= 0:
                    if k >= 14:
                        pair = (mh >> (k + k - 28)) & 3
                    else:
                        pair = (ml >> (k + k)) & 3
                    rem = (rem << 2) | pair  # rem <= 2*root < 2^24 before the shift
                    trial = (root << 2) | 1
                    root = root << 1
                    if rem >= trial:
                        rem -= trial
                        root += 1
                    k -= 1
                v = root
            out[o] = v
            o += 1
            j += 1
        c += 1
        s += _CS


@micropython.viper
def _word_probe(p: ptr32) -> int:
    return int(p[0])


# ptr32 loads are zero-extended to the machine word: on the 64-bit unix port a
# negative int32 reads as 2^32 + x, on the 32-bit MCUs as x. _ingest sign-extends
# input words with (w << _SX) >> _SX; every other stored word is kept >= 0.
_SX = 0 if _word_probe(array("i", (-1,))) < 0 else 32


@micropython.viper
def _zero(buf: ptr32, n: int):
    i = 0
    while i < n:
        buf[i] = 0
        i += 1


class FeatureExtractor:
    """Incremental windowed features of an interleaved int32 sample stream.

    ``push(block, n_samples)`` returns the number k of windows that ended inside the
    block; their feature vectors are ``out[j*width:(j+1)*width]`` and their end sample
    indices (counted from reset, mod 2^30) ``ends[j]``, j < k. A block of at most
    ``max_block`` samples completes at most ``capacity`` = (max_block-1)//increment + 1
    windows, the size of the preallocated output queue.
    """

    def __init__(self, n_ch, window, increment, zc_thr=spec.DEFAULT_ZC_THR,
                 ssc_thr=spec.DEFAULT_SSC_THR, features=spec.DEFAULT_FEATURES,
                 max_block=spec.MAX_BLOCK):
        fids = spec.check_config(n_ch, window, increment, zc_thr, ssc_thr, features)
        if not isinstance(max_block, int) or max_block < 1:
            raise ValueError("max_block must be an int >= 1")
        self.n_ch = n_ch
        self.window = window
        self.increment = increment
        self.zc_thr = zc_thr
        self.ssc_thr = ssc_thr
        self.features = tuple(spec.NAMES[i] for i in fids)
        self.feature_ids = fids
        self.n_feat = len(fids)
        self.width = n_ch * self.n_feat
        self.max_block = max_block
        self.capacity = (max_block - 1) // increment + 1
        self.out = array("i", bytes(4 * self.capacity * self.width))
        self.ends = array("i", bytes(4 * self.capacity))
        self.count = 0  # windows completed by the last push()
        self._st = array("i", bytes(4 * (_CH0 + _CS * n_ch)))
        self._ra = array("i", bytes(4 * window * n_ch))
        self._rb = array("i", bytes(4 * window * n_ch))
        # the D2 ring only when M4 is computed
        self._rc = array("i", bytes(4 * (window * n_ch if spec.M4 in fids else 1)))
        # the sample ring only for AR and CR
        use_ar = any(spec.AR1 <= i <= spec.AR4 for i in fids)
        self._use_ar = use_ar
        self._kcr = spec.cr_offsets(fids)
        self._use_cr = self._kcr > 0
        self._rx = array("i", bytes(4 * (window * n_ch if use_ar or self._use_cr else 1)))
        need = 0
        for i in fids:
            need |= 1 << (i if i < spec.AR1 else (spec.AR1 if i <= spec.AR4 else 8))
        if use_ar or self._use_cr:
            need |= _NEED_Q  # R_0 is RMS's sum of squares
        self._need = need
        self.reset()

    @classmethod
    def from_dict(cls, cfg, max_block=spec.MAX_BLOCK):
        """Build from a feature-config dict (as embedded in a model file)."""
        spec.check_version(cfg.get("spec_version", spec.SPEC_VERSION), cfg["features"])
        return cls(cfg["n_ch"], cfg["window"], cfg["increment"], cfg["zc_thr"],
                   cfg["ssc_thr"], cfg["features"], max_block)

    def reset(self):
        """Forget all samples: the next pushed sample is index 0."""
        st = self._st
        _zero(st, len(st))
        _zero(self._ra, len(self._ra))
        _zero(self._rb, len(self._rb))
        _zero(self._rc, len(self._rc))
        _zero(self._rx, len(self._rx))
        st[_H_NCH] = self.n_ch
        st[_H_W] = self.window
        st[_H_I] = self.increment
        st[_H_ZT] = self.zc_thr
        st[_H_ST] = self.ssc_thr
        st[_H_DUE] = self.window
        st[_H_SX] = _SX
        st[_H_NEED] = self._need
        st[_H_NF] = self.n_feat
        st[_H_KCR] = self._kcr
        for j in range(self.n_feat):
            st[_H_FIDS + j] = self.feature_ids[j]
        for c in range(self.n_ch):  # x[n-1..n-4] = 0 before the stream starts (AR)
            for j in range(4):
                st[_CH0 + c * _CS + _C_X1 + j] = -_SMIN
        self.count = 0

    @property
    def sample_index(self):
        """Index (mod 2^30) of the next sample to be pushed."""
        return self._st[_H_IDX]

    def push(self, block, n_samples):
        """Feed ``n_samples`` interleaved samples from ``block`` (array('i')).

        Returns the number of windows completed (features in ``out``, ends in ``ends``).
        Allocation-free.
        """
        if n_samples < 0 or n_samples > self.max_block or n_samples * self.n_ch > len(block):
            raise ValueError("bad block size")
        st = self._st
        ra = self._ra
        rb = self._rb
        rc = self._rc
        rx = self._rx
        use_ar = self._use_ar
        use_cr = self._use_cr
        wr = 0 if use_ar else 1
        out = self.out
        width = self.width
        k = 0
        off = 0
        while off < n_samples:
            o0 = off
            off = _ingest(st, ra, rb, rc, block, off, n_samples)
            if use_cr:  # before _lags: it reads the ring's x[n-W] that _lags overwrites
                _cross(st, rx, block, o0, off, wr)
            if use_ar:
                _lags(st, rx, block, o0, off)
            if st[_H_READY]:
                st[_H_READY] = 0
                if use_ar:
                    _levinson(st)
                if use_cr:
                    _correlate(st)
                _emit(st, out, k * width)
                self.ends[k] = (st[_H_IDX] - 1) & _IDX_MASK
                k += 1
        self.count = k
        return k
