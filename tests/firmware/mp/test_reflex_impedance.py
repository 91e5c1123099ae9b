# The withdrawal reflex reading the stimulation electrodes' impedance, end to end on the
# unix port: the sim board's skin model (sim/electrode_skin.py, driven by RIG_SKIN like a
# rig would) -> the current-source model's track-and-hold reading -> the supervisor's
# electrode check -> the cycling policy's reflex -> every channel stopped. And the model
# itself: what sweat, discomfort, breakdown and peeling do to the readings.
import stim_testlib as S

import gc
import struct

from garmentfw import wire
from garmentfw.sim.electrode_skin import SKIN_AREA, SKIN_BREAKDOWN, SKIN_SCR, ElectrodeSkin
from garmentfw.sim.rig_stim import attach

CH4 = (0, 1, 2, 3)


class _Rig:
    """The sim's rig port as attach() needs it, fed by the test."""

    def __init__(self):
        from garmentfw.framing import Deframer, Framer

        self.client = None
        self.framer = Framer()
        self.errors = 0
        self.other = []
        self.deframer = Deframer(self._other, lambda c: None)
        self.pkt = Framer.packet()

    def _other(self, ptype, seq, pkt, n):
        self.other.append(ptype)

    def feed(self, ptype, body):
        for i in range(len(body)):
            self.pkt[3 + i] = body[i]
        self.deframer._on_packet(ptype, 0, self.pkt, len(body))


def _skin(rig, kind, mask, value):
    rig.feed(wire.RIG_SKIN, struct.pack(wire.RIG_SKIN_FMT, kind, mask, value))


def _reading(stim, ch, amp=20000):
    stim.enable()
    stim.pulse(ch, amp, 300, 50)
    S.advance_us(300)  # the track-and-hold reads at the end of phase 1
    return stim.load_mv(ch) * 1000 // stim.load_ua(ch)


def _cycling_device(reflex_z, extra=None):
    b, d, stim, h = S.armed_device(channels=CH4)
    rig = _Rig()
    attach(rig, b.stim)
    params = {"phase_on": [0, 90, 180, 270], "phase_off": [90, 180, 270, 360], "delay_ms": 0,
              "reflex": 1, "reflex_inputs": [0, 1, 2, 3]}
    if reflex_z is not None:
        params["reflex_z"] = reflex_z
    if extra:
        params.update(extra)
    assert stim.control.set_model({"preset": "cycling", "params": params}) is None
    return b, d, stim, h, rig


