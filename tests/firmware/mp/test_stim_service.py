# The stimulation feature in a whole Device on a fake board (register-level AFE model +
# sim stimulator), on a virtual clock, driven by real encoded request frames: every
# safety behaviour of DESIGN.md (1-11) end to end, 12 as far as the feature goes
# (privileged requests refused without an auth module), and no allocation per pulse.
import stim_testlib as S

import gc
import struct
from array import array

from garmentfw import limits as L
from garmentfw import budget, wire
from garmentfw.sim.rig_stim import RIG_PULSE_LEN, attach
from garmentfw.framing import Deframer, Framer
from garmentfw.pulse_report import FLUSH_US, PULSES_PER_PACKET

PRIVILEGED = {
    wire.T_CALIB_SET: S.calib_body(0),
    wire.T_ARM: b"",
    wire.T_DISARM: b"",
    wire.T_FAULT_RESET: b"",
    wire.T_STIM_TEST: S.test_body(0, 10000),
    wire.T_SET_LIMITS: L.Limits().pack(),
    wire.T_CRANK: struct.pack("<HH", 100, 6000),
    wire.T_ACTIVATION: struct.pack("<BH", 1, 4096),
}
OPEN = {wire.T_ESTOP: b"", wire.T_STIM_STATE: b"", wire.T_CALIB_GET: b"\0", wire.T_GET_LIMITS: b""}


def _state(h):
    t, b = h.ok(wire.T_STIM_STATE)
    assert t == wire.R_STIM_STATE
    return struct.unpack(wire.STIM_STATE_FMT, b)


def _proportional(stim, deadband=0.0):
    assert stim.control.set_model({"preset": "proportional", "params": {"gain": 1.0, "deadband": deadband}}) is None


def _ch_pulses(h, ch):
    return [p for p in h.pulses() if p[1] == ch]


# ---- 12 and the plumbing -------------------------------------------------------------
def test_privileged_requests_need_an_authenticated_session():
    b, d, stim, h = S.make_device(auth=False)
    flags = {t: v[2] for t, v in stim.handlers().items()}
    assert {t for t in flags if flags[t]} == set(PRIVILEGED), flags
    assert {t for t in flags if not flags[t]} == set(OPEN), flags
    for t, body in PRIVILEGED.items():
        code, msg = h.refused(t, body)
        assert code == wire.E_UNAUTHORIZED, (t, code, msg)
    for t, body in OPEN.items():
        h.ok(t, body)
    assert _state(h)[0] == wire.SS_FAULT  # the E-stop needed no session
    assert b.stim.count == 0


def test_power_up_forces_everything_off_and_safe_off():
    b = S.Board(n_stim=4)
    b.stim.enable()  # whatever the driver was left in
    from garmentfw.device import Device

    d = Device(b)
    stim = S.add_stim(d, b)
    assert not b.stim.enabled and b.stim.all_offs >= 1
    assert stim.sup.state == wire.SS_IDLE and stim.engine.active_mask == 0
    d.auth = S.AcceptAll()
    h = S.Host(d, b)
    st = _state(h)
    assert st[:4] == (wire.SS_IDLE, wire.FAULT_NONE, 0, 0) and st[4:] == (0,) * 8
    # the app's exception path
    S.run(d, h, 20)
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    h.ok(wire.T_ARM)
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 200)
    assert b.stim.count > 0 and b.stim.enabled
    stim.safe_off("test")
    assert not b.stim.enabled and stim.engine.active_mask == 0
    assert stim.sup.state == wire.SS_FAULT and stim.sup.fault == wire.FAULT_INTERNAL


def test_an_error_inside_the_stimulation_tick_leaves_outputs_off():
    b, d, stim, h = S.armed_device()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 200)
    n = b.stim.count
    assert n > 0

    def broken(ch):
        raise RuntimeError("ADC gone")

    b.stim.load_mv = broken
    S.run(d, h, 200)
    assert b.stim.count == n and not b.stim.enabled
    assert stim.sup.fault == wire.FAULT_INTERNAL


def test_periodic_work_runs_every_period_and_pulses_keep_their_time():
    # Loop passes every 100 us (an idle MCU loop): the supervisor's checks, the control
    # stage and R_PULSES run on the first pass after each budget.PERIOD_MS only (4 ms:
    # 100 of 400 ms, where the old once-a-ms gate ran 400); the pulse engine runs on
    # every pass while a channel is active, so pulses come within one pass of due.
    b, d, stim, h = S.armed_device()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    h.ok(wire.T_STIM_TEST, S.test_body(1, 20000, dur=5000))
    S.run(d, h, 100, step_us=100)
    t0 = stim.ticks
    n0 = b.stim.count
    ms0 = S.ticks_ms()
    S.run(d, h, 400, step_us=100)
    ms = S.ticks_diff(S.ticks_ms(), ms0)  # 400 ms and the engine's waits inside bursts
    p = budget.PERIOD_MS
    assert ms // p - 5 <= stim.ticks - t0 <= ms // p + 1, (stim.ticks - t0, ms)  # of 4000 passes
    got = [b.stim.last(k) for k in range(b.stim.count - n0)]
    got.reverse()
    t_ch0 = [p[0] for p in got if p[1] == 0]
    assert len(t_ch0) >= 11, got
    for a, c in zip(t_ch0, t_ch0[1:]):
        assert 33333 - 100 <= S.mdiff(c, a) <= 33333 + 100, (a, c)  # 30 Hz, one pass late at most
    # no allocation on the passes between periodic ticks either (the engine alone)
    h.collect()
    d._link_write = lambda buf, off, n: n
    gc.collect()
    n1 = b.stim.count
    before = gc.mem_alloc()
    for _ in range(2000):
        S.advance_us(100)
        d.last_ping_ms = S.ticks_ms()  # a live host
        d.step()
    used = gc.mem_alloc() - before
    assert b.stim.count - n1 >= 5 and used == 0, (b.stim.count - n1, used)
    # an error in the engine on a pass between two periodic ticks: outputs off, latched
    def broken(ch):
        raise RuntimeError("ADC gone")

    b.stim.load_mv = broken
    S.run(d, h, 100, step_us=100)
    assert not b.stim.enabled and stim.sup.fault == wire.FAULT_INTERNAL


