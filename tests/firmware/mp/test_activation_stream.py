# Host activations (T_ACTIVATION, e.g. a muscle's neural drive) take the decoder's path in
# the control stage: refused unauthenticated, unarmed or without a model; out of range
# refused (never clamped); clipped to calibration, slewed, zeroed when the stream goes stale
# and when the heartbeat stops; no allocation per accepted frame.
import stim_testlib as S

import gc
import struct

from garmentfw import wire


def _body(*q12):
    return struct.pack("<B%dH" % len(q12), len(q12), *q12)


def _proportional(stim):
    assert stim.control.set_model({"preset": "proportional", "params": {"gain": 1.0, "deadband": 0.0}}) is None


def _ch(h, ch):
    return [p for p in h.pulses() if p[1] == ch]


def test_refused_without_a_session_an_arm_or_a_model():
    b, d, stim, h = S.make_device(auth=False)
    assert h.refused(wire.T_ACTIVATION, _body(4096))[0] == wire.E_UNAUTHORIZED
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    code, msg = h.refused(wire.T_ACTIVATION, _body(4096))
    assert code == wire.E_BAD_STATE and "model" in msg, msg
    _proportional(stim)
    code, msg = h.refused(wire.T_ACTIVATION, _body(4096))
    assert code == wire.E_BAD_STATE and "T_ARM" in msg, msg
    S.run(d, h, 200)
    assert b.stim.count == 0


def test_bad_bodies_are_refused_not_clamped():
    b, d, stim, h = S.armed_device()
    _proportional(stim)
    assert h.refused(wire.T_ACTIVATION, _body(4097))[0] == wire.E_OUT_OF_RANGE
    assert h.refused(wire.T_ACTIVATION, _body(4096)[:-1])[0] == wire.E_MALFORMED
    assert h.refused(wire.T_ACTIVATION, b"\0")[0] == wire.E_MALFORMED
    S.run(d, h, 200)
    assert b.stim.count == 0  # nothing asked for, nothing delivered


def test_drives_the_policy_like_the_decoder_and_goes_to_zero_when_stale():
    b, d, stim, h = S.armed_device()
    _proportional(stim)
    for _ in range(8):  # a 50 ms stream: muscle 0 full, muscle 1 off
        h.ok(wire.T_ACTIVATION, _body(4096, 0))
        S.run(d, h, 50)
    ps = _ch(h, 0)
    assert len(ps) >= 5 and ps[0][2] < 1000 and ps[-1][2] > ps[0][2]  # ramped from zero (slew)
    assert max(p[2] for p in ps) <= stim.calib.max[0]  # calibration clip
    assert b.stim.per_ch[1] == 0
    # the host stops sending (the heartbeat goes on): zero after ACTIVATION_STALE_MS
    h.ping()
    t_last = S.ticks_us()
    S.run(d, h, 600)
    last = b.stim.last()[0]
    assert S.mdiff(last, t_last) <= (wire.ACTIVATION_STALE_MS + 50) * 1000
    n = b.stim.count
    S.run(d, h, 300)
    assert b.stim.count == n


def test_heartbeat_loss_stops_a_live_stream():
    b, d, stim, h = S.armed_device()
    _proportional(stim)
    h.ok(wire.T_ACTIVATION, _body(4096, 4096))
    for _ in range(20):  # activations keep coming, the heartbeat does not
        S.run(d, h, 50, ping_every_ms=0)
        if stim.sup.armed():
            h.ok(wire.T_ACTIVATION, _body(4096, 4096))
    st = struct.unpack(wire.STIM_STATE_FMT, h.ok(wire.T_STIM_STATE)[1])
    assert st[0] == wire.SS_FAULT and st[1] == wire.FAULT_HEARTBEAT
    assert h.refused(wire.T_ACTIVATION, _body(4096))[0] == wire.E_BAD_STATE
    assert not b.stim.enabled


def test_an_accepted_frame_allocates_nothing():
    b, d, stim, h = S.armed_device()
    _proportional(stim)
    body = bytearray(3) + _body(2048, 1024)
    stim.control.external_activation(body, 3, len(body) - 3)
    gc.collect()
    a0 = gc.mem_alloc()
    for _ in range(50):
        assert stim.control.external_activation(body, 3, len(body) - 3) == ""
    assert gc.mem_alloc() - a0 == 0

