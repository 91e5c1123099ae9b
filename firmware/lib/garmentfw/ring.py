# The preallocated sample ring between the AFE (producer: DRDY capture, possibly in an
# interrupt) and the processing loop (consumer). Each slot keeps its AFE sample counter
# so that a dropped conversion shows up as a gap, never as silently joined data.
# Single producer, single consumer: the producer writes a slot and then moves `head`,
# the consumer copies and then moves `tail`. Both counters wrap with
# `& wire.COUNTER_MASK` (small ints on every port: at 2 kHz they pass 2**30 after
# 6 days), the slots have their own positions (no `%` in the hot path).
import micropython
from array import array

from garmentfw import wire


def counter_add(a: int, b: int) -> int:
    """(a + b) modulo 2**30 for 0 <= a, b <= wire.COUNTER_MASK without leaving the small
    ints: ``(a + b) & COUNTER_MASK`` builds a big int at the wrap on a 32-bit port (their
    small ints end at 2**30 - 1), i.e. an allocation in the hot path once per wrap."""
    room = wire.COUNTER_MASK - a
    return a + b if b <= room else b - room - 1


@micropython.viper
def _copy_i32(src: ptr32, so: int, dst: ptr32, do: int, n: int):
    i = 0
    while i < n:
        dst[do + i] = src[so + i]
        i += 1


class SampleRing:
    """Fixed-capacity ring of interleaved int32 samples (n_ch per slot) with indices."""

    def __init__(self, capacity: int, n_ch: int):
        self.cap = capacity
        self.n_ch = n_ch
        self.buf = array("i", bytes(4 * capacity * n_ch))
        self.idx = array("i", bytes(4 * capacity))
        self.first_index = 0
        self.reset(n_ch)

    def reset(self, n_ch: int, start: int = 0) -> None:
        """Empty; ``n_ch`` per slot (the buffer is sized for the ``n_ch`` given at
        construction, only the stride changes). ``start``: where the head and tail
        counters begin (tests start them just before the wrap)."""
        self.n_ch = n_ch
        self.head = start & wire.COUNTER_MASK  # slots written, modulo 2**30
        self.tail = self.head  # slots consumed, modulo 2**30
        self._w = 0  # slot the producer writes next
        self._r = 0  # slot the consumer reads next

    def count(self) -> int:
        return (self.head - self.tail) & wire.COUNTER_MASK

    def space(self) -> int:
        return self.cap - ((self.head - self.tail) & wire.COUNTER_MASK)

    def newest_index(self) -> int:
        """Consumer: the AFE index of the newest sample committed (the producer writes a
        slot's index before it moves on). Meaningful once take() has returned a sample."""
        w = self._w
        return self.idx[(w if w else self.cap) - 1]

    def slot_offset(self) -> int:
        """Offset (in ints) of the slot the producer writes next."""
        return self._w * self.n_ch

    def commit(self, index: int) -> None:
        """Producer: the slot at slot_offset() now holds the sample with AFE index ``index``."""
        w = self._w
        self.idx[w] = index
        w += 1
        if w == self.cap:
            w = 0
        self._w = w
        h = self.head
        self.head = 0 if h == wire.COUNTER_MASK else h + 1  # last: the slot is complete

    def take(self, dst, max_n: int) -> int:
        """Consumer: move up to max_n contiguous samples (no index gap) into dst.

        Returns how many; ``first_index`` holds the index of the first one. The AFE
        index wraps at 2**30 like the counters: across it the samples are contiguous.
        """
        avail = (self.head - self.tail) & wire.COUNTER_MASK
        n = max_n if max_n < avail else avail
        if n <= 0:
            return 0
        cap = self.cap
        idx = self.idx
        r = self._r
        first = idx[r]
        k = 1
        s = r + 1
        if s == cap:
            s = 0
        e = 0 if first == wire.COUNTER_MASK else first + 1
        while k < n and idx[s] == e:
            k += 1
            e = 0 if e == wire.COUNTER_MASK else e + 1
            s += 1
            if s == cap:
                s = 0
        nch = self.n_ch
        done = 0
        while done < k:
            run = cap - r
            if run > k - done:
                run = k - done
            _copy_i32(self.buf, r * nch, dst, done * nch, run * nch)
            done += run
            r += run
            if r == cap:
                r = 0
        self._r = r
        self.tail = counter_add(self.tail, k)
        self.first_index = first
        return k
