# EvokedWindow (11): the measured length of the muscles' answer to a burst, from raw EMG
# blocks and the pulses' AFE indices; no allocation per block.
import gc
from array import array

from garmentfw.evoked import MARGIN_US, MIN_BURSTS, EvokedWindow

FS = 2000
PERIOD = 100  # samples between bursts: 20 Hz
BLOCK = 16
NCH = 3


class _Rng:
    def __init__(self, seed=1):
        self.x = seed

    def noise(self, amp):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % (2 * amp + 1) - amp


# 50 Hz mains, in codes, one value per sample at 2 kHz (40 samples a cycle)
_MAINS = [int(900 * __import__("math").sin(2 * 3.141592653589793 * k / 40)) for k in range(40)]


def _run(answer_ms, ch=1, seconds=2.0, start=1000, voluntary=0, jitter=True, mains=False):
    """Bursts every PERIOD samples; channel ``ch`` answers each with a 2 mV-ish decaying
    oscillation lasting ``answer_ms`` (0: no answer); channel 0 carries voluntary EMG
    (not locked to the bursts) of amplitude ``voluntary``. Returns the EvokedWindow."""
    ev = EvokedWindow()
    ev.configure(NCH, FS)
    rng = _Rng()
    n = int(seconds * FS)
    blk = array("i", bytes(4 * BLOCK * NCH))
    length = answer_ms * FS // 1000
    first = start
    k = 0
    while k < n:
        # the pulse is announced (Blanker.add) before its samples arrive
        for j in range(k, k + BLOCK):
            if (j + 20) % PERIOD == 0:
                ev.pulse((start + j + 20 + (rng.noise(1) if jitter else 0)) & 0x3FFFFFFF)
        for i in range(BLOCK):
            j = k + i
            lag = j % PERIOD
            for c in range(NCH):
                v = 1000 * c + rng.noise(40)
                if mains:
                    v += _MAINS[j % 40]
                if c == 0 and voluntary:
                    v += rng.noise(voluntary)
                if c == ch and lag < length:
                    # a damped oscillation that fades out over its length
                    v += (40000 * (length - lag) // length) * (1 if (lag // 3) % 2 else -1)
                blk[i * NCH + c] = v
        ev.feed(blk, BLOCK, first & 0x3FFFFFFF)
        first += BLOCK
        k += BLOCK
    return ev


def test_measures_how_long_the_answer_lasts():
    for ms in (20, 30, 40):
        ev = _run(ms)
        assert ev.bursts >= 30, ev.bursts
        got = (ev.window_us - MARGIN_US) / 1000
        assert ms - 2 <= got <= ms + 3, (ms, ev.window_us)


def test_voluntary_emg_is_the_floor_not_the_answer():
    # strong EMG on channel 0 that is not locked to the pulses; channel 1 answers 30 ms
    ev = _run(30, voluntary=3000)
    got = (ev.window_us - MARGIN_US) / 1000
    assert 28 <= got <= 33, ev.window_us


def test_mains_locked_to_the_bursts_is_not_an_answer():
    # 50 Hz hum (20 uV) repeats every 2 bursts at 20 Hz: averaged, it is locked too
    ev = _run(0, mains=True)
    assert ev.window_us <= 5000 + MARGIN_US, ev.window_us
    ev = _run(30, mains=True)
    got = (ev.window_us - MARGIN_US) / 1000
    assert 28 <= got <= 33, ev.window_us


def test_no_answer_no_window_and_nothing_before_enough_bursts():
    ev = _run(0)
    assert ev.window_us <= 5000 + MARGIN_US, ev.window_us  # noise: a few ms at most, below any default window
    ev = _run(40, seconds=(MIN_BURSTS - 1) * PERIOD / FS)
    assert ev.window_us == 0 and ev.bursts < MIN_BURSTS


def test_counter_wraps_and_a_new_rate_forgets():
    ev = _run(30, start=0x3FFFFFFF - 500)
    got = (ev.window_us - MARGIN_US) / 1000
    assert 28 <= got <= 33, ev.window_us
    w = ev.window_us
    ev.configure(NCH, FS)  # an AFE restart at the same rate: the muscles are the same
    assert ev.window_us == w and ev.count == 0 and not ev.active
    ev.configure(NCH, 1000)
    assert ev.window_us == 0 and ev.bursts == 0 and ev.lags == 50


def test_no_allocation_per_block():
    ev = EvokedWindow()
    ev.configure(NCH, FS)
    blk = array("i", bytes(4 * BLOCK * NCH))
    first = 0
    for _ in range(200):  # warm up past MIN_BURSTS
        if first % PERIOD == 0:
            ev.pulse(first + 4)
        ev.feed(blk, BLOCK, first)
        first += BLOCK
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(500):
        if first % PERIOD < BLOCK:
            ev.pulse(first + 4)
        ev.feed(blk, BLOCK, first)
        first += BLOCK
    used = gc.mem_alloc() - before
    assert used == 0, used
