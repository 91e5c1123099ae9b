# The device on the HD garment's AFE (8 daisy-chained ADS1299s, 64 channels at 2048 SPS):
# its buffers and rates come from the AFE, 64-channel packets fit the wire, the 64-channel
# window path allocates nothing, and a link that is not wired (BLE) refuses raw 64-channel
# streaming with an error instead of dropping samples.
import gc
import struct
from array import array

import vclock  # noqa: F401  (first: the virtual `time`)
from fakeboard import Board, Link
from stim_testlib import Host

from garmentfw import wire
from garmentfw.device import Device
from garmentfw.framing import Deframer
from garmentfw.montage import HD_GRID, grid_labels


class HDBoard(Board):
    NAME = "test-hd"
    MONTAGE = grid_labels(HD_GRID[0], HD_GRID[1], HD_GRID[3])

    def __init__(self, link=None):  # noqa: super().__init__ builds the 8-channel AFE
        from garmentfw.drivers.ads1299 import ADS1299, FCLK_HD_HZ
        from garmentfw.sim.ads1299_chain import FakeDaisyChain
        from garmentfw.sim.afe_irq import SimDrdyIrq

        # as boards/sim_hd.py: every chip holds one conversion, chip 1's DRDY interrupt
        # moves the chain's frame into the device's ring
        self.chip = c = FakeDaisyChain(8, clock=vclock.ticks_us, depth=1, fclk_hz=FCLK_HD_HZ)
        drv = ADS1299(c.spi, c.cs, c.drdy, reset=c.reset_pin, start=c.start_pin, pwdn=c.pwdn_pin,
                      sleep_us=vclock.sleep_us, n_chips=8, fclk_hz=FCLK_HD_HZ)
        drv.init()
        self.afe = SimDrdyIrq(c, drv).afe
        self.afe.fs_allowed = wire.HD_FS
        self.link = link if link is not None else Link()
        self.store = None
        self.stim = None
        self.batt = 4000
        self.idled_ms = 0


