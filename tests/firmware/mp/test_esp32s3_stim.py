# The reference board's stimulator HAL (boards/esp32s3_stim.py) on fakes of its
# peripherals (fake_esp32: esp32.RMT, esp32.PCNT, machine.Pin/PWM/ADC and the front end
# between them): pulses come from the RMT, never from a busy wait; both phases are one
# programmed sequence with equal durations; the programmed and the delivered (PCNT-
# measured) widths are checked and a phase out of bounds trips the output off; the RMT's
# settle time is counted in the timing the engine and the supervisor keep.
import stim_testlib as S

import vclock  # noqa: E402
import fake_esp32 as F  # noqa: E402

# the board's wiring (boards/esp32s3_stim.py): phase-1 / phase-2 sense lines, amplitude
# PWM, electrode-voltage and sense-current track-and-hold ADCs
F.install(sense_pins=(42, 47), amplitude=16, sense_v=2, sense_i=3)

from garmentfw import limits as L  # noqa: E402
from garmentfw.boards import esp32s3_stim as E  # noqa: E402
from garmentfw.calibration import Calibration, CalibrationSet  # noqa: E402
from garmentfw.stim_engine import StimEngine  # noqa: E402
from garmentfw.supervisor import Supervisor  # noqa: E402

_fixed_ticks_us = vclock._t.ticks_us


def _moving_clock():
    """ticks_us that advances 1 us per read, as a real clock does under a polling loop;
    ``reads[0]`` counts the reads (a busy wait reads it hundreds of times)."""
    reads = [0]

    def ticks_us():
        reads[0] += 1
        vclock.advance_us(1)
        return _fixed_ticks_us()

    vclock._t.ticks_us = ticks_us
    return reads


def _stim(n=4):
    s = E.Esp32s3Stimulator(n_channels=n)
    s.enable()
    return s


def _finish(s):
    S.advance_us(E.SETTLE_US + 2 * 1000 + 200)  # past the longest pulse


def test_pulses_come_from_the_rmt_never_a_busy_wait():
    reads = _moving_clock()
    try:
        s = _stim()
        t0 = _fixed_ticks_us()
        assert s.pulse(0, 10000, 200, L.INTERPHASE_US)
        spent = S.ticks_diff(_fixed_ticks_us(), t0)
    finally:
        vclock._t.ticks_us = _fixed_ticks_us
    rmt = F.RMT.last
    assert rmt is not None and rmt.writes == 1, "the pulse was not handed to the RMT"
    assert rmt.blocked == 0
    assert spent < 20 and reads[0] < 20, "pulse() waited %d us (%d clock reads)" % (spent, reads[0])


def test_both_phases_are_one_sequence_with_equal_durations():
    s = _stim()
    assert s.pulse(2, 12000, 250, L.INTERPHASE_US)
    rmt = F.RMT.last
    assert rmt.resolution_hz == 1000000 and not rmt.idle_level
    assert rmt.programmed == (E.SETTLE_US, 250, L.INTERPHASE_US, 250), rmt.programmed
    assert rmt.start_level == 0  # settle with the line low, then phase 1, gap, phase 2
    assert F.pin(E.SELECT_PINS[2]).value() == 1 and F.pin(E.SELECT_PINS[0]).value() == 0
    assert F.pin(E.PIN_POL_CLR).value() == 0  # the steering flip-flop released for this pulse
    _finish(s)
    assert s.load_mv(2) != -2 and not s.tripped
    assert F.pin(E.SELECT_PINS[2]).value() == 0 and F.pin(E.PIN_POL_CLR).value() == 1
    assert s.delivered == (250, 250), s.delivered


def test_a_stretched_phase_trips_the_output_off():
    for segment in (1, 3):  # phase 1, phase 2
        s = _stim()
        assert s.pulse(0, 20000, 300, L.INTERPHASE_US)
        _finish(s)
        assert not s.tripped
        F.RMT.last.stretch(segment, 40)
        assert s.pulse(1, 20000, 300, L.INTERPHASE_US)
        _finish(s)
        ok = s.pulse(0, 20000, 300, L.INTERPHASE_US)
        assert not ok, "a phase delivered 40 us longer than programmed was not detected"
        assert s.tripped and F.pin(E.PIN_STIM_ENABLE).value() == 0
        assert "phase" in s.fault, s.fault
        s.enable()
        assert not s.pulse(0, 20000, 300, L.INTERPHASE_US), "the trip must stay latched"


def test_widths_out_of_bounds_are_refused_and_trip():
    for amp, w, ip in ((10000, L.HARD_MAX_WIDTH_US + 1, 50), (10000, E.MIN_MEASURE_US - 1, 50),
                       (60000, 1000, 50), (10000, 200, 0)):
        s = _stim()
        before = F.RMT.last.writes
        assert not s.pulse(0, amp, w, ip), (amp, w, ip)
        assert F.RMT.last.writes == before, "an out-of-bounds sequence reached the RMT"
        assert s.tripped and F.pin(E.PIN_STIM_ENABLE).value() == 0


def test_a_pulse_while_the_last_runs_is_refused_never_blocked():
    s = _stim()
    assert s.pulse(0, 10000, 300, L.INTERPHASE_US)
    assert not s.pulse(1, 10000, 300, L.INTERPHASE_US)
    assert F.RMT.last.blocked == 0 and F.RMT.last.writes == 1


def test_a_channel_stop_lets_the_pulse_in_flight_finish_balanced():
    s = _stim()
    assert s.pulse(3, 10000, 400, L.INTERPHASE_US)
    S.advance_us(E.SETTLE_US + 100)  # inside phase 1
    s.off(3)
    assert F.RMT.last.active(), "a stop cut the pulse between its phases"
    _finish(s)
    assert s.load_mv(3) >= 0 and s.delivered == (400, 400) and not s.tripped, s.delivered
    assert F.pin(E.SELECT_PINS[3]).value() == 0


