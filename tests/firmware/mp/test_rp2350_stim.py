# The RP2350 board's stimulator HAL (boards/rp2350_stim.py, PIO programs in
# boards/rp2_pio.py) on a fake rp2 (fake_rp2) that assembles the real PIO program and
# runs it cycle by cycle: the pulse is queued to the state machine (the CPU never waits),
# both phases come from the one queued width and are delivered at exactly the programmed
# width, and a width the output stage must not deliver is refused and trips the output.
import stim_testlib as S

import fake_rp2 as R  # noqa: E402

R.install()

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
        got = sm.phases[-2:]
        assert got == [(1, w), (2, w)], "programmed %d us, delivered %s" % (w, got)


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
