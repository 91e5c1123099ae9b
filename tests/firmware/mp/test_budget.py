# A configuration the board's CPU cannot keep up with is refused (garmentfw/budget.py),
# with the reason, and nothing changes; the sim board is not checked.
import os
import struct

from fakeboard import Board

from garmentfw import budget, wire
from garmentfw.device import Device
from garmentfw.framing import Deframer


def _set_config(d, fs, n_ch):
    pkt = bytearray(wire.MAX_PACKET)
    body = struct.pack(wire.CONFIG_FMT, fs, n_ch, 50, wire.STREAM_FILTERED, 1, 1)
    pkt[3:3 + len(body)] = body
    d._set_config(7, pkt, len(body))  # the handler itself: authentication is tested elsewhere
    got = []
    df = Deframer(lambda t, s, p, n: got.append((t, bytes(p[3:3 + n]))), lambda code: None)
    out = d.board.link.take()
    d.step()
    out += d.board.link.take()
    df.feed(out, len(out))
    return got


def test_each_reference_board_decides_every_allowed_configuration():
    for board in budget.CPU_HZ:
        for fs in wire.ALLOWED_FS:
            for n_ch in (1, 4, 8):
                why = budget.refusal(board, fs, n_ch)
                need = budget.instructions_per_s(fs, n_ch) * budget.HEADROOM
                fits = need <= budget.CPU_HZ[board] * budget.IPC_PERCENT // 100
                assert (why is None) == fits, (board, fs, n_ch, why)
                if why:
                    assert board in why and "%d Hz" % fs in why and "headroom" in why
    assert budget.refusal("sim", 2000, 8) is None
    # The emulated core (250 M instructions/s of guest time) also runs the chip model's
    # Python SPI: 8 ch x 250 Hz fits it with 2x headroom, 8 ch x 500 Hz does not.
    why = budget.refusal("qemu", 1000, 8)
    assert why and "qemu at 250 MHz" in why, why
    assert budget.instructions_per_s(2000, 8, None, "qemu") > budget.instructions_per_s(2000, 8)
    assert budget.refusal("qemu", 250, 8) is None and budget.refusal("qemu", 500, 8)
    assert budget.fastest_fs("qemu", 8) == 250
    # What the measured counts say with the periodic ticks every 4 ms: the ESP32-S3 takes
    # 8 ch x 500 Hz, not 1 kHz; the RP2040 and RP2350 8 ch x 250 Hz, not 500 Hz.
    for name, fits, refused in (("esp32s3", 500, 1000), ("rp2040", 250, 500), ("rp2350", 250, 500)):
        assert budget.refusal(name, fits, 8) is None and budget.refusal(name, refused, 8), name
        assert budget.fastest_fs(name, 8) == fits, name


def test_every_measured_term_counts():
    # Each pinned count enters the prediction as the bench's model says: per conversion,
    # per block (a pass holding samples, at most BLOCKS_PER_S of them) and per ms, plus
    # the decoder's windows. A term left out (or counted at another rate) fails here.
    B = budget
    for board, emulated in (("esp32s3", False), ("qemu", True)):
        for fs in wire.ALLOWED_FS:
            for n_ch in (4, 8):
                per = (B.INSTR_DEVICE_SAMPLE_8CH + B.INSTR_FEATURES_8CH) * n_ch // 8
                per = per + B.INSTR_AFE_MODEL if emulated else (B.INSTR_DEVICE_SAMPLE_8CH + B.INSTR_FEATURES_8CH
                                                               + B.INSTR_CAPTURE_8CH) * n_ch // 8
                pass_ = B.INSTR_PASS + (B.INSTR_AFE_POLL_MODEL if emulated else 0)
                blocks = min(fs, 1000)  # a pass holds every conversion waiting, a pass a ms
                want = (fs * per + blocks * B.INSTR_BLOCK + (blocks + 250) * pass_ + 250 * B.INSTR_SERVICE_TICK
                        + B.WINDOWS_PER_S * B.INSTR_DECODE)
                assert B.instructions_per_s(fs, n_ch, None, board) == want, (board, fs, n_ch)
    # the rates follow from the cadence the loop keeps (Device.step, StimService.tick)
    assert B.PERIOD_MS == 4 and B.BLOCKS_PER_S == 1000 and B.PERIODIC_PER_S == 1000 // B.PERIOD_MS
    # every pinned count is a measured, non-zero count (const: inlined where it is used)
    names = [n for n in dir(B) if n.startswith("INSTR_")]
    assert len(names) == 12, names
    for n in names:
        assert getattr(B, n) > 0, n


