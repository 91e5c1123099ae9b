# The RP2350 board's stimulator HAL (boards/rp2350_stim.py, PIO programs in
# boards/rp2_pio.py) on a fake rp2 (fake_rp2) that assembles the real PIO program and
# runs it cycle by cycle: the pulse is queued to the state machine (the CPU never waits),
# both phases come from the one queued width and are delivered at exactly the programmed
# width, and a width the output stage must not deliver is refused and trips the output.
import stim_testlib as S

import fake_rp2 as R  # noqa: E402

R.install()
# the board's phase sense lines: the OR of the pulse state machines' A (bit 0), B (bit 1)
R.WIRES[0] = R.SenseLine(0, (4, 5, 6, 7))
R.WIRES[1] = R.SenseLine(1, (4, 5, 6, 7))

import fake_esp32 as F  # noqa: E402
from garmentfw import limits as L  # noqa: E402
from garmentfw.boards import rp2350_stim as P  # noqa: E402


def _stim():
    s = P.Rp2350Stimulator(n_channels=4)
    F.pin(P.PIN_ESTOP).value(0)  # the normally-closed button released: the contact pulls the pin low
    s.enable()
    return s


def test_pio_pulses_are_queued_and_delivered_at_the_programmed_width():
    s = _stim()
    for w in (P.MIN_PHASE_US, 60, 300, 1000):
        t0 = S.ticks_us()
        assert s.pulse(1, 10000, w, L.INTERPHASE_US)
        assert S.ticks_us() == t0  # queued: no time spent in pulse()
        sm = s.pulsers[1].sm
        sm.run_until_idle()
        S.advance_us(2)  # the phase timer pushes its count 2 cycles after the phase ends
        got = sm.phases[-2:]
        assert got == [(1, w), (2, w)], "programmed %d us, delivered %s" % (w, got)


def test_each_delivered_phase_is_measured_by_a_state_machine_and_checked():
    s = _stim()
    assert P.PIN_SENSE_A == 0 and P.PIN_SENSE_B == 1  # the wiring above
    for w in (60, 300, 1000):
        assert s.pulse(2, 10000, w, L.INTERPHASE_US)
        assert not s.pulse(3, 10000, w, L.INTERPHASE_US)  # not over yet: refused, never queued behind it
        s.pulsers[2].sm.run_until_idle()
        S.advance_us(2)  # the phase timer pushes its count 2 cycles after the phase ends
        assert s._collect()  # noqa: SLF001 - measured and within bounds
        a, b = s.delivered
        assert abs(a - w) <= 1 and abs(b - w) <= 1, (w, s.delivered)
    assert not s.tripped


def test_a_stretched_phase_is_measured_and_trips_latched():
    for side in (1, 2):  # phase 1, phase 2
        s = _stim()
        sm = s.pulsers[0].sm
        sm.stretch(side, 25)  # the part delivers that phase 25 us long
        assert s.pulse(0, 10000, 300, L.INTERPHASE_US)
        sm.run_until_idle()
        S.advance_us(2)
        assert not s.pulse(0, 10000, 300, L.INTERPHASE_US)
        assert s.tripped and "delivered" in s.fault, s.fault
        assert F.pin(P.PIN_STIM_ENABLE).value() == 0
        s.enable()
        assert not s.pulse(1, 10000, 300, L.INTERPHASE_US), "the trip must stay latched"


def test_a_phase_that_never_ends_trips():
    s = _stim()
    sm = s.pulsers[1].sm
    sm.stretch(2, 50000)  # phase 2 stuck high for 50 ms
    assert s.pulse(1, 10000, 300, L.INTERPHASE_US)
    S.advance_us(P.SETTLE_US + 2 * 300 + L.INTERPHASE_US + 200)
    assert not s.pulse(1, 10000, 300, L.INTERPHASE_US)
    assert s.tripped and "not measured" in s.fault, s.fault


def test_a_width_out_of_bounds_is_refused_and_trips():
    for amp, w in ((10000, L.HARD_MAX_WIDTH_US + 1), (60000, 1000)):
        s = _stim()
        sm = s.pulsers[0].sm
        before = sm.puts
        assert not s.pulse(0, amp, w, L.INTERPHASE_US)
        assert sm.puts == before and s.tripped
        assert F.pin(P.PIN_STIM_ENABLE).value() == 0
        s.enable()
        assert not s.pulse(0, 10000, 300, L.INTERPHASE_US), "the trip must stay latched"


def test_the_button_is_normally_closed_and_a_broken_wire_stops():
    s = _stim()
    assert not s.estop_active()
    F.pin(P.PIN_ESTOP).value(1)  # pressed, or its wire cut: the pull-up reads 1
    assert s.estop_active()
    assert not s.pulse(0, 10000, 300, L.INTERPHASE_US)


