# The pulse scheduler with the sim stimulator: biphasic charge-balanced pulses (5), the
# slew limit and immediate decreases/stops (6), the impedance check before every pulse
# (7), pulse records for R_PULSES, artefact blank windows (11), no allocation per pulse.
import stim_testlib as S

import gc
import struct

from garmentfw import limits as L
from garmentfw import wire
from garmentfw.sim.stimulator import SimStimulator
from garmentfw.calibration import Calibration, CalibrationSet
from garmentfw.stim_engine import FIRST_PULSE_US, Blanker, StimEngine, wire_pack_pulse
from garmentfw.supervisor import Supervisor


def _engine(channels=(0, 1, 2, 3), slew=20000, mx=40000, **lim):
    rec = S.Recorder()
    limits = L.Limits(slew_ua_per_s=slew, **lim)
    cs = CalibrationSet(4)
    for ch in channels:
        assert cs.set(Calibration(ch, 5000, 10000, mx, 5000, 300, 30), limits) is None
    drv = SimStimulator(None, 4, clock=S.ticks_us)
    eng = None

    def zero_all():
        eng.zero_all()

    def zero_ch(ch):
        eng.zero(ch)

    sup = Supervisor(4, limits, cs, rec.on_change, zero_all, zero_ch)
    eng = StimEngine(drv, 4, sup, S.ticks_us)
    eng.set_slew(slew)
    for ch in channels:
        eng.configure(ch, 300, 40)
    assert sup.arm(S.ticks_ms(), 4000, None) is None
    sup.set_model(True)
    drv.enable()
    return eng, sup, drv, rec


