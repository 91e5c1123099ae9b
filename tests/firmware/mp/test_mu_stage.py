# The on-garment motor-unit stage (mu_stage): bit-exact with the host's twin on the golden
# vectors (the very R_MU_ACTIVITY bodies, whatever the block size), every bad filter refused
# with its reason (never a crash), the board's instruction budget enforced, and no
# allocation per block.
import gc
import json
import struct
from array import array

from garmentfw import mu_spec, wire
from garmentfw.mu_stage import MotorUnitStage

with open("../../../models/golden/mu_stage.json") as _f:
    GOLDEN = json.load(_f)


class _Board:
    def __init__(self, name):
        self.NAME = name


class _Dev:
    """What the stage needs of the device: its acquisition, stream state and outgoing packets."""

    def __init__(self, n_ch, fs=2048, board="sim-hd"):
        self.max_ch = n_ch
        self.n_ch = n_ch
        self.fs = fs
        self.board = _Board(board)
        self.streaming = False
        self.kind = wire.STREAM_MU
        self.sent = []
        self.replies = []
        self.errors = []
        self.count_only = False
        self.n_sent = 0

    def send_packet(self, pkt, ptype, body_len):
        self.n_sent += 1
        if not self.count_only:
            self.sent.append((ptype, bytes(pkt[3:3 + body_len])))
        return True

    def reply(self, ptype, ref, payload=b""):
        self.replies.append((ptype, ref, bytes(payload)))

    def error(self, ref, code, msg):
        self.errors.append((ref, code, msg))

    def event(self, code, text):
        pass


def _request(stage, handler, body, seq=1):
    pkt = bytearray(wire.MAX_PACKET)
    pkt[3:3 + len(body)] = body
    handler(seq, pkt, len(body))


def _stage(n_ch, board="sim-hd"):
    d = _Dev(n_ch, board=board)
    st = MotorUnitStage(d)
    st.configure(n_ch, d.fs, None)
    return d, st


def _load(case):
    d, st = _stage(case["n_ch"])
    unit = st.handlers()[wire.T_MU_UNIT][0]
    for i, h in enumerate(case["units"]):
        _request(st, unit, bytes.fromhex(h), seq=i)
    assert not d.errors, d.errors
    assert st.n_units == len(case["units"])
    return d, st


def _blocks(case):
    n_ch = case["n_ch"]
    rows = case["samples"]
    out = []
    b = case["block"]
    for i in range(0, len(rows), b):
        part = rows[i:i + b]
        blk = array("i", [0] * (len(part) * n_ch))
        for s, r in enumerate(part):
            for c in range(n_ch):
                blk[s * n_ch + c] = r[c]
        out.append((blk, len(part), (case["first"] + i) & wire.COUNTER_MASK))
    return out


def test_golden_activity_bit_exact():
    for case in GOLDEN["cases"]:
        d, st = _load(case)
        d.streaming = True
        for blk, n, first in _blocks(case):
            st.on_filtered(blk, n, first)
        st.flush()
        got = [b.hex() for t, b in d.sent]
        assert all(t == wire.R_MU_ACTIVITY for t, b in d.sent)
        assert got == case["activity"], (case["name"], len(got), len(case["activity"]))


def test_bad_filters_refused_with_the_reason():
    for case in GOLDEN["refused"]:
        d, st = _stage(case["n_ch"])
        _request(st, st.handlers()[wire.T_MU_UNIT][0], bytes.fromhex(case["body"]))
        assert len(d.errors) == 1 and not d.replies, (case, d.errors)
        ref, code, msg = d.errors[0]
        assert code in (wire.E_OUT_OF_RANGE, wire.E_MALFORMED) and case["reason"] in msg, (case["reason"], msg)
        assert st.n_units == 0
    d, st = _stage(8)
    _request(st, st.handlers()[wire.T_MU_UNIT][0], b"\x00\x01")  # shorter than the header
    assert d.errors[0][1] == wire.E_MALFORMED and st.n_units == 0


def _unit(u, n_sub, delays, n_ch=8, in_shift=0, fs=2048):
    hdr = struct.pack(mu_spec.UNIT_HDR_FMT, u, fs, n_ch, n_sub, delays, in_shift, 0, 20, 1000)
    return hdr + bytes(range(n_sub)) + bytes(2 * n_sub * delays)


def test_units_in_order_one_input_shift_and_not_while_streaming():
    d, st = _stage(8)
    unit = st.handlers()[wire.T_MU_UNIT][0]
    clear = st.handlers()[wire.T_MU_CLEAR][0]
    _request(st, unit, _unit(1, 2, 2))
    assert "units 0..-1 first" in d.errors[-1][2] or "first" in d.errors[-1][2], d.errors
    _request(st, unit, _unit(0, 2, 2))
    _request(st, unit, _unit(1, 3, 2, in_shift=2))
    assert "in_shift 2" in d.errors[-1][2], d.errors[-1]
    _request(st, unit, _unit(1, 3, 2))
    assert st.n_units == 2 and st.taps == 10
    _request(st, unit, _unit(0, 4, 4))  # replaces unit 0
    assert st.n_units == 2 and st.taps == 22
    d.streaming = True
    n_err = len(d.errors)
    _request(st, unit, _unit(0, 2, 2))
    _request(st, clear, b"")
    assert len(d.errors) == n_err + 2 and d.errors[-1][1] == wire.E_BAD_STATE and st.n_units == 2
    d.streaming = False
    _request(st, clear, b"")
    assert st.n_units == 0 and st.start_refusal() is not None
    _request(st, unit, _unit(0, 2, 2))
    st.configure(16, 2048, None)  # the acquisition changed: the filters were for 8 channels
    assert st.n_units == 0


