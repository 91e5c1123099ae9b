# The device's per-window path (AFE -> ring -> filters -> telemetry -> link queue)
# allocates nothing, measured with gc.mem_alloc() on the unix port.
import gc

from garmentfw import wire
from garmentfw.afe import Ads1299Source
from garmentfw.sim.ads1299_model import FakeADS1299
from garmentfw.device import Device
from garmentfw.drivers.ads1299 import ADS1299
from array import array

_t = [0]


def _clock():
    return _t[0]


def _sleep(us):
    _t[0] += us


class _NullLink:
    def __init__(self):
        self.sent = 0

    def readinto(self, buf):
        return 0

    def write(self, buf, off, n):
        self.sent += n
        return n

    def connected(self):
        return True

    def dropped_client(self):
        return False


class _Board:
    NAME = "test"
    MONTAGE = ("a", "b", "c", "d", "e", "f", "g", "h")
    AFE_NAME = "fake"

    def __init__(self):
        self.chip = FakeADS1299(clock=_clock, depth=1024)
        c = self.chip
        drv = ADS1299(c.spi, c.cs, c.drdy, reset=c.reset_pin, start=c.start_pin, pwdn=c.pwdn_pin, sleep_us=_sleep)
        drv.init()
        self.afe = Ads1299Source(drv, c.pending, c.next_index)
        self.link = _NullLink()
        self.store = None

    def service(self):
        pass

    def battery_mv(self):
        return 4000

    def uid(self):
        return "test"


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
    _t[0] += 50000
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
