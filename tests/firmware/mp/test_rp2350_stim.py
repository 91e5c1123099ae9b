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