def _pedal(d, h, t0, ms):
    """60 rpm from t0: the crank sensor every 20 ms."""
    for _ in range(ms // 20):
        S.run(d, h, 20)
        ang = S.mdiff(S.ticks_us(), t0) * 36 // 1000 % 36000
        h.ok(wire.T_CRANK, struct.pack("<HH", ang, 6000))
        h.clear()  # the frames are not looked at here: long rides keep no history


def test_skin_model_readings():
    b, d, stim, h = S.make_device()
    st = b.stim
    st.skin.noise = False
    r0 = _reading(st, 0)
    assert 1600 < r0 < 1750, r0  # the nominal pair at 300 us
    # wear: sweat lowers the interface over minutes, a few per cent of the reading
    S.advance_us(300 * 1000000)
    r5 = _reading(st, 0)
    assert r0 * 90 // 100 < r5 < r0 * 98 // 100, (r0, r5)
    # a full electrodermal response on channels 0 and 1: nothing for the latency, then a
    # drop of about 10 % of the reading at its peak, recovering over seconds; channel 2 unchanged
    rig = _Rig()
    attach(rig, st)
    _skin(rig, SKIN_SCR, 0b011, 1000)
    S.advance_us(1000 * 1000)
    assert abs(_reading(st, 0) - r5) <= 2
    S.advance_us(2300 * 1000)  # 3.3 s: the peak
    peak0, peak1, other = _reading(st, 0), _reading(st, 1), _reading(st, 2)
    assert r5 * 86 // 100 < peak0 < r5 * 93 // 100 and abs(peak1 - peak0) <= 2, (r5, peak0, peak1)
    assert abs(other - r5) <= 2, (other, r5)
    S.advance_us(15 * 1000000)
    assert _reading(st, 0) > r5 - (r5 - peak0) // 4  # mostly recovered
    # a weaker response drops less (the strength is in the reading)
    _skin(rig, SKIN_SCR, 0b001, 400)
    S.advance_us(3300 * 1000)
    weak = _reading(st, 0)
    assert peak0 < weak < r5, (peak0, weak, r5)
    # breakdown under one electrode: a large drop within ~0.3 s, staying
    _skin(rig, SKIN_BREAKDOWN, 0b100, 600)
    S.advance_us(300 * 1000)
    low = _reading(st, 2)
    assert low < other * 90 // 100, (low, other)
    # peeling: the reading rises (the supervisor's check, not the reflex, handles it)
    _skin(rig, SKIN_AREA, 0b1000, 500)
    assert _reading(st, 3) > r5 * 115 // 100
    # bad events are rig errors, never applied
    e = rig.errors
    _skin(rig, 7, 1, 10)
    _skin(rig, SKIN_SCR, 1, 1001)
    _skin(rig, SKIN_AREA, 1, 0)
    assert rig.errors == e + 3
    try:
        ElectrodeSkin(1, [1000], [1500], [330]).event(SKIN_AREA, 1, 0)
    except ValueError as ex:
        assert "peeled" in str(ex)
    else:
        raise AssertionError("area 0 accepted")


def test_skin_model_allocates_nothing_per_pulse():
    b, d, stim, h = S.make_device()
    st = b.stim
    st.enable()
    rig = _Rig()
    attach(rig, st)
    _skin(rig, SKIN_SCR, 0b1111, 1000)
    _skin(rig, SKIN_BREAKDOWN, 0b10, 300)
    st.pulse(0, 20000, 300, 50)
    gc.collect()
    before = gc.mem_alloc()
    for i in range(200):
        S.advance_us(33000)
        st.pulse(i & 3, 20000, 300, 50)
    assert gc.mem_alloc() - before == 0


def test_a_sweat_response_on_every_electrode_stops_stimulation():
    b, d, stim, h, rig = _cycling_device([0, 1, 2, 3])
    t0 = S.ticks_us()
    _pedal(d, h, t0, 6000)  # quiet pedalling: every electrode has its baseline
    n0 = b.stim.count
    assert n0 > 100 and stim.control.policy.reflex.withdrawals == 0
    _skin(rig, SKIN_SCR, 0b1111, 1000)
    t_ev = S.ticks_us()
    stop = None
    for _ in range(300):  # 6 s
        _pedal(d, h, t0, 20)
        if stim.control.policy.reflex.withdrawals:
            stop = S.mdiff(S.ticks_us(), t_ev) // 1000
            break
    assert stop is not None, "no withdrawal"
    assert 1500 <= stop <= 4000, stop  # after the response's latency, on its rise
    n = b.stim.count
    _pedal(d, h, t0, 1000)
    assert b.stim.count <= n + 1  # off (a pulse already due may finish)


def test_quiet_riding_sweat_drift_and_peeling_never_stop():
    b, d, stim, h, rig = _cycling_device([0, 1, 2, 3])
    t0 = S.ticks_us()
    _skin(rig, SKIN_AREA, 0b0100, 700)  # one electrode lifting at an edge
    _pedal(d, h, t0, 15000)
    assert stim.control.policy.reflex.withdrawals == 0
    # without reflex_z the reflex reads no impedance: the same response passes
    b, d, stim, h, rig = _cycling_device(None)
    t0 = S.ticks_us()
    _pedal(d, h, t0, 5000)
    _skin(rig, SKIN_SCR, 0b1111, 1000)
    _pedal(d, h, t0, 5000)
    assert stim.control.policy.reflex.withdrawals == 0


def test_a_breakdown_under_one_electrode_stops_alone():
    b, d, stim, h, rig = _cycling_device([0, 1, 2, 3])
    t0 = S.ticks_us()
    _pedal(d, h, t0, 5000)
    _skin(rig, SKIN_BREAKDOWN, 0b0001, 400)  # a drop one electrode alone may show: not enough
    _pedal(d, h, t0, 3000)
    assert stim.control.policy.reflex.withdrawals == 0
    _skin(rig, SKIN_BREAKDOWN, 0b0010, 750)
    t_ev = S.ticks_us()
    stop = None
    for _ in range(100):
        _pedal(d, h, t0, 20)
        if stim.control.policy.reflex.withdrawals:
            stop = S.mdiff(S.ticks_us(), t_ev) // 1000
            break
    assert stop is not None and stop <= 1100, stop  # within the next burst on that channel


def test_reflex_z_refused_when_malformed():
    for bad in ([0, 1, 2, 3, 0], [9], "0", [True]):
        b, d, stim, h = S.armed_device(channels=CH4)
        why = stim.control.set_model({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "reflex": 1,
                                                                      "reflex_inputs": [0, 1, 2, 3], "reflex_z": bad}})
        assert why and "reflex_z" in why, (bad, why)
    b, d, stim, h = S.armed_device(channels=CH4)
    why = stim.control.set_model({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "reflex_z": [0]}})
    assert why and "reflex=1" in why, why