def test_the_electrode_reading_is_the_track_and_hold_after_phase_1():
    s = _stim()
    assert s.pulse(1, 10000, 300, L.INTERPHASE_US)
    assert s.load_mv(1) == -1 and s.load_ua(1) == -1  # not over yet
    _finish(s)
    ua = F.FRONT_END.held_ua  # what the PWM's duty (at its resolution) really sets
    assert 9900 <= ua <= 10000, ua
    assert s.load_ua(1) == ua, (s.load_ua(1), ua)
    assert abs(s.load_mv(1) - F.FRONT_END.held_mv) <= 1, (s.load_mv(1), F.FRONT_END.held_mv)
    F.FRONT_END.load_ohm = 1000000  # peeled off: the source sits at its compliance
    assert s.pulse(1, 10000, 300, L.INTERPHASE_US)
    _finish(s)
    assert s.load_mv(1) >= L.COMPLIANCE_NEAR_MV and s.load_ua(1) < 9000, (s.load_mv(1), s.load_ua(1))
    F.FRONT_END.load_ohm = 1000
    s.enable()
    assert s.load_mv(1) == -1


def test_the_settle_time_is_counted_in_the_timing():
    lim = L.Limits(blank_us=500, max_freq_hz=150, max_width_us=1000)
    w = [400] * 4
    f = [150] * 4
    assert L.check_timing(lim, w, f, 0xF) is None
    bad = L.check_timing(lim, w, f, 0xF, E.SETTLE_US)
    assert bad and "infeasible" in bad, bad


def _armed_engine(slew=L.HARD_MAX_SLEW):
    """The HAL under the real StimEngine and Supervisor, 4 channels armed at 30 Hz."""
    limits = L.Limits(slew_ua_per_s=slew)
    cs = CalibrationSet(4)
    for ch in range(4):
        assert cs.set(Calibration(ch, 5000, 10000, 30000, 5000, 300, 30), limits) is None
    drv = E.Esp32s3Stimulator(n_channels=4)
    box = []
    trips = []

    def on_change(state, fault, text):
        trips.append((state, fault, text))

    sup = Supervisor(4, limits, cs, on_change, lambda: box[0].zero_all(), lambda ch: box[0].zero(ch))
    sup.settle_us = drv.settle_us  # as StimService sets it from the driver
    sup.estop_input = drv.estop_active
    eng = StimEngine(drv, 4, sup, S.ticks_us)
    box.append(eng)
    eng.set_slew(slew)
    for ch in range(4):
        eng.configure(ch, 300, 30)
    assert sup.arm(S.ticks_ms(), 4000, None) is None
    sup.set_model(True)
    drv.enable()
    t = S.ticks_us()
    for ch in range(4):
        eng.set_target(ch, 20000, t)
    return eng, sup, drv, trips


def _run(eng, ms):
    n = 0
    for _ in range(ms * 2):
        S.advance_us(500)
        n += eng.tick(S.ticks_us())
    return n


def test_a_slow_ramp_through_sub_ma_setpoints_is_no_compliance_fault():
    # The 10-bit amplitude reference (LEDC at 78 kHz: ~98 uA steps) delivers 293 uA for a
    # 333 uA setpoint (88 %): compared with the setpoint, the electrode check read that as
    # the source at its compliance. Compared with what the driver really programmed (the
    # duty read back), a good electrode is good at every amplitude of the ramp.
    eng, sup, drv, trips = _armed_engine(slew=10000)  # 10 mA/s: 333 uA steps at 30 Hz
    assert _run(eng, 300) >= 30
    assert sup.electrode_mask == 0 and not [c for c in trips if c[1]], ("compliance read at sub-mA", trips)
    assert 0 < eng.amp[0] <= 4000  # the ramp's sub-mA start and on, one slew step a pulse
    # and the check still holds at those amplitudes: a peeled electrode is a fault there
    F.FRONT_END.load_ohm = 1000000
    _run(eng, 100)
    assert sup.electrode_mask & 1, "a peeled electrode at a sub-mA amplitude went unseen"


def test_a_burst_through_the_engine_and_supervisor_is_never_refused_or_blocked():
    eng, sup, drv, trips = _armed_engine()
    n = _run(eng, 1000)
    assert F.RMT.last.blocked == 0
    assert not drv.tripped, drv.fault
    assert n >= 4 * 29 and F.RMT.last.writes == n, (n, F.RMT.last.writes)
    assert not [c for c in trips if c[1]], trips  # no fault of any kind


def test_a_stretched_phase_under_the_engine_latches_a_fault_and_stops_the_output():
    from garmentfw import wire

    # 15 or 40 us: the engine hands the burst's next pulse over on a pass after the
    # stretched one ended (this driver times no start delay; nothing waits for it), so
    # the PCNT measured it: the driver trips either way
    for extra in (15, 40):
        eng, sup, drv, trips = _armed_engine()
        n0 = _run(eng, 200)
        assert n0 >= 4 * 5 and not drv.tripped, (n0, drv.fault, trips)
        F.RMT.last.stretch(3, extra)  # the next pulse's phase 2 runs long
        writes = F.RMT.last.writes
        _run(eng, 200)
        assert F.pin(E.PIN_STIM_ENABLE).value() == 0
        assert drv.tripped and "delivered" in drv.fault, (extra, drv.fault)
        assert sup.state == wire.SS_FAULT and sup.fault == wire.FAULT_INTERNAL, trips
        assert F.RMT.last.writes == writes + 1, "pulses went on after the stretched one"
        _run(eng, 200)
        assert F.RMT.last.writes == writes + 1 and F.RMT.last.blocked == 0