# ---- 1 -------------------------------------------------------------------------------
def test_output_zero_until_calibration_arm_and_model():
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    code, msg = h.refused(wire.T_ARM)
    assert code == wire.E_BAD_STATE and "calibrat" in msg, msg
    code, msg = h.refused(wire.T_STIM_TEST, S.test_body(0, 10000))
    assert code == wire.E_BAD_STATE, msg  # no calibration
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    h.ok(wire.T_CALIB_SET, S.calib_body(1))
    assert _state(h)[0] == wire.SS_CALIBRATED
    code, msg = h.refused(wire.T_STIM_TEST, S.test_body(0, 10000))
    assert code == wire.E_BAD_STATE and "T_ARM" in msg, msg  # calibrated but not armed
    _proportional(stim)
    stim.control.set_activation(array("i", [4096, 4096]))
    S.run(d, h, 300)
    assert b.stim.count == 0  # a model and activations, but not armed
    stim.control.clear_model()
    h.ok(wire.T_ARM)
    assert b.stim.enabled  # the output-enable follows the arm
    stim.control.set_activation(array("i", [4096, 4096]))
    S.run(d, h, 300)
    assert b.stim.count == 0  # armed, but no verified model: the closed loop stays off
    # a test train needs calibration + arm, no model; it ramps from zero
    h.ok(wire.T_STIM_TEST, S.test_body(1, 15000, dur=400))
    S.run(d, h, 600)
    ps = h.pulses()
    assert ps and all(p[1] == 1 for p in ps) and ps[0][2] < 1000 and max(p[2] for p in ps) <= 15000
    n = b.stim.count
    S.run(d, h, 300)
    assert b.stim.count == n  # the train ended after duration_ms
    # with a verified model the closed loop drives the armed channels, ramping from zero
    _proportional(stim)
    n1 = b.stim.per_ch[1]
    stim.control.set_activation(array("i", [4096, 0]))
    S.run(d, h, 400)
    ps = _ch_pulses(h, 0)
    assert len(ps) >= 10 and ps[0][2] < 1000 and ps[-1][2] > ps[0][2]
    assert b.stim.per_ch[1] == n1  # channel 1: activation 0 -> off
    assert _state(h)[0] == wire.SS_STIMULATING


# ---- 2 -------------------------------------------------------------------------------
def test_heartbeat_loss_zeroes_within_100_ms_and_latches_until_rearmed():
    b, d, stim, h = S.armed_device()
    _proportional(stim)
    stim.control.set_activation(array("i", [4096, 4096]))
    S.run(d, h, 500)
    assert b.stim.count > 20
    h.ping()
    t_ping = S.ticks_us()
    S.run(d, h, 1000, ping_every_ms=0)  # the host goes silent
    st = _state(h)
    assert st[0] == wire.SS_FAULT and st[1] == wire.FAULT_HEARTBEAT and st[4:] == (0,) * 8
    last = b.stim.last()[0]
    late = S.mdiff(last, t_ping)
    assert late <= (500 + 100) * 1000, late  # the last pulse within timeout + 100 ms
    assert late > 400 * 1000, late  # ... and it really was stimulating until then
    assert not b.stim.enabled
    # pings return: still latched
    n = b.stim.count
    stim.control.set_activation(array("i", [4096, 4096]))
    S.run(d, h, 500)
    assert b.stim.count == n and stim.sup.fault == wire.FAULT_HEARTBEAT
    # re-arming clears it (no T_FAULT_RESET needed for a heartbeat fault)
    h.ok(wire.T_ARM)
    stim.control.set_activation(array("i", [4096, 4096]))
    S.run(d, h, 200)
    assert b.stim.count > n and stim.sup.fault == wire.FAULT_NONE


def test_acquisition_reconfiguration_disarms():
    b, d, stim, h = S.armed_device()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 200)
    h.ok(wire.T_SET_CONFIG, struct.pack(wire.CONFIG_FMT, 1000, 8, 50, wire.STREAM_FILTERED, 1, 1))
    assert not b.stim.enabled and stim.sup.state == wire.SS_CALIBRATED and stim.sup.fault == wire.FAULT_NONE
    n = b.stim.count
    S.run(d, h, 200)
    assert b.stim.count == n
    h.ok(wire.T_ARM)  # and it works at the new rate (thresholds re-derived for 1 kHz)
    assert stim.guard.rail_n == 5 and stim.guard.flat_n == 100
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 200)
    assert b.stim.count > n and stim.sup.fault == wire.FAULT_NONE


def test_link_loss_stops_stimulation_at_once():
    b, d, stim, h = S.armed_device()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 300)
    b.link.dropped = True
    d.step()
    assert not b.stim.enabled and stim.sup.fault == wire.FAULT_HEARTBEAT
    n = b.stim.count
    S.run(d, h, 300)
    assert b.stim.count == n


