# The sample ring's counters wrap with `& wire.COUNTER_MASK`: after 2**30 samples (6 days
# at 2 kHz) they stay small ints (a 32-bit port's end at 2**30 - 1: past it every commit
# allocated a big int in the hot path), and the AFE index's own wrap is no gap.
import gc
from array import array

import vclock  # noqa: F401  (first: the virtual `time`)

from garmentfw import wire
from garmentfw.ring import SampleRing, counter_add

MASK = wire.COUNTER_MASK


def _fill(ring, first, n):
    for i in range(n):
        o = ring.slot_offset()
        ring.buf[o] = i
        ring.commit(counter_add(first, i))


def test_counters_wrap_just_before_2_30_and_stay_small_ints():
    ring = SampleRing(16, 8)
    ring.reset(8, start=MASK - 5)
    out = array("i", bytes(4 * 8 * 16))
    got = 0
    for _ in range(4):
        _fill(ring, got, 10)
        assert ring.count() == 10 and ring.space() == 6
        assert 0 <= ring.head <= MASK and 0 <= ring.tail <= MASK, (ring.head, ring.tail)
        k = ring.take(out, 16)
        assert k == 10 and ring.first_index == got
        assert [out[8 * i] for i in range(10)] == list(range(10))
        got += 10
    assert ring.count() == 0 and ring.space() == 16
    assert ring.head == (MASK - 5 + 40) & MASK == 34


def test_the_afe_index_wrap_is_no_gap():
    ring = SampleRing(32, 8)
    _fill(ring, MASK - 3, 10)  # indices 2**30 - 4 .. 2**30 - 1, then 0 .. 5
    out = array("i", bytes(4 * 8 * 32))
    assert ring.take(out, 32) == 10 and ring.first_index == MASK - 3


def test_a_real_gap_still_splits():
    ring = SampleRing(32, 8)
    _fill(ring, 100, 5)
    _fill(ring, 106, 5)
    out = array("i", bytes(4 * 8 * 32))
    assert ring.take(out, 32) == 5 and ring.first_index == 100
    assert ring.take(out, 32) == 5 and ring.first_index == 106


def test_counter_add_wraps_at_2_30():
    assert counter_add(MASK, 1) == 0 and counter_add(MASK - 2, 5) == 2 and counter_add(7, 8) == 15


def test_commit_and_take_across_the_wrap_allocate_nothing():
    ring = SampleRing(64, 8)
    ring.reset(8, start=MASK - 100)
    out = array("i", bytes(4 * 8 * 20))
    idx = MASK - 50
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(20):  # 400 samples: both counters and the AFE index pass 2**30
        for _ in range(20):
            ring.commit(idx)
            idx = counter_add(idx, 1)
        while ring.take(out, 20):
            pass
    used = gc.mem_alloc() - before
    assert used == 0, used
    assert ring.head < 400 and ring.tail == ring.head
