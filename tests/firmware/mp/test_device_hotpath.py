# The device's per-window path (AFE -> ring -> filters -> telemetry -> link queue)
# allocates nothing, measured with gc.mem_alloc() on the unix port.
import gc
from array import array

import vclock  # noqa: F401  (first: the virtual `time`)
from fakeboard import Board, Link

from garmentfw import wire
from garmentfw.device import Device


def _Board():
    return Board(link=Link(capture=False))


def _device():
    b = _Board()
    d = Device(b)
    d.streaming = True
    d.streamer.start(d.n_ch, d.kind)
    nv = array("i", [((i * 7919) % 2001 - 1000) * 50 for i in range(8 * 200)])
    return b, d, nv


def _window(b, d, nv):
    # 50 ms of AFE time: one feature-window increment at the default 200 ms / 50 ms
    b.chip.feed(nv, 100)
    vclock.advance_us(50000)
    d.step()


def test_window_path_allocates_nothing():
    b, d, nv = _device()
    for _ in range(5):  # warm up: first calls may intern or grow caches
        _window(b, d, nv)
    sent0 = b.link.sent
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(20):
        _window(b, d, nv)
    used = gc.mem_alloc() - before
    assert used == 0, used
    assert b.link.sent > sent0  # and it really did stream
    assert d.streamer.packets >= 20 * 100 // wire.SAMPLES_PER_PACKET


def test_samples_are_contiguous_and_filtered():
    b, d, nv = _device()
    for _ in range(4):
        _window(b, d, nv)
    assert b.afe.count == 400  # 4 x 50 ms at 2 kHz, every conversion read
    assert b.afe.overruns == 0 and d.txq.dropped == 0