# ---- 3 -------------------------------------------------------------------------------
def test_estop_zeroes_in_the_same_pass_and_latches():
    b, d, stim, h = S.armed_device()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    h.ok(wire.T_STIM_TEST, S.test_body(1, 20000, dur=5000))
    S.run(d, h, 400)
    assert stim.engine.active_mask == 0b11 and b.stim.enabled
    t0 = S.ticks_us()
    seq = h.send(wire.T_ESTOP)  # handled inside the deframer feed: no loop pass, no time
    assert not b.stim.enabled and stim.engine.active_mask == 0 and S.ticks_us() == t0
    t, body = h.request(wire.T_STIM_STATE)
    st = struct.unpack(wire.STIM_STATE_FMT, body)
    assert st[0] == wire.SS_FAULT and st[1] == wire.FAULT_ESTOP and st[4:] == (0,) * 8
    replies = [x for x in h.got if x[0] == wire.R_STIM_STATE and x[2][0] | (x[2][1] << 8) == seq]
    assert replies and struct.unpack(wire.STIM_STATE_FMT, replies[0][2][2:])[1] == wire.FAULT_ESTOP
    n = b.stim.count
    last = b.stim.last()[0]
    assert S.mdiff(t0, last) >= 0  # no pulse after the E-stop
    S.run(d, h, 300)
    assert b.stim.count == n
    code, msg = h.refused(wire.T_ARM)
    assert code == wire.E_BAD_STATE and "T_FAULT_RESET" in msg
    h.ok(wire.T_FAULT_RESET)
    h.ok(wire.T_ARM)
    # the button (HAL hook): the driver cuts the output at once; the service's next periodic
    # tick (at most budget.PERIOD_MS later, well inside the button's 10 ms) latches the fault
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 100)
    b.stim.press_estop()
    assert not b.stim.enabled
    waited = 0
    while stim.sup.fault != wire.FAULT_ESTOP and waited < budget.PERIOD_MS:
        S.advance_us(1000)
        d.step()
        waited += 1
    assert stim.sup.fault == wire.FAULT_ESTOP and stim.engine.active_mask == 0, waited
    assert not b.stim.enabled


# ---- 4 -------------------------------------------------------------------------------
def test_out_of_range_requests_refused_never_clamped():
    b, d, stim, h = S.armed_device()
    lim0 = h.ok(wire.T_GET_LIMITS)[1]
    code, msg = h.refused(wire.T_STIM_TEST, S.test_body(0, 30001))
    assert code == wire.E_OUT_OF_RANGE and "max_ua" in msg, msg
    code, msg = h.refused(wire.T_STIM_TEST, S.test_body(0, 20000, width=800))
    assert code == wire.E_OUT_OF_RANGE and "width_us" in msg, msg
    code, msg = h.refused(wire.T_STIM_TEST, S.test_body(0, 20000, freq=200))
    assert code == wire.E_OUT_OF_RANGE and "freq_hz" in msg, msg
    S.run(d, h, 200)
    assert b.stim.count == 0  # nothing ran at a reduced level instead
    h.ok(wire.T_DISARM)
    bad = L.Limits(max_ua=L.HARD_MAX_UA + 1).pack()
    code, msg = h.refused(wire.T_SET_LIMITS, bad)
    assert code == wire.E_OUT_OF_RANGE and "max_ua" in msg, msg
    bad = L.Limits(max_charge_nc=L.HARD_MAX_CHARGE_NC + 1).pack()
    assert h.refused(wire.T_SET_LIMITS, bad)[0] == wire.E_OUT_OF_RANGE
    assert h.ok(wire.T_GET_LIMITS)[1] == lim0
    code, msg = h.refused(wire.T_CALIB_SET, S.calib_body(2, mx=60000, area=9000))
    assert code == wire.E_OUT_OF_RANGE and "max_ua" in msg, msg
    t, body = h.ok(wire.T_CALIB_GET, b"\x02")
    assert struct.unpack(wire.CALIB_FMT, body) == (2, 0, 0, 0, 0, 0, 0)
    code, msg = h.refused(wire.T_CALIB_GET, b"\x05")
    assert code == wire.E_OUT_OF_RANGE
    # armed: limits and calibration cannot change under the user
    h.ok(wire.T_ARM)
    assert h.refused(wire.T_SET_LIMITS, L.Limits().pack())[0] == wire.E_BAD_STATE
    assert h.refused(wire.T_CALIB_SET, S.calib_body(0))[0] == wire.E_BAD_STATE
    # model outputs are clipped to [motor threshold, max comfortable] (the one allowed clip)
    assert stim.control.set_model({"preset": "off"}) is None
    stim.control.set_targets(array("i", [1, 10**6, 0, 0]))
    S.run(d, h, 2500)
    assert max(p[2] for p in _ch_pulses(h, 0)) == 10000  # motor threshold of channel 0
    assert max(p[2] for p in _ch_pulses(h, 1)) == 30000  # max comfortable of channel 1


# ---- 5 and the R_PULSES telemetry ----------------------------------------------------
def test_every_pulse_reported_biphasic_batched_and_flushed_within_20_ms():
    b, d, stim, h = S.armed_device(channels=(0, 1, 2))
    for ch in range(3):
        h.ok(wire.T_STIM_TEST, S.test_body(ch, 20000, dur=3000))
    worst = 0
    for _ in range(1500):
        S.advance_us(1000)
        if _ % 100 == 0:
            h.ping()
        d.step()
        e = stim.engine
        if e.pending():
            age = e.oldest_age_us(S.ticks_us())
            worst = max(worst, age)
    assert worst < FLUSH_US + 1000, worst
    stim.pulses.flush(S.ticks_us(), True)
    reported = h.pulses()
    drv = b.stim
    assert len(reported) == drv.count > 120
    for k in range(min(drv.count, drv.cap)):
        t, ch, a1, w1, ip, a2, w2, idx = drv.last(k)
        rep = reported[len(reported) - 1 - k]
        assert rep == (t, ch, a2, w1, ip), (rep, drv.last(k))
        assert a1 == -a2 and w1 == w2 == 300 and ip == L.INTERPHASE_US  # (5) biphasic, balanced
    assert drv.net_charge_pc == 0
    sizes = [b2[0] for b2 in h.of_type(wire.R_PULSES)]
    assert max(sizes) <= PULSES_PER_PACKET and min(sizes) >= 1