def test_a_configuration_that_does_not_fit_is_refused_and_nothing_changes():
    # a clock between what 1 ch x 250 Hz and 8 ch x 250 Hz need with the headroom
    lo = budget.instructions_per_s(250, 1) * budget.HEADROOM
    hi = budget.instructions_per_s(250, 8) * budget.HEADROOM
    mhz = (lo + hi) // 2_000_000
    budget.CPU_HZ["slowboard"] = mhz * 1_000_000
    try:
        b = Board()
        b.NAME = "slowboard"
        d = Device(b)
        fs0, n0 = d.fs, d.n_ch
        got = _set_config(d, 2000, 8)
        errs = [body for t, body in got if t == wire.R_ERROR]
        assert errs, got
        assert errs[0][2] == wire.E_OUT_OF_RANGE, errs
        assert ("slowboard at %d MHz" % mhz).encode() in errs[0], errs
        assert (d.fs, d.n_ch) == (fs0, n0)
        # The configuration in force (the boot default here) cannot start streaming either.
        pkt = bytearray(wire.MAX_PACKET)
        d._start(8, pkt, 0)
        d.step()
        assert not d.streaming
        got = _set_config(d, 250, 1)  # a small one fits
        assert [t for t, _ in got if t == wire.R_CONFIG], got
        assert (d.fs, d.n_ch) == (250, 1)
        d._start(9, pkt, 0)
        assert d.streaming
    finally:
        del budget.CPU_HZ["slowboard"]


def test_each_board_boots_at_the_fastest_rate_it_keeps_up_with():
    # A board must not boot into a configuration its own CPU could take and refuse it;
    # one that takes none boots at the lowest rate and refuses to stream, with the reason.
    assert budget.fastest_fs("esp32s3", 8) == 500 and budget.fastest_fs("sim", 8) == 2000
    budget.CPU_HZ["slowboard"] = 50_000_000  # below 8 ch x 250 Hz with the headroom
    try:
        for name, fs, streams in (("esp32s3", 500, True), ("rp2040", 250, True), ("rp2350", 250, True),
                                  ("slowboard", 250, False)):
            b = Board()
            b.NAME = name
            d = Device(b)
            assert d.fs == budget.fastest_fs(name, 8) == fs, (name, d.fs)
            assert (budget.refusal(name, d.fs, d.n_ch) is None) == streams
            pkt = bytearray(wire.MAX_PACKET)
            b.link.take()
            d._start(3, pkt, 0)
            assert d.streaming == streams, name
            if not streams:
                d.step()
                assert (name + " at").encode() in b.link.take()
    finally:
        del budget.CPU_HZ["slowboard"]


def test_a_stored_configuration_the_board_cannot_take_falls_back_to_its_default():
    root = "/tmp/garment-budget-test"
    try:
        os.mkdir(root)
    except OSError:
        pass
    b = Board(store=root)
    b.NAME = "esp32s3"
    b.store.save("config", struct.pack(wire.CONFIG_FMT, 2000, 8, 50, wire.STREAM_FILTERED, 1, 1))
    d = Device(b)
    assert (d.fs, d.n_ch) == (500, 8)


def test_a_models_features_count_in_the_budget():
    ar = ("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4", "AR1", "AR2", "AR3", "AR4")
    base = budget.instructions_per_s(2000, 8)
    assert budget.instructions_per_s(2000, 8, ("MAV", "RMS")) == base
    m24 = budget.instructions_per_s(2000, 8, ar[:7])
    assert m24 == base + 2000 * budget.INSTR_FEATURES_M24_8CH
    assert budget.instructions_per_s(2000, 8, ar) == m24 + 2000 * budget.INSTR_FEATURES_AR_8CH
    # CR1..CR3: charged as all three offsets, once, beside AR or without it
    cr = ar[:7] + ("CR2",)
    assert budget.instructions_per_s(2000, 8, cr) == m24 + 2000 * budget.INSTR_FEATURES_CR_8CH
    assert budget.instructions_per_s(2000, 8, ar + ("CR1", "CR3")) == (
        m24 + 2000 * (budget.INSTR_FEATURES_AR_8CH + budget.INSTR_FEATURES_CR_8CH))
    # a board whose clock lies between the two: MAV..M4 fit, with AR1..AR4 they do not
    need7 = budget.instructions_per_s(250, 8, ar[:7]) * budget.HEADROOM
    need = budget.instructions_per_s(250, 8, ar) * budget.HEADROOM
    assert need - need7 == 2 * 250 * budget.INSTR_FEATURES_AR_8CH
    budget.CPU_HZ["midboard"] = (need7 + need) // 2_000_000 * 1_000_000
    try:
        why = budget.refusal("midboard", 250, 8, ar)
        assert why and "AR1" in why and "midboard" in why, why
        assert budget.refusal("midboard", 250, 8, ar[:7]) is None
    finally:
        del budget.CPU_HZ["midboard"]