def _run(eng, ms, step_us=500):
    for _ in range(ms * 1000 // step_us):
        S.advance_us(step_us)
        eng.tick(S.ticks_us())


def _pulses(drv):
    return [drv.last(k) for k in range(min(drv.count, drv.cap) - 1, -1, -1)]


def test_pulses_are_biphasic_and_charge_balanced():
    eng, sup, drv, rec = _engine()
    eng.set_target(0, 20000, S.ticks_us())
    eng.set_target(3, 15000, S.ticks_us())
    _run(eng, 2000)
    ps = _pulses(drv)
    assert len(ps) > 100
    for t, ch, a1, w1, ip, a2, w2, idx in ps:
        assert a1 < 0 < a2 and a1 == -a2, (a1, a2)  # equal and opposite phases
        assert w1 == w2 == 300 and ip == L.INTERPHASE_US > 0
    assert drv.net_charge_pc == 0 and drv.refused == 0


def test_frequency_first_pulse_and_ramp_from_zero():
    eng, sup, drv, rec = _engine(slew=20000)
    t0 = S.ticks_us()
    eng.set_target(0, 20000, t0)
    _run(eng, 1000, step_us=100)
    ps = _pulses(drv)
    # 40 Hz: the first pulse 10 ms after the start, then every 25 ms
    assert S.mdiff(ps[0][0], t0) == FIRST_PULSE_US, S.mdiff(ps[0][0], t0)
    assert len(ps) == 40, len(ps)
    for i in range(1, len(ps)):
        assert S.mdiff(ps[i][0], ps[i - 1][0]) == 25000
    # the ramp from zero: 20 mA/s -> 200 uA after 10 ms, then +500 uA per pulse
    amps = [p[5] for p in ps]
    assert amps[0] == 200 and amps[1] == 700 and amps[2] == 1200, amps[:3]


def test_slew_limits_rises_but_not_decreases_or_stops():
    eng, sup, drv, rec = _engine(slew=50000)
    start = S.ticks_us()
    eng.set_target(1, 30000, start)
    _run(eng, 1000, step_us=700)  # an uneven loop: pulses come late by up to 0.7 ms
    ps = _pulses(drv)
    prev_t, prev_a = None, 0
    for t, ch, a1, w1, ip, a2, w2, idx in ps:
        dt = S.mdiff(t, prev_t if prev_t is not None else start)
        assert a2 - prev_a <= 50000 * dt // 1000000, (a2, prev_a, dt)  # never faster than the slew
        prev_t, prev_a = t, a2
    assert prev_a == 30000  # it got there (0.6 s at 50 mA/s)
    # a decrease is immediate: the very next pulse
    n = drv.count
    eng.set_target(1, 12000, S.ticks_us())
    _run(eng, 30, step_us=100)
    assert drv.count == n + 1 and drv.last()[5] == 12000
    # a stop is immediate: no pulse after it, the driver told at once
    offs = drv.offs
    eng.set_target(1, 0, S.ticks_us())
    assert drv.offs == offs + 1 and eng.amp[1] == 0 and eng.active_mask == 0
    n = drv.count
    _run(eng, 200)
    assert drv.count == n
    # the next start ramps from zero again
    eng.set_target(1, 30000, S.ticks_us())
    _run(eng, 15, step_us=100)
    assert drv.last()[5] == 500  # 50 mA/s x 10 ms


def test_channels_never_overlap_electrically():
    eng, sup, drv, rec = _engine()
    now = S.ticks_us()
    for ch in range(4):
        eng.set_target(ch, 20000, now)  # all due at the same instant
    _run(eng, 1000, step_us=100)
    ps = _pulses(drv)
    ps.sort(key=lambda p: S.mdiff(p[0], ps[0][0]))
    for i in range(1, len(ps)):
        assert S.mdiff(ps[i][0], ps[i - 1][0]) >= 2 * 300 + L.INTERPHASE_US, (ps[i - 1], ps[i])
    per_ch = [sum(1 for p in ps if p[1] == ch) for ch in range(4)]
    assert min(per_ch) >= 39, per_ch  # and each still gets its 40 Hz


def test_one_frequency_fires_in_bursts_under_one_blank_window():
    # (11) channels started at different times lock onto the running channel's pulse
    # times, so one blank window (20 ms after the burst) covers all their artefacts and
    # M-waves and the EMG between bursts stays readable
    eng, sup, drv, rec = _engine(channels=(0, 1, 2))
    bl = Blanker(64)
    eng.blanker = bl
    bl.anchor(S.ticks_us(), 0, 2000)
    blank = 18000  # the engine runs 40 Hz here (25 ms): a window that leaves EMG between bursts
    eng.set_blank(blank)
    eng.set_target(0, 20000, S.ticks_us())
    _run(eng, 7)
    eng.set_target(1, 20000, S.ticks_us())
    _run(eng, 6)
    eng.set_target(2, 20000, S.ticks_us())
    _run(eng, 500, step_us=2000)  # coarse loop passes, as on a busy device
    ps = _pulses(drv)
    slot = L.slot_us(300)
    t0 = [p[0] for p in ps if p[1] == 0]
    assert 20 <= len(t0) <= 22, len(t0)  # 513 ms at 40 Hz
    for ch in (1, 2):
        for p in ps:
            if p[1] == ch:
                # right behind channel 0's pulse of the same burst, one slot per channel
                d = min(S.mdiff(p[0], t) for t in t0 if S.mdiff(p[0], t) >= 0)
                assert d == ch * slot, (ch, d, slot)
    per_ch = [sum(1 for p in ps if p[1] == ch) for ch in range(3)]
    assert per_ch[1] >= 19 and per_ch[2] >= 19, per_ch
    # one window per burst, from the burst's first pulse to blank_us after its last
    assert bl.windows == len(ps) and bl.count == len(t0), (bl.windows, bl.count, len(t0))
    for k in range(2, bl.count):
        length = bl.we[k] - bl.ws[k]  # samples at 2 kHz
        assert length * 500 <= 3 * slot + blank + L.BLANK_MARGIN_US, length
        assert bl.ws[k] - bl.we[k - 1] > 0  # EMG between bursts


def test_impedance_checked_before_every_pulse():
    # behaviour 7: the channel is zero from the very next pulse on; the others go on
    eng, sup, drv, rec = _engine()
    now = S.ticks_us()
    eng.set_target(0, 20000, now)
    eng.set_target(1, 20000, now)
    _run(eng, 300)
    n0 = sum(1 for p in _pulses(drv) if p[1] == 0)
    drv.set_impedance(0, 1000000)  # the electrode peels off
    _run(eng, 500)
    ps = _pulses(drv)
    n0 += 1  # the pulse that measured it (at compliance)
    assert sum(1 for p in ps if p[1] == 0) == n0  # not one more pulse on channel 0
    assert sum(1 for p in ps if p[1] == 1) > n0 + 15  # channel 1 continues
    assert sup.electrode_mask == 1 and sup.fault == wire.FAULT_ELECTRODE
    assert eng.amp[0] == 0 and not eng.active_mask & 1 and drv.offs >= 1
    drv.set_impedance(0, 1000)  # back on: still latched
    _run(eng, 200)
    assert sum(1 for p in _pulses(drv) if p[1] == 0) == n0


def test_pulse_records_pack_as_the_wire_format():
    eng, sup, drv, rec = _engine()
    eng.set_target(2, 20000, S.ticks_us())
    _run(eng, 300)
    n = eng.pending()
    assert n == drv.count and n > 5
    pkt = bytearray(4 + 20 * wire.PULSE_LEN)
    k = eng.take_into(pkt, 4, 20)
    assert k == n and eng.pending() == 0
    ps = _pulses(drv)
    for i in range(k):
        f = struct.unpack_from(wire.PULSE_FMT, pkt, 4 + i * wire.PULSE_LEN)
        assert f == (ps[i][0], 2, ps[i][5], 300, L.INTERPHASE_US), (f, ps[i])
    b = bytearray(13)
    wire_pack_pulse(b, 0, 0x3FFFFFFF, 7, 100000, 1000, 50)
    assert bytes(b) == struct.pack(wire.PULSE_FMT, 0x3FFFFFFF, 7, 100000, 1000, 50)


def test_blanker_maps_pulses_to_afe_samples_and_merges():
    bl = Blanker(4)
    t = S.ticks_us()
    bl.anchor(t, 1000, 2000)  # sample 1000 was the newest at t; 2 kHz
    assert bl.index_at(S.ticks_add(t, 5000)) == 1010
    bl.add(S.ticks_add(t, 5000), 700 + 5000)  # pulse at sample ~1010 + 5.7 ms
    assert bl.count == 1 and bl.ws[0] == 1009 and bl.we[0] == 1009 + 11 + 5
    bl.add(S.ticks_add(t, 6000), 5700)  # overlaps: merged
    assert bl.count == 1 and bl.we[0] == 1011 + 11 + 5
    bl.add(S.ticks_add(t, 50000), 5700)
    assert bl.count == 2

    class FB:
        def __init__(self):
            self.calls = []

        def blank(self, block, n, mask, start, length):
            self.calls.append((start, length))

    fb = FB()
    bl.apply(None, 20, 1000, fb, 0xFF)  # samples 1000..1019: the window starts at 9
    assert fb.calls == [(9, 18)] and bl.count == 2  # FilterBank.blank clips to the block
    bl.apply(None, 20, 1020, fb, 0xFF)  # ... continues at the block start, ends at 1027
    assert fb.calls[-1] == (-11, 18) and bl.count == 1
    # wrap-around of the AFE counter
    bl2 = Blanker(4)
    bl2.anchor(t, wire.COUNTER_MOD - 3, 1000)
    bl2.add(S.ticks_add(t, 4000), 1000)
    assert bl2.ws[0] == 0 and bl2.we[0] == 6
    fb2 = FB()
    bl2.apply(None, 10, wire.COUNTER_MOD - 2, fb2, 1)
    assert fb2.calls == [(2, 6)]


def test_no_allocation_per_pulse():
    eng, sup, drv, rec = _engine(slew=1000000)
    eng.blanker = Blanker()
    eng.blanker.anchor(S.ticks_us(), 0, 2000)
    now = S.ticks_us()
    for ch in range(4):
        eng.set_target(ch, 30000, now)
    pkt = bytearray(4 + 20 * wire.PULSE_LEN)
    _run(eng, 200, step_us=100)
    eng.take_into(pkt, 4, 20)
    n0 = drv.count
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(5000):  # 0.5 s at 100 us per loop pass
        S.advance_us(100)
        eng.tick(S.ticks_us())
        if eng.pending() >= 20:
            eng.take_into(pkt, 4, 20)
        if eng.blanker.count > 16:
            eng.blanker.count = 0
        sup.check_dose(S.ticks_ms())
    used = gc.mem_alloc() - before
    assert drv.count - n0 >= 70, drv.count - n0  # it really pulsed (4 ch x 40 Hz x 0.5 s)
    assert used == 0, used


# ---- the current-source model: electrode faults as the real board sees them ----------
def _ramp_to(eng, drv, ch, amp):
    eng.set_target(ch, amp, S.ticks_us())
    for _ in range(400):
        _run(eng, 25)
        if drv.count and drv.last()[5] == amp:
            return
    raise AssertionError("never reached %d uA" % amp)


def test_peeled_electrode_faults_within_one_pulse_at_every_amplitude():
    # with the electrode off the source sits at its 150 V compliance: a reading of
    # volts over the commanded current (18.7, 10, 5, 3.7 kOhm) looks like a good electrode
    for amp in (8000, 15000, 30000, 40000):
        eng, sup, drv, rec = _engine(channels=(0, 1), slew=1000000, mx=40000)
        _ramp_to(eng, drv, 0, amp)
        eng.set_target(1, 12000, S.ticks_us())
        _run(eng, 200)
        assert sup.electrode_mask == 0, (amp, drv.load_mv(0), drv.load_ua(0))
        n0 = drv.per_ch[0]
        n1 = drv.per_ch[1]
        drv.set_impedance(0, 1000000)  # peeled off
        _run(eng, 300)
        assert drv.per_ch[0] <= n0 + 1, (amp, drv.per_ch[0] - n0)  # the one pulse that measured it
        assert sup.electrode_mask == 1 and sup.fault == wire.FAULT_ELECTRODE, (amp, sup.electrode_mask)
        assert drv.per_ch[1] >= n1 + 10  # the other channel goes on
        assert "compliance" in rec.changes[-1][2], rec.changes[-1]


def test_compliance_on_a_real_load_is_an_electrode_fault():
    # a dried-out electrode: series 6 kOhm and a slow interface; at 30 mA it needs ~220 V
    eng, sup, drv, rec = _engine(channels=(0,), slew=1000000, mx=40000)
    drv.set_load(0, 6000, 3000, 470)
    _ramp_to(eng, drv, 0, 15000)
    assert sup.electrode_mask == 0  # ~115 V: fine
    eng.set_target(0, 30000, S.ticks_us())
    _run(eng, 300)
    assert sup.electrode_mask == 1
    assert all(p[5] <= 30000 for p in _pulses(drv))


class _NoReading(SimStimulator):
    """A board whose measurement never comes (a broken sense path)."""

    def load_mv(self, ch):
        return -1

    def load_ua(self, ch):
        return -1


def test_no_reading_after_a_pulse_is_a_fault():
    rec = S.Recorder()
    limits = L.Limits(slew_ua_per_s=1000000)
    cs = CalibrationSet(4)
    assert cs.set(Calibration(0, 5000, 10000, 40000, 5000, 300, 30), limits) is None
    drv = _NoReading(None, 4, clock=S.ticks_us)
    box = []
    sup = Supervisor(4, limits, cs, rec.on_change, lambda: box[0].zero_all(), lambda ch: box[0].zero(ch))
    eng = StimEngine(drv, 4, sup, S.ticks_us)
    box.append(eng)
    eng.configure(0, 300, 40)
    assert sup.arm(S.ticks_ms(), 4000, None) is None
    sup.set_model(True)
    drv.enable()
    eng.set_target(0, 20000, S.ticks_us())
    _run(eng, 300)
    assert drv.per_ch[0] == 1, drv.per_ch[0]
    assert sup.electrode_mask == 1


def test_readings_are_forgotten_on_enable():
    eng, sup, drv, rec = _engine(channels=(0,), slew=1000000, mx=40000)
    _ramp_to(eng, drv, 0, 20000)
    assert drv.load_ua(0) == 20000 and drv.load_mv(0) > 0
    eng.zero_all()
    drv.enable()
    assert drv.load_mv(0) == -1 and drv.load_ua(0) == -1


# ---- the last gate re-checks frequency and density (a bug upstream is caught) ----------
def _gate_engine(area_mm2=500):
    rec = S.Recorder()
    limits = L.Limits(slew_ua_per_s=1000000)
    cs = CalibrationSet(4)
    assert cs.set(Calibration(0, 5000, 10000, 40000, area_mm2, 300, 30), limits) is None
    drv = SimStimulator(None, 4, clock=S.ticks_us)
    box = []
    sup = Supervisor(4, limits, cs, rec.on_change, lambda: box[0].zero_all(), lambda ch: box[0].zero(ch))
    eng = StimEngine(drv, 4, sup, S.ticks_us)
    box.append(eng)
    eng.set_slew(1000000)
    assert sup.arm(S.ticks_ms(), 4000, None) is None
    sup.set_model(True)
    drv.enable()
    return eng, sup, drv


def test_last_gate_refuses_a_frequency_outside_the_limits():
    eng, sup, drv = _gate_engine()
    eng.configure(0, 300, 30)
    eng.set_target(0, 20000, S.ticks_us())
    _run(eng, 200)
    n = drv.count
    assert n > 0 and sup.fault == wire.FAULT_NONE
    eng.period[0] = 1000000 // 400  # a bug upstream: 400 Hz, above limits.max_freq_hz
    _run(eng, 100)
    assert drv.count <= n + 1 and sup.fault == wire.FAULT_INTERNAL, (drv.count - n, sup.fault)


def test_last_gate_refuses_a_density_above_2ma_per_cm2():
    # 35 mA at 500 us, 100 Hz on 5 cm^2 is 2.2 mA/cm^2 rms: a bug that skipped the density check
    eng, sup, drv = _gate_engine(area_mm2=500)
    eng.configure(0, 500, 100)
    eng.set_target(0, 35000, S.ticks_us())
    _run(eng, 300)
    assert all(p[5] * p[5] * 2 * 500 * 100 <= (20 * 500) ** 2 * 1000000 for p in _pulses(drv)), [p[5] for p in _pulses(drv)][-3:]
    assert sup.fault == wire.FAULT_INTERNAL


def test_a_new_train_never_pulses_sooner_than_a_period_after_the_last():
    # a train replaced by another at a new frequency (a new T_STIM_TEST) joins the burst of
    # a channel already at that frequency: its first pulse still waits a full period
    # after the channel's previous pulse (the fuzz found 2.5 ms)
    eng, sup, drv, rec = _engine(channels=(0, 1), slew=1000000)
    eng.configure(0, 300, 30)
    eng.set_target(0, 20000, S.ticks_us())
    S.advance_us(3000)  # channel 1 a few ms behind: some pulse of 0 comes shortly before one of 1
    eng.set_target(1, 20000, S.ticks_us())
    restarted = None
    for _ in range(20000):
        n0 = drv.per_ch[0]
        S.advance_us(100)
        now = S.ticks_us()
        eng.tick(now)
        if restarted is None and drv.per_ch[0] > n0 + 0 and drv.per_ch[0] > 3 and 0 < S.mdiff(eng.due[1], now) < 5000:
            restarted = [p for p in _pulses(drv) if p[1] == 0][-1][0]
            eng.set_target(0, 0, now)
            eng.configure(0, 300, 40)
            eng.set_target(0, 15000, now)  # joins channel 1's burst, due in < 5 ms
        if restarted is not None and drv.per_ch[0] >= n0 + 1 and [p for p in _pulses(drv) if p[1] == 0][-1][0] != restarted:
            break
    assert restarted is not None, "never found the moment to restart"
    nxt = [p for p in _pulses(drv) if p[1] == 0][-1][0]
    assert S.mdiff(nxt, restarted) >= 25000 - 200, S.mdiff(nxt, restarted)  # 40 Hz: 25 ms


def test_a_restarted_train_ramps_from_zero_however_long_its_first_pulse_waits():
    # (1)(6) a train restarted right after a pulse waits a period for its first pulse; the
    # ramp starts at that pulse, not at the request: the first pulse is one slew step (the
    # HIL test saw 4.4 mA at 100 mA/s when the ramp counted the wait)
    eng, sup, drv, rec = _engine(channels=(0,), slew=100000)
    eng.set_target(0, 15000, S.ticks_us())
    _run(eng, 1000, step_us=100)
    n = drv.count
    while drv.count == n:  # right after a pulse at full amplitude
        S.advance_us(100)
        eng.tick(S.ticks_us())
    assert abs(_pulses(drv)[-1][2]) == 15000, _pulses(drv)[-1]
    eng.set_target(0, 0, S.ticks_us())
    eng.set_target(0, 15000, S.ticks_us())
    n = drv.count
    _run(eng, 300, step_us=100)
    new = _pulses(drv)[n:]
    assert len(new) >= 3, new
    step = 100000 * FIRST_PULSE_US // 1000000
    assert new[0][5] <= step + 1, (new[0][5], step)  # [5]: the anodic phase's uA (> 0)
    assert all(a[5] <= b[5] for a, b in zip(new, new[1:])), new


def test_a_late_pulse_is_not_followed_by_a_catch_up_pulse():
    # the loop ran 15 ms late (a busy host, a long request): the next pulse does not come
    # sooner than 3/4 of the train's period after the late one
    eng, sup, drv, rec = _engine(channels=(0,), slew=1000000)
    eng.set_target(0, 20000, S.ticks_us())
    _run(eng, 200, step_us=100)
    n = drv.count
    while drv.count == n:  # right after a pulse
        S.advance_us(100)
        eng.tick(S.ticks_us())
    S.advance_us(39000)  # a stall: the next pulse (due at +25 ms) goes out 14 ms late
    _run(eng, 200, step_us=100)
    ts = [p[0] for p in _pulses(drv)]
    gaps = [S.mdiff(ts[k + 1], ts[k]) for k in range(len(ts) - 1)]
    assert min(gaps) >= 25000 * 3 // 4 - 100, gaps  # 40 Hz


def test_a_4_channel_burst_at_30hz_is_timed_by_the_driver_never_slept_in_the_loop():
    # M5: the pulses of one burst follow each other back to back, each handed to the driver
    # at once with its start delay; the loop never sleeps or busy-waits for them
    eng, sup, drv, rec = _engine()
    for ch in range(4):
        eng.configure(ch, 300, 30)
    bl = Blanker(64)
    eng.blanker = bl
    bl.anchor(S.ticks_us(), 0, 2000)
    held = 0
    with S.CountingSleeps() as waits:
        now = S.ticks_us()
        for ch in range(4):
            eng.set_target(ch, 20000, now)
        for _ in range(340 * 2):  # 340 ms in passes of 500 us: 10 bursts
            S.advance_us(500)
            t = S.ticks_us()
            eng.tick(t)
            held += S.ticks_us() != t
    assert waits.n == 0 and held == 0, "the loop waited %d times (%d passes held up)" % (waits.n, held)
    ps = _pulses(drv)
    assert len(ps) == 40, len(ps)
    # what the engine reports (R_PULSES) is when the driver delivered each phase 1
    rep = [(eng.r_t[(eng.r_head + k) % eng.cap], eng.r_ch[(eng.r_head + k) % eng.cap]) for k in range(eng.r_count)]
    assert rep == [(p[0], p[1]) for p in ps], (rep[:5], [(p[0], p[1]) for p in ps][:5])
    slot = L.slot_us(300)
    for k in range(0, 40, 4):
        burst = ps[k:k + 4]
        assert [p[1] for p in burst] == [0, 1, 2, 3], burst
        # back to back: the guard between one pulse's end and the next one's start, never less
        assert [S.mdiff(burst[i + 1][0], burst[i][0]) for i in range(3)] == [slot] * 3, burst
    assert bl.windows == 40 and bl.count == 10, (bl.windows, bl.count)  # one window per burst
    assert not [c for c in rec.changes if c[1]], rec.changes


def test_a_busy_stage_from_half_a_tick_period_ago_never_holds_a_new_train():
    # the output stage's end is kept as a tick: after ~9 minutes without pulses it reads
    # as far in the future (2**29 us later the tick difference flips sign); a new train
    # then still starts on time, never waiting for a stage that was free all along
    eng, sup, drv, rec = _engine(channels=(0,))
    eng.set_target(0, 20000, S.ticks_us())
    _run(eng, 30, step_us=100)
    assert drv.count >= 1
    eng.set_target(0, 0, S.ticks_us())
    S.advance_us((1 << 29) - 300)  # the last pulse's stage end is now "2**29 us ahead"
    n = drv.count
    t0 = S.ticks_us()
    eng.set_target(0, 20000, t0)
    _run(eng, 15, step_us=100)
    assert drv.count == n + 1, "the new train was held by a stale busy time"
    assert S.mdiff(drv.last()[0], t0) == FIRST_PULSE_US, S.mdiff(drv.last()[0], t0)