# ---- 6 -------------------------------------------------------------------------------
def test_slew_limited_rise_immediate_stop():
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    lim = L.Limits(slew_ua_per_s=40000)
    h.ok(wire.T_SET_LIMITS, lim.pack())
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    h.ok(wire.T_ARM)
    t0 = S.ticks_us()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 30000, dur=5000))
    S.run(d, h, 1200, step_us=700)
    ps = h.pulses()
    prev_t, prev_a = t0, 0
    for t, ch, a, w, ip in ps:
        assert a - prev_a <= 40000 * S.mdiff(t, prev_t) // 1000000, (a, prev_a)
        prev_t, prev_a = t, a
    assert prev_a == 30000
    n = b.stim.count
    h.ok(wire.T_DISARM)  # stop: immediate
    assert not b.stim.enabled and stim.engine.active_mask == 0
    S.run(d, h, 300)
    assert b.stim.count == n


# ---- 7 -------------------------------------------------------------------------------
class _FakeClient:
    def __init__(self):
        self.data = bytearray()

    def write(self, buf, off, n):
        self.data.extend(memoryview(buf)[off:off + n])
        return n


class _FakeRig:
    """What sim_rig_stim.attach needs of a RigPort: deframer, framer, client, errors."""

    def __init__(self):
        self.client = _FakeClient()
        self.framer = Framer()
        self.errors = 0
        self.other = []
        self.deframer = Deframer(self._on_packet, self._on_error)

    def _on_packet(self, ptype, seq, pkt, n):
        self.other.append(ptype)

    def _on_error(self, code):
        self.errors += 1

    def feed(self, ptype, body):
        f = Framer()
        pkt = Framer.packet()
        pkt[3:3 + len(body)] = body
        n = f.encode(pkt, ptype, len(body))
        self.deframer.feed(f.out, n)


def test_electrode_off_zeroes_that_channel_within_one_pulse():
    b, d, stim, h = S.armed_device()
    rig = _FakeRig()
    attach(rig, b.stim)
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    h.ok(wire.T_STIM_TEST, S.test_body(1, 20000, dur=5000))
    S.run(d, h, 500)
    n1 = b.stim.per_ch[1]
    n0 = b.stim.per_ch[0]
    rig.feed(wire.RIG_IMPEDANCE, struct.pack(wire.RIG_IMPEDANCE_FMT, 1, 1000000))  # peeled off
    assert b.stim.source.rs[1] == 1000000 and b.stim.source.rp[1] == 0
    S.run(d, h, 1000)
    n1 += 1  # the pulse that measured it: the source at its compliance
    assert b.stim.per_ch[1] == n1  # not one more pulse on channel 1
    assert b.stim.per_ch[0] >= n0 + 29  # channel 0 goes on at 30 Hz
    st = _state(h)
    assert st[1] == wire.FAULT_ELECTRODE and st[2] == 0b01 and st[3] == 0b10 and st[5] == 0
    rig.feed(wire.RIG_IMPEDANCE, struct.pack(wire.RIG_IMPEDANCE_FMT, 1, 1200))  # back on
    S.run(d, h, 300)
    assert b.stim.per_ch[1] == n1  # latched
    h.ok(wire.T_FAULT_RESET)
    h.ok(wire.T_ARM)
    assert _state(h)[2] == 0b11
    # other rig messages still reach the rig port; every pulse went to the rig too
    rig.feed(wire.RIG_LEAD_OFF, b"\0\0\0")
    assert rig.other == [wire.RIG_LEAD_OFF]
    got = []
    Deframer(lambda t, s, p, n: got.append((t, bytes(p[3:3 + n]))), lambda c: None).feed(rig.client.data, len(rig.client.data))
    rp = [struct.unpack(wire.RIG_PULSE_FMT, body) for t, body in got if t == wire.RIG_PULSE]
    assert all(len(body) == RIG_PULSE_LEN for t, body in got)
    assert len(rp) == b.stim.count - 0 and rp[-1][0] == b.stim.last()[0]
    assert rp[-1][1] == b.stim.last()[7] > 0  # the AFE index of the artefact's first sample


def test_sim_rig_battery_and_estop_button_messages():
    b, d, stim, h = S.armed_device()
    b.battery_mv = lambda: b.stim.battery_mv  # as boards/sim.py reads it
    rig = _FakeRig()
    attach(rig, b.stim)
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 200)
    rig.feed(0xA5, struct.pack("<H", 3200))  # RIG_BATTERY
    assert b.stim.battery_mv == 3200
    S.run(d, h, 1000)
    assert stim.sup.fault == wire.FAULT_BATTERY and not b.stim.enabled
    rig.feed(0xA5, struct.pack("<H", 4100))
    h.ok(wire.T_FAULT_RESET)
    h.ok(wire.T_ARM)
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 200)
    n = b.stim.count
    rig.feed(0xA6, b"")  # RIG_ESTOP: the button
    assert not b.stim.enabled  # cut by the "hardware" at once
    S.run(d, h, 100)
    assert stim.sup.fault == wire.FAULT_ESTOP and b.stim.count == n
    assert rig.other == [] and rig.errors == 0


# ---- 8 -------------------------------------------------------------------------------
def _stimulating():
    b, d, stim, h = S.armed_device()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=10000))
    S.run(d, h, 300)
    assert b.stim.count > 5
    return b, d, stim, h