def _feed_window(b, d, nv, n=128):
    # 62.5 ms of AFE time at 2048 SPS (exact in microseconds)
    b.chip.feed(nv, n)
    vclock.advance_us(n * 1_000_000 // 2048)
    d.step()


def test_boots_with_every_channel_at_2048_and_refuses_other_rates():
    b = HDBoard()
    d = Device(b)
    h = Host(d, b)
    assert d.n_ch == 64 and d.fs == 2048 and d.max_ch == 64
    d.auth = None
    from stim_testlib import AcceptAll

    d.auth = AcceptAll()
    code, msg = h.refused(wire.T_SET_CONFIG, struct.pack(wire.CONFIG_FMT, 2000, 64, 50, 1, 1, 1))
    assert code == wire.E_OUT_OF_RANGE and "2048" in msg, msg
    code, msg = h.refused(wire.T_SET_CONFIG, struct.pack(wire.CONFIG_FMT, 2048, 60, 50, 1, 1, 1))
    assert code == wire.E_OUT_OF_RANGE and "multiple of 8" in msg, msg
    h.ok(wire.T_SET_CONFIG, struct.pack(wire.CONFIG_FMT, 1024, 32, 50, 1, 1, 1))
    assert d.n_ch == 32 and b.chip.fs() == 1024
    import json

    t, body = h.ok(wire.T_INFO)
    names = json.loads(bytes(body))["montage"]  # CH1..4 of every chip: electrodes 0-3, 8-11, ...
    assert names[:6] == [b.MONTAGE[0], b.MONTAGE[1], b.MONTAGE[2], b.MONTAGE[3], b.MONTAGE[8], b.MONTAGE[9]]


def test_info_carries_the_grid_in_one_reply():
    import json

    b = HDBoard()
    d = Device(b)
    t, body = Host(d, b).ok(wire.T_INFO)
    info = json.loads(bytes(body))
    assert info["channels_max"] == 64 and info["fs_allowed"] == [1024, 2048]
    assert len(info["montage"]) == 64 and info["montage"][0] == "R01C02" and info["montage"][-1] == "R13C05"


def _streaming(link=None, make=Device):
    # a streaming device on the HD board and 4 windows of AFE time through it (``make``:
    # Device, or app.make_device for every stage)
    b = HDBoard(link=link)
    d = make(b)
    d.streaming = True
    d.streamer.start(d.n_ch, d.kind)
    nv = array("i", [((i * 7919) % 2001 - 1000) * 50 for i in range(64 * 128)])
    for _ in range(4):
        _feed_window(b, d, nv)
    return b, d, nv


def test_64_channel_stream_is_every_sample_in_packets_that_fit():
    b, d, nv = _streaming()
    d.stop_stream()
    got = []

    def on(ptype, seq, pkt, n):
        if ptype == wire.R_SAMPLES:
            first, k, nch, kind = struct.unpack_from(wire.SAMPLES_HDR_FMT, pkt, 3)
            assert nch == 64 and n == wire.SAMPLES_HDR_LEN + k * 64 * 3 and n <= wire.MAX_BODY
            got.append((first, k))

    d.txq.drain(b.link.write)
    Deframer(on, lambda c: None).feed(b.link.out, len(b.link.out))
    assert sum(k for _, k in got) == 4 * 128 and b.afe.overruns == 0
    for (f0, k0), (f1, _) in zip(got, got[1:]):
        assert f1 == f0 + k0  # contiguous: no gap, no repeat


def test_64_channel_window_path_allocates_nothing():
    b, d, nv = _streaming(Link(capture=False))
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(10):
        _feed_window(b, d, nv)
    used = gc.mem_alloc() - before
    assert used == 0, used
    assert b.link.sent > 0


def test_ble_refuses_raw_64_channel_streaming():
    b = HDBoard(link=Link(wired=False))
    d = Device(b)
    h = Host(d, b)
    code, msg = h.refused(wire.T_STREAM_START)
    assert code == wire.E_OUT_OF_RANGE and "USB only" in msg and "motor-unit" in msg, msg
    assert not d.streaming


def test_64_channel_packets_match_the_golden_vectors():
    # the firmware's packing of a 64-channel run, frame for frame (models/golden/samples64.json)
    import json

    from garmentfw.framing import Framer
    from garmentfw.telemetry import SampleStreamer

    with open("../../../models/golden/samples64.json") as f:
        g = json.load(f)

    class Queue:
        def __init__(self):
            self.frames = []

        def push(self, buf, n):
            self.frames.append(bytes(buf[:n]))
            return True

    q = Queue()
    st = SampleStreamer(Framer(), q)
    st.start(g["n_ch"], g["kind"])
    block = array("i", [v for row in g["codes"] for v in row])
    st.add(block, len(g["codes"]), g["first_index"])
    st.flush()
    want = [p["frame"] for p in g["packets"]]
    got = ["".join("%02x" % b for b in fr) for fr in q.frames]
    assert got == want, (len(got), len(want))


def test_ble_streams_64_channel_motor_unit_activity():
    # The same garment over BLE with the motor-unit stage: kind STREAM_MU at 64 channels is
    # taken (raw samples still are not), and with a filter its activity streams, no samples.
    import struct as _s

    from stim_testlib import mu_device

    from garmentfw import mu_spec

    b = HDBoard(link=Link(wired=False))
    d, st, h = mu_device(b)
    code, msg = h.refused(wire.T_SET_CONFIG, _s.pack(wire.CONFIG_FMT, 2048, 64, 50, wire.STREAM_FILTERED16, 1, 1))
    assert code == wire.E_OUT_OF_RANGE and "USB only" in msg, msg
    h.ok(wire.T_SET_CONFIG, _s.pack(wire.CONFIG_FMT, 2048, 64, 50, wire.STREAM_MU, 1, 1))
    body = _s.pack(mu_spec.UNIT_HDR_FMT, 0, 2048, 64, 2, 2, 0, 0, 20, 5000) + bytes((40, 63)) + bytes(8)
    h.ok(wire.T_MU_UNIT, body)
    h.ok(wire.T_STREAM_START)
    nv = array("i", bytes(4 * 64 * 128))
    for _ in range(4):
        _feed_window(b, d, nv)
    h.ok(wire.T_STREAM_STOP)
    assert not h.of_type(wire.R_SAMPLES)
    acts = h.of_type(wire.R_MU_ACTIVITY)
    assert sum(_s.unpack_from(wire.MU_ACTIVITY_HDR_FMT, a)[1] for a in acts) >= 4 * 128 - 40
