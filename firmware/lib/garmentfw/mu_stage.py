# Window stage, motor units on the garment: a few int16 separation filters (uploaded by
# the host with T_MU_UNIT, rules in mu_spec.py) run on the filtered samples of a channel
# subset with a short delay line; each unit's discharges (threshold, refractory) go to
# the host as R_MU_ACTIVITY while the stream kind is wire.STREAM_MU, in place of samples:
# the HD garment's 64 channels do not fit BLE, a few units' discharges do.
# Everything after construction is allocation-free (preallocated buffers, viper).
import micropython
import struct
from array import array

from micropython import const

from garmentfw import mu_spec, wire
from garmentfw.dsp import _zero  # the one viper word-zeroing loop
from garmentfw.framing import Framer

_H = const(16)  # mu_spec.MAX_DELAYS: the delay line, mirrored (each channel 2 x _H words)
_H2 = const(32)
_MASK = const(0x3FFFFFFF)  # wire.COUNTER_MASK
_HALF = const(0x20000000)
_SUB = const(64)  # channel slots per unit (wire.MAX_EMG_CHANNELS)
# Per unit, _NP words of `par`: n_sub, delays, (unused), lag, refractory, threshold,
# candidate open, its value, its sample (AFE index)
_NP = const(9)
# `st`: delay-line position, in_shift, next sample's AFE index, discharges waiting
_ST_POS = const(0)
_ST_SHIFT = const(1)
_ST_T = const(2)
_ST_NEV = const(3)

if _H != mu_spec.MAX_DELAYS or _SUB != wire.MAX_EMG_CHANNELS or _MASK != wire.COUNTER_MASK:
    raise ImportError("mu_stage's buffers do not match mu_spec / wire")


@micropython.viper
def _run(blk: ptr32, i0: int, n: int, n_ch: int, hist: ptr32, st: ptr32, chans: ptr8, w: ptr32,
         par: ptr32, n_units: int, ev: ptr32, left: int, ev_max: int) -> int:
    # Samples i0.. of blk through every unit, until `left` samples are done, the block ends
    # or a sample could overflow the discharge buffer; returns the samples done.
    sb = 1
    sb = sb << 31
    m32 = (sb << 1) - 1  # 2**32 - 1 on the unix port's 64-bit words, all ones on a 32-bit MCU
    pos = st[0]
    shift = st[1]
    t = st[2]
    nev = st[3]
    i = i0
    done = 0
    while i < n and done < left and nev + n_units <= ev_max:
        pos = (pos + 1) & 15
        base = i * n_ch
        c = 0
        while c < n_ch:  # the sample into the delay line, int16 after the input shift
            v = blk[base + c]
            v = v | (0 - (v & sb))
            v = v >> shift
            if v > 32767:
                v = 32767
            elif v < -32768:
                v = -32768
            o = c * _H2 + pos
            hist[o] = v
            hist[o + _H] = v
            c += 1
        u = 0
        while u < n_units:
            p = u * _NP
            n_sub = par[p]
            delays = par[p + 1]
            acc = 0
            wi = u * 256  # mu_spec.MAX_TAPS
            cj = u * _SUB
            j = 0
            while j < n_sub:
                hi = int(chans[cj + j]) * _H2 + pos + _H
                lo = hi - delays
                while hi > lo:
                    # exact mod 2**32 whatever a load's upper bits (mu_spec: |sum| < 2**31)
                    acc += w[wi] * hist[hi]
                    wi += 1
                    hi -= 1
                j += 1
            acc = acc & m32
            acc = acc | (0 - (acc & sb))  # sign-extended on the unix port; as it was on an MCU
            refr = par[p + 4]
            if par[p + 6] and ((t - par[p + 8]) & _MASK) >= refr:  # the candidate stood: a discharge
                ev[2 * nev] = u
                ev[2 * nev + 1] = (par[p + 8] - par[p + 3]) & _MASK
                nev += 1
                par[p + 6] = 0
            if acc > int(par[p + 5]):
                if par[p + 6]:
                    if acc > int(par[p + 7]):
                        par[p + 7] = acc
                        par[p + 8] = t
                else:
                    par[p + 6] = 1
                    par[p + 7] = acc
                    par[p + 8] = t
            u += 1
        t = (t + 1) & _MASK
        i += 1
        done += 1
    st[0] = pos
    st[2] = t
    st[3] = nev
    return done


