# (11) How long the muscles' answer to a burst lasts, measured. A pulse evokes an
# M-wave on the stimulated muscle and, broader in time, crosstalk on its neighbours;
# fatigue slows conduction and stretches both (in the phantom from ~26 ms to ~40 ms).
# A fixed blank window that covers a rested muscle then lets a tired one's answer reach
# the decoder as effort. EvokedWindow averages, over bursts, the burst-locked envelope
# of every channel's raw EMG and finds where it has fallen back to that channel's floor.
# The envelope is |second difference|: no electrode offset or drift, and mains hum, which
# is locked to the bursts as well (50 Hz is a multiple of most pulse rates' periods),
# is 40x down at 2 kHz (16 dB less at 1 kHz) while the M-wave's fast slopes stand out. The
# blank window becomes max(limits.blank_us, that length + a margin): it only ever grows.
# Voluntary EMG is not locked to the pulses, so averaged over bursts it is flat (it is
# the floor). Per-sample work is viper and allocates nothing.
from array import array

import micropython
from micropython import const

from garmentfw import limits as L
from garmentfw import wire
from garmentfw.stim_engine import counter_diff

_MASK = const(0x3FFFFFFF)  # AFE sample indices run modulo wire.COUNTER_MOD
_NCH = const(8)
MAX_MS = L.HARD_MAX_BLANK_US // 1000  # the longest answer it can measure
_MAX_LAGS = MAX_MS * max(wire.ALLOWED_FS) // 1000
_SMOOTH = const(4)  # the end is found on a moving sum of this many lags
_EMA_SH = const(3)  # each burst moves the average 1/8 of the way
MIN_BURSTS = const(8)  # bursts averaged before the measurement is used
_GAP_MS = const(3)  # pulses further apart than this belong to different bursts
MARGIN_US = const(1000)


@micropython.viper
def _acc(blk: ptr32, i0: int, i1: int, n_ch: int, lag: int, lags: int, cur: ptr32, prev: ptr32) -> int:
    """|second difference| of samples i0..i1-1, channel by channel, into
    cur[ch * lags + lag] (lag counting on from ``lag``); prev[ch], prev[8 + ch] hold the
    channel's last two samples. Returns the lag after the last sample."""
    sb = 1
    sb = sb << 31
    for i in range(i0, i1):
        base = i * n_ch
        for ch in range(n_ch):
            v = blk[base + ch]
            v = v | (0 - (v & sb))  # sign-extend (a no-op on 32-bit MCUs)
            p1 = prev[ch]
            p1 = p1 | (0 - (p1 & sb))
            p2 = prev[8 + ch]
            p2 = p2 | (0 - (p2 & sb))
            d = v - p1 - p1 + p2
            prev[8 + ch] = p1
            prev[ch] = v
            if d < 0:
                d = 0 - d
            if lag < lags:
                cur[ch * lags + lag] = d
        lag += 1
    return lag


@micropython.viper
def _fold(cur: ptr32, avg: ptr32, n_ch: int, lags: int, upto: int, init: int):
    for ch in range(n_ch):
        b = ch * lags
        for j in range(upto):
            if init:
                avg[b + j] = cur[b + j]
            else:
                a = avg[b + j]
                avg[b + j] = a + ((cur[b + j] - a) >> _EMA_SH)


@micropython.viper
def _end(avg: ptr32, n_ch: int, lags: int, upto: int, floor_min: int) -> int:
    """Where the answer is over: per channel, the last lag (+ _SMOOTH) where the smoothed
    average stands above twice the channel's floor (its quietest smoothed stretch); the
    latest channel's. A stray late bump (strong effort) makes it longer, never shorter:
    more blanking, never less."""
    end = 0
    last = upto - _SMOOTH
    for ch in range(n_ch):
        b = ch * lags
        # the floor: the quietest smoothed stretch. Taking the lowest errs towards a
        # longer answer (more blanking), never a shorter one
        s = 0
        for j in range(_SMOOTH):
            s += avg[b + j]
        lo = s
        for j in range(1, last + 1):
            s += avg[b + j + _SMOOTH - 1] - avg[b + j - 1]
            if s < lo:
                lo = s
        thr = 2 * lo
        if thr < floor_min * _SMOOTH:
            thr = floor_min * _SMOOTH
        s = 0
        for j in range(_SMOOTH):
            s += avg[b + j]
        e = 0
        if s > thr:
            e = _SMOOTH
        for j in range(1, last + 1):
            s += avg[b + j + _SMOOTH - 1] - avg[b + j - 1]
            if s > thr:
                e = j + _SMOOTH
        if e > end:
            end = e
    return end