def test_emg_lead_off_zeroes_everything_and_latches():
    b, d, stim, h = _stimulating()
    b.chip.set_lead_off(2, True, False)
    S.run(d, h, 50)
    st = _state(h)
    assert st[0] == wire.SS_FAULT and st[1] == wire.FAULT_EMG_RAIL, st
    assert not b.stim.enabled
    n = b.stim.count
    S.run(d, h, 200)
    assert b.stim.count == n
    code, msg = h.refused(wire.T_FAULT_RESET)
    assert code == wire.E_BAD_STATE, msg  # the electrode is still off
    b.chip.set_lead_off(2, False, False)
    S.run(d, h, 50)
    h.ok(wire.T_FAULT_RESET)
    h.ok(wire.T_ARM)


def test_emg_at_the_rail_zeroes_everything():
    b, d, stim, h = _stimulating()
    nv = array("i", [0] * 8 * 40)
    for i in range(40):
        nv[i * 8 + 3] = 400000000  # far beyond the +-187 mV input range at gain 24
        nv[i * 8] = 1000 * (i % 7)
    b.chip.feed(nv, 40)
    S.run(d, h, 50)
    assert stim.sup.fault == wire.FAULT_EMG_RAIL and not b.stim.enabled
    assert any(b"rail" in body and b"0x08" in body for body in h.of_type(wire.R_EVENT))


def test_dead_flat_zero_emg_zeroes_everything():
    b, d, stim, h = _stimulating()
    nv = array("i", [0] * 8 * 400)
    for i in range(400):
        for c in range(8):
            nv[i * 8 + c] = 0 if c == 1 else 2000 * ((i * 7 + c) % 5 - 2)
    b.chip.feed(nv, 150)  # 75 ms of an exact-zero channel: not yet
    S.run(d, h, 75)
    assert stim.sup.fault == wire.FAULT_NONE, stim.sup.fault
    b.chip.feed(nv, 400)  # 200 ms: dead
    S.run(d, h, 200)
    assert stim.sup.fault == wire.FAULT_EMG_RAIL and not b.stim.enabled


def test_a_stuck_nonzero_code_is_dead_emg():
    # a channel frozen at one code that is not 0 (a stuck ADC, a shorted input) is dead too
    b, d, stim, h = _stimulating()
    nv = array("i", [0] * 8 * 400)
    for i in range(400):
        for c in range(8):
            nv[i * 8 + c] = 1234567 if c == 2 else 2000 * ((i * 7 + c) % 5 - 2)
    b.chip.feed(nv, 150)  # 75 ms: not yet
    S.run(d, h, 75)
    assert stim.sup.fault == wire.FAULT_NONE, stim.sup.fault
    b.chip.feed(nv, 400)  # 200 ms: dead
    S.run(d, h, 200)
    assert stim.sup.fault == wire.FAULT_EMG_RAIL and not b.stim.enabled, stim.sup.fault


def test_arming_refused_while_emg_unusable():
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    b.chip.set_lead_off(0, True, False)
    S.run(d, h, 20)
    code, msg = h.refused(wire.T_ARM)
    assert code == wire.E_BAD_STATE and "EMG" in msg, msg


# ---- 9 -------------------------------------------------------------------------------
def test_density_and_infeasible_timing_refused_over_the_wire():
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    # 30 mA, 300 us, 40 Hz on 1 cm^2: 4.6 mA/cm^2 rms
    code, msg = h.refused(wire.T_CALIB_SET, S.calib_body(0, area=100))
    assert code == wire.E_OUT_OF_RANGE and "density" in msg, msg
    # 30 Hz bursts of 2070 us pulses: three and the 24 ms blank window fit in 33.3 ms, four not
    h.ok(wire.T_SET_LIMITS, L.Limits(max_width_us=1000).pack())
    for ch in range(3):
        h.ok(wire.T_CALIB_SET, S.calib_body(ch, mx=20000, width=1000))
    code, msg = h.refused(wire.T_CALIB_SET, S.calib_body(3, mx=20000, width=1000))
    assert code == wire.E_OUT_OF_RANGE and "infeasible timing" in msg, msg
    h.ok(wire.T_SET_LIMITS, L.Limits(max_width_us=1000, blank_us=20000).pack())
    h.ok(wire.T_CALIB_SET, S.calib_body(3, mx=20000, width=1000))
    # new limits that would make the stored calibrations infeasible are refused too
    code, msg = h.refused(wire.T_SET_LIMITS, L.Limits(max_width_us=1000).pack())
    assert code == wire.E_OUT_OF_RANGE and "infeasible" in msg, msg
    # a test train breaking the density rule on the channel's declared area
    h.ok(wire.T_CALIB_SET, S.calib_body(0, mx=20000, area=150, width=100))
    h.ok(wire.T_ARM)
    code, msg = h.refused(wire.T_STIM_TEST, S.test_body(0, 20000, width=500))
    assert code == wire.E_OUT_OF_RANGE and "density" in msg, msg


# ---- 10 ------------------------------------------------------------------------------
def test_session_cap():
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    h.ok(wire.T_SET_LIMITS, L.Limits(session_s=1).pack())
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    h.ok(wire.T_ARM)
    t0 = S.ticks_us()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 1500)
    assert stim.sup.fault == wire.FAULT_SESSION and not b.stim.enabled
    assert 900000 < S.mdiff(b.stim.last()[0], t0) <= 1000000