@micropython.viper
def _pack(pkt: ptr8, first: int, n_samples: int, n_units: int, ev: ptr32, nev: int) -> int:
    # R_MU_ACTIVITY body at pkt[3:] (wire.MU_ACTIVITY_HDR_FMT, MU_DISCHARGE_FMT); its length
    pkt[3] = first & 0xFF
    pkt[4] = (first >> 8) & 0xFF
    pkt[5] = (first >> 16) & 0xFF
    pkt[6] = (first >> 24) & 0xFF
    pkt[7] = n_samples & 0xFF
    pkt[8] = (n_samples >> 8) & 0xFF
    pkt[9] = n_units
    pkt[10] = nev
    k = 0
    o = 11
    while k < nev:
        off = ((ev[2 * k + 1] - first + _HALF) & _MASK) - _HALF
        pkt[o] = ev[2 * k]
        pkt[o + 1] = off & 0xFF
        pkt[o + 2] = (off >> 8) & 0xFF
        o += 3
        k += 1
    return o - 3


@micropython.viper
def _wrap(a: int, b: int) -> int:
    # (a + b) & COUNTER_MASK in a machine word: a + b may pass 2**30, a big int in Python on
    # a 32-bit port (an allocation per block at the counter's wrap)
    return (a + b) & _MASK