# ---- a burst under the real engine: the pulses spaced by the PIO, never by the loop --
def _armed_engine(freq=30):
    from garmentfw.calibration import Calibration, CalibrationSet
    from garmentfw.stim_engine import Blanker, StimEngine
    from garmentfw.supervisor import Supervisor

    limits = L.Limits(slew_ua_per_s=L.HARD_MAX_SLEW)
    cs = CalibrationSet(4)
    for ch in range(4):
        assert cs.set(Calibration(ch, 5000, 10000, 30000, 5000, 300, freq), limits) is None
    drv = _stim()
    box = []
    trips = []
    sup = Supervisor(4, limits, cs, lambda st, f, t: trips.append((st, f, t)),
                     lambda: box[0].zero_all(), lambda ch: box[0].zero(ch))
    sup.settle_us = drv.settle_us
    sup.estop_input = drv.estop_active
    eng = StimEngine(drv, 4, sup, S.ticks_us)
    box.append(eng)
    eng.set_slew(L.HARD_MAX_SLEW)
    bl = Blanker(64)
    bl.anchor(S.ticks_us(), 0, 2000)
    eng.blanker = bl
    for ch in range(4):
        eng.configure(ch, 300, freq)
    assert sup.arm(S.ticks_ms(), 4000, None) is None
    sup.set_model(True)
    for a in F._adcs:  # the track-and-hold: 10 mA through 1 kOhm (10 V; 2 V on the sense amplifier)
        if a.pin.id == P.ADC_SENSE:
            a.u16 = 10000 * 65535 // (3300 * P.SENSE_DIVIDER)
        elif a.pin.id == P.ADC_SENSE_I:
            a.u16 = 2000 * 65535 // 3300 + 1
    t = S.ticks_us()
    for ch in range(4):
        eng.set_target(ch, 10000, t)
    return eng, sup, drv, trips, bl


def _phase1_starts(drv):
    """(vclock ticks, channel) of every phase 1 the pulse machines delivered (their side-set
    timelines), and every high period as (start, end) in us on the fake's timeline."""
    starts = []
    spans = []
    for ch in range(4):
        log = drv.pulsers[ch].sm.side_log
        for k in range(len(log)):
            ns, v = log[k]
            if v and k + 1 < len(log):
                spans.append((ns // 1000, log[k + 1][0] // 1000))
            if v == 1:
                us = ns // 1000  # on the fake's unwrapped timeline: back to vclock ticks
                starts.append((S.ticks_add(R._CLK[0], us - R._CLK[1]) & 0x3FFFFFFF, ch))
    return starts, spans


def test_a_4_channel_burst_is_spaced_by_the_pio_never_by_a_wait_in_the_loop():
    eng, sup, drv, trips, bl = _armed_engine()
    recorded = []
    held = 0
    with S.CountingSleeps() as waits:
        for _ in range(4 * 10 * 34):  # 340 ms at 250 us a pass: 10 bursts
            S.advance_us(250)
            R.StateMachine.sync_all()  # the PIO ran meanwhile (its IRQs on time)
            t = S.ticks_us()
            eng.tick(t)
            if S.ticks_us() != t:
                held += 1  # the pass was held up inside tick (a sleep, a busy wait)
            while eng.pending():
                i = eng.r_head
                recorded.append((eng.r_t[i], eng.r_ch[i]))
                eng.r_head = (i + 1) % eng.cap
                eng.r_count -= 1
        S.advance_us(5000)
        for ch in range(4):
            drv.pulsers[ch].sm._sync()
    assert waits.n == 0 and held == 0, "the loop waited %d times (%d passes held up)" % (waits.n, held)
    assert not drv.tripped and not [c for c in trips if c[1]], (drv.fault, trips)
    assert len(recorded) >= 4 * 10, len(recorded)
    starts, spans = _phase1_starts(drv)
    # the side-set logs keep the newest changes: compare the pulses both still hold
    newest = sorted(starts)[-8:]
    for t, ch in newest:
        assert (t, ch) in recorded, ("a delivered phase 1 at %d on channel %d was recorded otherwise" % (t, ch),
                                     sorted(recorded)[-8:])
    spans.sort()
    for a, b in zip(spans, spans[1:]):
        assert b[0] >= a[1], ("two channels' phases overlap", a, b)
    # each burst: the four pulses back to back (guard + settle apart), one blank window
    last = sorted(recorded)[-4:]
    gaps = [S.mdiff(last[k + 1][0], last[k][0]) for k in range(3)]
    slot = L.slot_us(300, drv.settle_us)
    assert gaps == [slot] * 3, (gaps, slot)
    assert bl.count == 10 and bl.windows == len(recorded), (bl.count, bl.windows, len(recorded))


def test_a_stop_cancels_a_delayed_pulse_and_lets_one_in_flight_finish_balanced():
    slot = L.slot_us(300, P.SETTLE_US)
    # a stop while the pulse waits out its delay: cancelled, nothing delivered on that channel
    s = _stim()
    assert s.pulse(0, 10000, 300, L.INTERPHASE_US)
    assert s.pulse(1, 10000, 300, L.INTERPHASE_US, slot)
    s.off(1)
    S.advance_us(2 * slot + 200)
    R.StateMachine.sync_all()
    assert [p for p in s.pulsers[1].sm.phases] == [], s.pulsers[1].sm.phases
    assert s._collect() and not s.tripped, s.fault  # noqa: SLF001 - channel 0's pulse measured alone
    # a stop inside a pulse's phase 1: it finishes both phases; the one queued behind it is
    # still measured as its own
    s = _stim()
    assert s.pulse(2, 10000, 300, L.INTERPHASE_US)
    assert s.pulse(3, 10000, 400, L.INTERPHASE_US, slot)
    S.advance_us(P.SETTLE_US + 100)
    R.StateMachine.sync_all()
    s.off(2)
    S.advance_us(2 * slot + 400)
    R.StateMachine.sync_all()
    assert s.pulsers[2].sm.phases[-2:] == [(1, 300), (2, 300)], s.pulsers[2].sm.phases
    assert s.pulsers[3].sm.phases[-2:] == [(1, 400), (2, 400)], s.pulsers[3].sm.phases
    assert s._collect() and not s.tripped, s.fault  # noqa: SLF001
    assert abs(s.delivered[0] - 400) <= 1 and abs(s.delivered[1] - 400) <= 1, s.delivered
    assert s.amp[2].duty_u16() == 0  # its amplitude off once its pulse was checked