def test_rolling_dose_cap():
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    h.ok(wire.T_SET_LIMITS, L.Limits(dose_limit=50, slew_ua_per_s=1000000).pack())
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    h.ok(wire.T_ARM)
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))  # 6 uC per pulse at full amplitude
    S.run(d, h, 1000)
    assert stim.sup.fault == wire.FAULT_DOSE and not b.stim.enabled
    total_pc = sum(p[2] * p[3] for p in h.pulses())
    assert 50 * 10**6 <= total_pc < 56 * 10**6, total_pc  # it stopped at the pulse that reached 50 uC
    h.ok(wire.T_FAULT_RESET)
    code, msg = h.refused(wire.T_ARM)
    assert code == wire.E_BAD_STATE and "dose" in msg, msg


def test_low_battery_turns_stimulation_off():
    b, d, stim, h = _stimulating()
    b.batt = 3300
    S.run(d, h, 1000)
    assert stim.sup.fault == wire.FAULT_BATTERY and not b.stim.enabled
    assert h.refused(wire.T_FAULT_RESET)[0] == wire.E_BAD_STATE
    b.batt = 3900
    h.ok(wire.T_FAULT_RESET)
    h.ok(wire.T_ARM)


# ---- 11 ------------------------------------------------------------------------------
class _Capture:
    """A window stage stand-in: the largest filtered |value| per channel after a warm-up."""

    def __init__(self):
        self.peak = array("i", bytes(32))
        self.on = False
        self.samples = 0

    def configure(self, n_ch, fs, filters):
        pass

    def on_filtered(self, block, n, first):
        if not self.on:
            return
        self.samples += n
        S.track_peak(self.peak, block, n)


def _artefact_peak(blank):
    b, d, stim, h = S.armed_device()
    cap = _Capture()
    d.set_stages(stim.artefacts, stim.guard, cap)
    if not blank:
        stim.engine.blanker = None  # the control: the same pulses, no blanking
    S.run(d, h, 300)  # the filters settle
    h.ok(wire.T_STIM_TEST, S.test_body(0, 30000, dur=5000))
    S.run(d, h, 300)
    cap.on = True
    n = b.stim.count
    S.run(d, h, 800)
    assert b.stim.count - n >= 20 and cap.samples >= 1500
    return cap.peak


def test_stimulation_artefacts_blanked_before_filtering():
    raw = _artefact_peak(False)
    blanked = _artefact_peak(True)
    # 30 mA couples ~3 mV into EMG input 0 (~130000 codes): unblanked it rings through
    # the filters; blanked, the decoder sees the noise floor (a few codes)
    assert raw[0] > 50000 and raw[1] > 10000, list(raw)
    assert max(blanked) < 200, list(blanked)


# ---- allocation ----------------------------------------------------------------------
def test_no_allocation_per_pulse_in_the_device_loop():
    b, d, stim, h = S.armed_device(channels=(0, 1, 2, 3))
    for ch in range(4):
        h.ok(wire.T_STIM_TEST, S.test_body(ch, 25000, dur=30000))
    S.run(d, h, 600)
    h.collect()

    def null_write(buf, off, n):
        return n

    d._link_write = null_write
    assert stim.sup.state == wire.SS_STIMULATING
    n0 = b.stim.count
    packets0 = len(h.got)
    gc.collect()
    before = gc.mem_alloc()
    for i in range(500):
        S.advance_us(1000)
        d.last_ping_ms = S.ticks_ms()  # a live host (T_PING's own reply is not the stim path)
        d.step()
    used = gc.mem_alloc() - before
    assert b.stim.count - n0 >= 50, b.stim.count - n0  # 4 ch x 30 Hz x 0.5 s
    assert used == 0, used
    assert stim.sup.state == wire.SS_STIMULATING and packets0 == len(h.got)


# ---- persistence, the decoder hook, the crank ----------------------------------------
def test_limits_and_calibration_survive_a_reboot_disarmed():
    root = S.tmpdir("feature")
    b, d, stim, h = S.make_device(store_root=root)
    S.run(d, h, 20)
    lim = L.Limits(max_ua=45000, slew_ua_per_s=30000, heartbeat_ms=300)
    h.ok(wire.T_SET_LIMITS, lim.pack())
    h.ok(wire.T_CALIB_SET, S.calib_body(1, mx=42000))
    h.ok(wire.T_ARM)
    b2, d2, stim2, h2 = S.make_device(store_root=root)  # power cycle
    assert h2.ok(wire.T_GET_LIMITS)[1] == lim.pack()
    assert h2.ok(wire.T_CALIB_GET, b"\x01")[1] == S.calib_body(1, mx=42000)
    st = _state(h2)
    assert st[0] == wire.SS_CALIBRATED and st[2] == 0 and not b2.stim.enabled  # never armed at boot


class _Net:
    def __init__(self, stim, scale=1.0 / 4096, classifier=False):
        self.stim = stim
        self.scale = scale
        self.classifier = classifier


def test_follows_the_decoder_model_and_its_outputs():
    b, d, stim, h = S.armed_device()
    # the model slot's notification (model_slot.ModelSlot.subscribe)
    stim.on_model(_Net({"preset": "threshold", "params": {"level": 0.5, "inputs": [-1, 2]}}, classifier=True))
    S.run(d, h, 10)
    assert stim.sup.model_ok and stim.control.policy.preset == "threshold"
    out = array("i", [0, 0, 0])
    stim.control.on_decoder(2, out, 3)  # class 2 decided: channel 1 follows it
    S.run(d, h, 300)
    assert _ch_pulses(h, 1) and not _ch_pulses(h, 0)
    stim.control.on_decoder(-1, out, 3)  # rejected: off at once
    n = b.stim.count
    S.run(d, h, 200)
    assert b.stim.count == n
    # the model is deactivated: the closed loop is off even if outputs still arrive
    stim.on_model(None)
    S.run(d, h, 10)
    assert not stim.sup.model_ok
    stim.control.on_decoder(2, out, 3)
    S.run(d, h, 200)
    assert b.stim.count == n
    # a bad stimulation section is refused loudly and the loop stays off
    stim.on_model(_Net({"preset": "cycling", "params": {}}))
    S.run(d, h, 10)
    assert not stim.sup.model_ok
    assert any(b"cycling" in body for body in h.of_type(wire.R_EVENT))
    # regression outputs: out * scale is the activation (0.01 per LSB: 100 = 1.0)
    stim.on_model(_Net({"preset": "proportional", "params": {"deadband": 0}}, scale=0.01))
    S.run(d, h, 10)
    stim.control.on_decoder(0, array("i", [50, 200]), 2)
    assert list(stim.control.act.acts[:2]) == [2048, 4096]