class MotorUnitStage:
    """The stage (configure, on_filtered) and its requests (a device service)."""

    def __init__(self, device) -> None:
        self.dev = device
        self.n_ch = device.max_ch
        self.fs = device.fs
        self.n_units = 0
        self.taps = 0
        self.in_shift = 0
        self.hist = array("i", bytes(4 * _H2 * device.max_ch))  # int16 values in 32-bit words
        self.st = array("i", (0, 0, 0, 0))
        self.chans = bytearray(mu_spec.MAX_UNITS * _SUB)
        self.w = array("i", bytes(4 * mu_spec.MAX_UNITS * mu_spec.MAX_TAPS))
        self.par = array("i", bytes(4 * _NP * mu_spec.MAX_UNITS))
        self.ev = bytearray(8 * mu_spec.MAX_EVENTS)
        self._pkt = Framer.packet()
        self._next = -1  # the AFE index the next block must start at (-1: start afresh)
        self._first = 0  # the interval's first sample
        self._in = 0  # samples in the interval so far
        self.interval = mu_spec.interval_samples(self.fs)
        self.discharges = 0  # sent since boot (a counter for tests and status)

    # ---- service -------------------------------------------------------------------
    def handlers(self):
        return {wire.T_MU_UNIT: (self._unit, -1, True), wire.T_MU_CLEAR: (self._clear, 0, True)}

    def tick(self, now_ms: int) -> bool:
        return False

    def on_disconnect(self) -> None:
        pass

    def on_config(self) -> None:
        pass

    def start_refusal(self):
        """None when STREAM_MU can start, else why not."""
        if not self.n_units:
            return "no motor-unit filters: upload them with T_MU_UNIT first"
        return None

    def _busy(self, seq) -> bool:
        d = self.dev
        if d.streaming and d.kind == wire.STREAM_MU:
            d.error(seq, wire.E_BAD_STATE, "stop streaming before changing the motor-unit filters")
            return True
        return False

    def _unit(self, seq, pkt, n) -> None:
        d = self.dev
        if n < mu_spec.UNIT_HDR_LEN:
            d.error(seq, wire.E_MALFORMED, "T_MU_UNIT needs a %d-byte header, got %d" % (mu_spec.UNIT_HDR_LEN, n))
            return
        hdr = struct.unpack_from(mu_spec.UNIT_HDR_FMT, pkt, 3)
        u, n_sub, delays, in_shift = hdr[0], hdr[3], hdr[4], hdr[5]
        bad = mu_spec.unit_refusal(hdr, n, d.fs, d.n_ch)
        a = 3 + mu_spec.UNIT_HDR_LEN
        if bad is None and u > self.n_units:
            bad = "unit %d: upload units 0..%d first" % (u, self.n_units - 1)
        if bad is None:
            wsum = 0
            for k in range(n_sub * delays):
                v = pkt[a + n_sub + 2 * k] | (pkt[a + n_sub + 2 * k + 1] << 8)
                wsum += 65536 - v if v & 0x8000 else v
            bad = mu_spec.weight_refusal(u, wsum)
        if bad is None:
            for j in range(n_sub):
                if pkt[a + j] >= d.n_ch:
                    bad = "unit %d: channel %d, the garment acquires 0..%d" % (u, pkt[a + j], d.n_ch - 1)
                    break
        others = self.n_units - (1 if u < self.n_units else 0)
        if bad is None and others and in_shift != self.in_shift:
            bad = "unit %d: in_shift %d, the other units' is %d (T_MU_CLEAR first)" % (u, in_shift, self.in_shift)
        if bad is None:
            taps = self.taps - (self._taps_of(u) if u < self.n_units else 0) + n_sub * delays
            bad = mu_spec.budget_refusal(d.board.NAME, d.fs, d.n_ch, taps, others + 1)
        if bad is not None:
            d.error(seq, wire.E_OUT_OF_RANGE, bad)
            return
        if self._busy(seq):
            return
        taps = n_sub * delays
        self.chans[u * _SUB:u * _SUB + n_sub] = pkt[a:a + n_sub]
        wo = u * mu_spec.MAX_TAPS
        for k in range(taps):  # sign-extended once here, so the hot path never does it
            v = pkt[a + n_sub + 2 * k] | (pkt[a + n_sub + 2 * k + 1] << 8)
            self.w[wo + k] = v - 65536 if v & 0x8000 else v
        par = self.par
        o = _NP * u
        par[o], par[o + 1], par[o + 2], par[o + 3], par[o + 4], par[o + 5] = n_sub, delays, 0, hdr[6], hdr[7], hdr[8]
        par[o + 6] = par[o + 7] = par[o + 8] = 0
        if u == self.n_units:
            self.n_units += 1
        self.in_shift = in_shift
        self._recount()
        self._next = -1
        d.reply(wire.R_ACK, seq, bytes((wire.T_MU_UNIT, self.n_units)))

    def _taps_of(self, u):
        return self.par[_NP * u] * self.par[_NP * u + 1]

    def _recount(self):
        self.taps = 0
        for u in range(self.n_units):
            self.taps += self._taps_of(u)

    def _clear(self, seq, pkt, n) -> None:
        if self._busy(seq):
            return
        self.n_units = 0
        self.taps = 0
        self.dev.reply(wire.R_ACK, seq, bytes((wire.T_MU_CLEAR, 0)))

    # ---- stage ---------------------------------------------------------------------
    def configure(self, n_ch: int, fs: int, filters) -> None:
        """The acquisition restarted; filters made for another rate or channel count go."""
        if (n_ch != self.n_ch or fs != self.fs) and self.n_units:
            self.n_units = 0
            self.taps = 0
            self.dev.event(wire.EV_CONFIG, "motor-unit filters cleared: they were for %d ch x %d Hz" % (
                self.n_ch, self.fs))
        self.n_ch = n_ch
        self.fs = fs
        self.interval = mu_spec.interval_samples(fs)
        self._next = -1

    def on_filtered(self, block, n: int, first: int) -> None:
        """Hot path (allocation-free): the block through every unit; R_MU_ACTIVITY out."""
        d = self.dev
        if not (d.streaming and d.kind == wire.STREAM_MU) or not self.n_units:
            self._next = -1
            return
        if first != self._next:
            self._restart(first)
        st = self.st
        i = 0
        while i < n:
            k = _run(block, i, n, self.n_ch, self.hist, st, self.chans, self.w, self.par, self.n_units,
                     self.ev, self.interval - self._in, mu_spec.MAX_EVENTS)
            i += k
            self._in += k
            if self._in >= self.interval or k == 0:
                self._send()
        self._next = _wrap(first, n)

    def flush(self) -> None:
        """Send the interval so far (the stream stops): every discharge confirmed is sent."""
        if self._next >= 0 and (self._in or self.st[_ST_NEV]):
            self._send()
        self._next = -1

    def _send(self) -> None:
        nev = self.st[_ST_NEV]
        ln = _pack(self._pkt, self._first, self._in, self.n_units, self.ev, nev)
        self.dev.send_packet(self._pkt, wire.R_MU_ACTIVITY, ln)
        self.discharges += nev
        self._first = _wrap(self._first, self._in)
        self._in = 0
        self.st[_ST_NEV] = 0

    def _restart(self, first: int) -> None:
        # A gap (or the stream's start): the interval so far is sent, then the delay line
        # and the detectors start afresh at `first`; the host sees the gap in the indices.
        if self._next >= 0:
            self._send()
        _zero(self.hist, len(self.hist))
        par = self.par
        p = 0
        while p < self.n_units:
            o = _NP * p + 6
            par[o] = 0
            par[o + 1] = 0
            par[o + 2] = 0
            p += 1
        st = self.st
        st[_ST_POS] = 0
        st[_ST_SHIFT] = self.in_shift
        st[_ST_T] = first
        st[_ST_NEV] = 0
        self._first = first
        self._in = 0