class EvokedWindow:
    """Burst-locked averaging of the raw EMG: ``window_us`` is how long the muscles'
    answer to a burst lasts (0 until MIN_BURSTS bursts have been seen)."""

    def __init__(self, floor_min: int = 8):
        self.floor_min = floor_min  # codes: a flat channel's floor is at least this
        self.cur = array("i", bytes(4 * _NCH * _MAX_LAGS))
        self.avg = array("i", bytes(4 * _NCH * _MAX_LAGS))
        self.prev = array("i", bytes(4 * 2 * _NCH))  # the last two samples per channel
        self.starts = array("i", bytes(4 * 8))
        self.n_ch = -1
        self.fs = 0
        self.bursts = 0
        self.configure(0, 2000)

    def configure(self, n_ch: int, fs: int) -> None:
        """The acquisition (re)started, sample indices from 0: forget the bursts in flight;
        keep what was measured unless the channels or the rate changed (the muscles
        have not)."""
        if n_ch == self.n_ch and fs == self.fs and self.bursts:
            self.head = 0
            self.count = 0
            self.have_pulse = False
            self.active = False
            self.have_prev = False
            return
        self.n_ch = n_ch
        self.fs = fs
        self.lags = MAX_MS * fs // 1000
        if self.lags > _MAX_LAGS:
            self.lags = _MAX_LAGS
        self.gap = _GAP_MS * fs // 1000 + 1
        self.lag = 0
        self.active = False  # a burst in progress (lag counts from its start)
        self.head = 0
        self.count = 0
        self.last_pulse = 0
        self.have_pulse = False
        self.bursts = 0
        self.window_us = 0
        self.have_prev = False

    def pulse(self, s: int) -> None:
        """A pulse whose artefact starts at AFE sample ``s`` (from Blanker.add); the first
        pulse after a quiet gap starts a burst. Allocation-free."""
        if self.have_pulse and counter_diff(s, self.last_pulse) <= self.gap:
            self.last_pulse = s
            return
        self.last_pulse = s
        self.have_pulse = True
        if self.count == 8:
            return  # bursts queued faster than samples arrive: skip this one
        i = self.head + self.count
        if i >= 8:
            i -= 8
        self.starts[i] = s
        self.count += 1

    def feed(self, blk, n: int, first: int) -> bool:
        """Raw samples first..first+n-1 (before blanking); True if window_us changed."""
        nch = self.n_ch
        if nch <= 0 or n <= 0:
            return False
        if not self.have_prev:
            for ch in range(nch):
                self.prev[ch] = blk[ch]
                self.prev[_NCH + ch] = blk[ch]
            self.have_prev = True
        changed = False
        i = 0
        while i < n:
            stop = n
            if self.count:
                d = counter_diff(self.starts[self.head], (first + i) & _MASK)
                if d <= 0:  # a burst starts here (or started in samples already seen)
                    if self.active and self._close():
                        changed = True
                    self.head = (self.head + 1) & 7
                    self.count -= 1
                    self.lag = -d
                    self.active = True
                    continue
                if d < n - i:
                    stop = i + d
            if self.active and self.lag < 2 * self.lags:
                lag = int(_acc(blk, i, stop, nch, self.lag, self.lags, self.cur, self.prev))
                self.lag = lag if lag < 2 * self.lags else 2 * self.lags  # small however long the gap
            elif stop > i:  # no burst to measure: only the last two samples matter
                last = (stop - 1) * nch
                for ch in range(nch):
                    self.prev[_NCH + ch] = blk[last - nch + ch] if stop - i >= 2 else self.prev[ch]
                    self.prev[ch] = blk[last + ch]
            i = stop
        return changed

    def _close(self) -> bool:
        """The burst in progress ends: fold it into the average, measure."""
        upto = self.lag - _SMOOTH  # not the next burst's first samples (its index is +-1 sample)
        if upto > self.lags:
            upto = self.lags
        if upto < 4 * _SMOOTH:
            return False  # too short to tell
        _fold(self.cur, self.avg, self.n_ch, self.lags, upto, 1 if self.bursts == 0 else 0)
        self.bursts += 1
        if self.bursts < MIN_BURSTS:
            return False
        end = int(_end(self.avg, self.n_ch, self.lags, upto, self.floor_min))
        w = end * 1000000 // self.fs + MARGIN_US if end else 0
        if w != self.window_us:
            self.window_us = w
            return True
        return False