def test_cycling_follows_the_crank_sensor():
    b, d, stim, h = S.armed_device()
    assert stim.control.set_model({"preset": "cycling", "params": {"phase_on": [0, 180], "phase_off": [90, 270], "delay_ms": 0}}) is None
    # 60 rpm = 360 deg/s from angle 0 now: channel 0 on for 250 ms, then channel 1
    t0 = S.ticks_us()
    h.ok(wire.T_CRANK, struct.pack("<HH", 0, 6000))
    for _ in range(40):  # the sensor reports every 50 ms
        S.run(d, h, 50)
        ang = S.mdiff(S.ticks_us(), t0) * 36 // 1000 % 36000
        h.ok(wire.T_CRANK, struct.pack("<HH", ang, 6000))
    ps = h.pulses()
    assert len(_ch_pulses(h, 0)) >= 15 and len(_ch_pulses(h, 1)) >= 15
    for t, ch, a, w, ip in ps:  # every pulse inside its channel's window (+-2 deg)
        deg = S.mdiff(t, t0) * 36 // 100000 % 360
        assert ch in (0, 1), ch
        rel = (deg - 180 * ch) % 360
        assert rel < 92 or rel > 357, (ch, deg)
    assert h.refused(wire.T_CRANK, struct.pack("<HH", 36000, 0))[0] == wire.E_OUT_OF_RANGE
    # the crank stops reporting: off after the policy's timeout (500 ms)
    S.run(d, h, 600)
    n = b.stim.count
    S.run(d, h, 300)
    assert b.stim.count == n


def test_a_width_the_board_cannot_measure_is_refused():
    # a board whose electrode reading needs 60 us of phase: narrower trains are refused
    from garmentfw.device import Device

    b = S.Board(n_stim=4)
    b.stim.min_width_us = 60
    d = Device(b)
    S.add_stim(d, b)
    d.auth = S.AcceptAll()
    h = S.Host(d, b)
    S.run(d, h, 20)
    h.ok(wire.T_CALIB_SET, S.calib_body(0, width=40))
    h.ping()
    code, msg = h.refused(wire.T_ARM)
    assert code == wire.E_OUT_OF_RANGE and "width_us=40" in msg, msg
    h.ok(wire.T_CALIB_SET, S.calib_body(0, width=300))
    h.ok(wire.T_ARM)
    code, msg = h.refused(wire.T_STIM_TEST, S.test_body(0, 12000, width=40))
    assert code == wire.E_OUT_OF_RANGE and "shortest phase" in msg, msg
    h.ok(wire.T_STIM_TEST, S.test_body(0, 12000, width=60))


# ---- ages across the tick wrap ---------------------------------------------------------
def test_device_heartbeat_after_a_week_idle_across_the_wrap():
    # pinged once, idle for a week (the ping's tick now reads as "ahead"), then armed
    # without a ping: the heartbeat must still run out
    import vclock

    vclock.start(ms=vclock.PERIOD - 60000, us=vclock.PERIOD - 60000000)
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    h.ping()
    S.run(d, h, 10, ping_every_ms=0)
    S.advance_us(7 * 24 * 3600 * 1000000)
    S.run(d, h, 300, ping_every_ms=0)  # the AFE gets going again
    h.ok(wire.T_ARM)
    h.ok(wire.T_STIM_TEST, S.test_body(0, 12000, dur=20000))
    S.run(d, h, 700, ping_every_ms=0)
    assert stim.sup.fault == wire.FAULT_HEARTBEAT, (stim.sup.state, stim.sup.fault)


def test_stalled_emg_with_a_stale_tick_is_stalled():
    b, d, stim, h = S.make_device()
    S.run(d, h, 50)
    now = S.ticks_ms()
    assert stim.guard.problem(now, False) is None
    stim.guard._last_raw_ms = S.ticks_add(now, 10)  # a sample time that reads as ahead of now
    assert "no EMG samples" in (stim.guard.problem(now, False) or "")


# ---- 3: the E-stop button as a level (normally closed: pressed or wire broken = stop) ---
def test_estop_button_held_at_power_up_latches():
    b = S.Board(n_stim=4)
    b.stim.button = wire.ESTOP_PRESSED  # held while the garment powers up: no edge is ever seen
    from garmentfw.device import Device

    d = Device(b)
    stim = S.add_stim(d, b)
    d.auth = S.AcceptAll()
    h = S.Host(d, b)
    S.run(d, h, 20)
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    h.ping()
    code, msg = h.refused(wire.T_ARM)
    assert code == wire.E_BAD_STATE and "E-stop" in msg, msg
    assert stim.sup.state == wire.SS_FAULT and stim.sup.fault == wire.FAULT_ESTOP