def test_board_budget_refuses_a_set_that_does_not_fit():
    # A 500 MHz board at 8 ch x 2 kHz: a small unit fits, eight of 128 taps do not. (The
    # ESP32-S3 takes 8 ch x 500 Hz at most, since garmentfw/budget.py counts the whole loop.)
    from garmentfw import budget

    budget.CPU_HZ["bigboard"] = 500_000_000
    try:
        d, st = _stage(8, board="bigboard")
        d.fs = 2000
        st.configure(8, 2000, None)
        unit = st.handlers()[wire.T_MU_UNIT][0]
        _request(st, unit, _unit(0, 4, 2, fs=2000))
        assert not d.errors and st.n_units == 1
        u = 1
        while not d.errors and u < mu_spec.MAX_UNITS:
            _request(st, unit, _unit(u, 8, 16, fs=2000))
            u += 1
        assert d.errors, "eight units of 128 taps fitted a 500 MHz board's budget"
        ref, code, msg = d.errors[-1]
        assert code == wire.E_OUT_OF_RANGE and "bigboard" in msg and "headroom" in msg, msg
        assert st.n_units == u - 1
    finally:
        del budget.CPU_HZ["bigboard"]


def test_no_allocation_per_block():
    case = GOLDEN["cases"][1]  # the burst: early sends too
    d, st = _load(case)
    d.streaming = True
    d.count_only = True
    blocks = _blocks(case)
    nb = len(blocks)
    for i in range(3):
        blk, n, first = blocks[i]
        st.on_filtered(blk, n, first)
    i = 3
    gc.collect()
    a0 = gc.mem_alloc()
    while i < nb:
        blk, n, first = blocks[i]  # unpacking a stored tuple allocates nothing
        st.on_filtered(blk, n, first)
        i += 1
    a1 = gc.mem_alloc()
    assert d.n_sent > 10
    assert a1 == a0, "allocated %d bytes" % (a1 - a0)


def test_device_over_ble_sends_motor_units_not_samples():
    # Through real frames on a link that is not wired: kind STREAM_MU is taken, the stream
    # start waits for filters, then only R_MU_ACTIVITY flows (covering every sample), and
    # the stop sends the last interval.
    import vclock
    from fakeboard import Board, Link
    from stim_testlib import mu_device

    b = Board(link=Link(wired=False))
    d, st, h = mu_device(b)
    h.ok(wire.T_SET_CONFIG, struct.pack(wire.CONFIG_FMT, 2000, 8, 50, wire.STREAM_MU, 1, 1))
    code, msg = h.refused(wire.T_STREAM_START)
    assert code == wire.E_OUT_OF_RANGE and "T_MU_UNIT" in msg, msg
    body = struct.pack(mu_spec.UNIT_HDR_FMT, 0, 2000, 8, 2, 2, 0, 0, 20, 5000) + bytes((0, 1)) + struct.pack(
        "<4h", 20000, 0, 20000, 0)
    t, rep = h.ok(wire.T_MU_UNIT, body)
    assert t == wire.R_ACK and rep[1] == 1
    h.ok(wire.T_STREAM_START)
    nv = array("i", bytes(4 * 8 * 100))
    for s in range(0, 100, 25):  # a discharge-like bump every 25 samples on channels 0 and 1
        nv[8 * s] = nv[8 * s + 1] = 2_000_000
    for _ in range(6):
        b.chip.feed(nv, 100)
        vclock.advance_us(50_000)
        d.step()
    h.ok(wire.T_STREAM_STOP)
    assert not h.of_type(wire.R_SAMPLES)
    acts = h.of_type(wire.R_MU_ACTIVITY)
    assert len(acts) >= 10
    nxt = None
    covered = 0
    disch = 0
    for a in acts:
        first, n, units, k = struct.unpack_from(wire.MU_ACTIVITY_HDR_FMT, a)
        assert units == 1 and len(a) == wire.MU_ACTIVITY_HDR_LEN + k * wire.MU_DISCHARGE_LEN
        assert nxt is None or first == nxt, (first, nxt)  # no sample left uncovered
        nxt = (first + n) & wire.COUNTER_MASK
        covered += n
        disch += k
    assert covered >= 500 and disch >= 10, (covered, disch)
    # raw 8 channels still stream over BLE; the kind goes back to samples
    h.ok(wire.T_SET_CONFIG, struct.pack(wire.CONFIG_FMT, 2000, 8, 50, wire.STREAM_FILTERED16, 1, 1))
    assert st.n_units == 1  # same acquisition: the filters stay