def test_reset_and_arm_refused_while_the_button_is_held():
    b, d, stim, h = S.armed_device()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 200)
    b.stim.set_button(wire.ESTOP_PRESSED)
    S.run(d, h, 20)
    assert stim.sup.fault == wire.FAULT_ESTOP and not b.stim.enabled
    code, msg = h.refused(wire.T_FAULT_RESET)
    assert code == wire.E_BAD_STATE and "E-stop" in msg, msg
    code, msg = h.refused(wire.T_ARM)
    assert code == wire.E_BAD_STATE, msg
    b.stim.set_button(wire.ESTOP_RELEASED)
    S.run(d, h, 20)
    assert stim.sup.fault == wire.FAULT_ESTOP  # still latched after the release
    h.ok(wire.T_FAULT_RESET)
    h.ok(wire.T_ARM)


def test_a_broken_button_wire_is_a_pressed_button():
    b, d, stim, h = S.armed_device()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 200)
    n = b.stim.count
    b.stim.set_button(wire.ESTOP_BROKEN)
    S.run(d, h, 200)
    assert b.stim.count == n and stim.sup.fault == wire.FAULT_ESTOP
    code, msg = h.refused(wire.T_FAULT_RESET)
    assert code == wire.E_BAD_STATE, msg


def test_only_delivered_pulses_are_counted_reported_and_dosed():
    # the button's interlock cut the output in hardware between two loop passes: the
    # driver refuses the pulses; none may be counted, reported or added to the dose
    b, d, stim, h = S.armed_device()
    h.ok(wire.T_STIM_TEST, S.test_body(0, 20000, dur=5000))
    S.run(d, h, 200)
    h.clear()
    delivered = b.stim.count
    total = stim.engine.total
    dose = stim.sup.dose_uc * 1000000 + stim.sup._pc
    b.stim.enabled = False  # the enable line low (as the interlock does), no button edge
    S.run(d, h, 200)
    assert b.stim.count == delivered
    assert stim.engine.total == total, (stim.engine.total, total)
    assert stim.sup.dose_uc * 1000000 + stim.sup._pc == dose
    assert h.pulses() == []
    assert stim.sup.state == wire.SS_FAULT  # a refused pulse is a fault, never ignored


# ---- 2: the heartbeat timeout cannot exceed the design's 500 ms -------------------------
def test_heartbeat_timeout_above_500ms_is_refused():
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    from garmentfw import limits as L

    for ms in (501, 1000):
        lim = L.Limits(heartbeat_ms=ms)
        code, msg = h.refused(wire.T_SET_LIMITS, lim.pack())
        assert code == wire.E_OUT_OF_RANGE and "heartbeat_ms" in msg, msg
    assert stim.limits.heartbeat_ms == 500
    h.ok(wire.T_SET_LIMITS, L.Limits(heartbeat_ms=500).pack())


# ---- 4: a policy cap below the motor threshold is refused, never raised -----------------
def test_a_policy_cap_below_the_motor_threshold_is_refused():
    b, d, stim, h = S.make_device()
    S.run(d, h, 20)
    h.ok(wire.T_CALIB_SET, S.calib_body(0, motor=10000, mx=30000))
    why = stim.control.set_model({"preset": "proportional", "params": {"max_mA": 8}})  # 8 mA < 10 mA motor
    assert why is not None and "motor threshold" in why, why
    assert not stim.sup.model_ok
    # a cap that fits, then a calibration that moves the motor threshold above it
    assert stim.control.set_model({"preset": "proportional", "params": {"max_mA": 12}}) is None
    h.ok(wire.T_CALIB_SET, S.calib_body(0, motor=15000, mx=30000))
    h.ping()
    code, msg = h.refused(wire.T_ARM)
    assert code == wire.E_OUT_OF_RANGE and "motor threshold" in msg, msg


# ---- an internal fault, the reset cause, the watchdog -----------------------------------
def test_an_internal_fault_is_not_cleared_remotely():
    b, d, stim, h = S.armed_device()
    stim.safe_off("test: a bug")
    assert stim.sup.fault == wire.FAULT_INTERNAL
    code, msg = h.refused(wire.T_FAULT_RESET)
    assert code == wire.E_BAD_STATE and "restart" in msg, msg
    code, msg = h.refused(wire.T_ARM)
    assert code == wire.E_BAD_STATE, msg


def test_the_reset_cause_is_logged_at_boot():
    b, d, stim, h = S.make_device()
    S.run(d, h, 5)
    events = [bytes(x[5:]).decode() for x in h.of_type(wire.R_EVENT)]
    assert any("reset cause" in e for e in events), events


# ---- 2/12: the heartbeat belongs to the authenticated session that armed ---------------
class _Session(S.AcceptAll):
    """An authenticated session that can end (the auth service's generation/authenticated)."""

    def __init__(self):
        self.authenticated = True
        self.generation = 1


def test_ending_the_session_that_armed_disarms():
    b, d, stim, h = S.make_device()
    sess = _Session()
    d.auth = sess
    S.run(d, h, 20)
    h.ok(wire.T_CALIB_SET, S.calib_body(0))
    h.ping()
    h.ok(wire.T_ARM)
    h.ok(wire.T_STIM_TEST, S.test_body(0, 15000, dur=5000))
    S.run(d, h, 200)
    n = b.stim.count
    assert n > 0
    sess.authenticated = False  # T_AUTH_END (or the session closed): pings keep coming
    sess.generation = 2
    S.run(d, h, 200)
    assert stim.sup.state == wire.SS_FAULT and stim.sup.fault == wire.FAULT_HEARTBEAT
    assert b.stim.count <= n + 1
    # a new session (another host) does not inherit the arm either
    sess.authenticated = True
    sess.generation = 3
    h.ok(wire.T_ARM)
    S.run(d, h, 20)
    assert stim.sup.armed()
    sess.generation = 5  # the session was replaced by a new authentication
    S.run(d, h, 20)
    assert not stim.sup.armed()
