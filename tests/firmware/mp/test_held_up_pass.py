# A loop pass held up while the AFE's DRDY interrupt keeps capturing (on the MCU: a BLE
# radio event, a flash write, a GC): the ring then holds several ms of samples and more
# arrive while the loop works through them. The blank windows and the artefact spans the
# EMG guard passes over must still land on each pulse's true samples (the sim stimulator
# records the AFE index of the first conversion every pulse affects), the decoder must
# not read the artefacts, and an artefact at the ADC rail must not read as a railed
# electrode (FAULT_EMG_RAIL stopping therapy), while a railed electrode still latches.
#
# The chip model fires its DRDY handler for the conversions due whenever it is touched
# (the sim board's poll does it every pass); `_Hold` touches it at the end of a hold, so
# that the interrupts a real MCU takes during the hold have happened when the loop goes on.
import stim_testlib as S

from array import array

from garmentfw import limits as L
from garmentfw import budget, wire
from garmentfw.sim.stimulator import ART_US
from garmentfw.stim_engine import counter_diff as _diff

LONG_PASS_US = 12000  # the pass before the burst: the ring holds more than one block (20 samples)


class _Hold:
    """The window stage: holds the pass up for ``hold_us`` in its first block (the DRDY
    interrupt capturing meanwhile) and keeps the largest filtered |value| per channel."""

    def __init__(self, chip):
        self.chip = chip
        self.hold_us = 0
        self.peak = array("i", bytes(32))
        self.on = False

    def configure(self, n_ch, fs, filters):
        pass

    def on_filtered(self, block, n, first):
        if self.hold_us:
            S.advance_us(self.hold_us)
            self.hold_us = 0
            self.chip.conversions()  # the interrupts of the hold
        if self.on:
            S.track_peak(self.peak, block, n)


class _Windows:
    """Per pulse: (AFE index of its first affected conversion, the blank window and the
    artefact span the Blanker holds for it right after the pulse)."""

    def __init__(self, blanker, drv):
        self.bl = blanker
        self.drv = drv
        self.got = []
        self._add = blanker.add
        blanker.add = self.add  # the engine calls blanker.add after each delivered pulse

    def add(self, t_us, dur_us, art_us=0):
        self._add(t_us, dur_us, art_us)
        bl = self.bl
        i = (bl.head + bl.count - 1) % bl.cap
        j = (bl.a_head + bl.a_count - 1) % bl.cap
        self.got.append((self.drv.last()[7], bl.ws[i], bl.we[i], bl.as_[j], bl.ae[j]))

    def misplaced(self):
        """Pulses whose artefact (ART_US from the first affected sample) falls outside the
        blank window or the guard's artefact span: (true index, window start - true, span
        start - true, span end - artefact end)."""
        n_art = 1 + ART_US * 2000 // 1000000
        bad = []
        for true, ws, we, as_, ae in self.got:
            if _diff(ws, true) > 0 or _diff(we, true + n_art) < 0 or _diff(as_, true) > 0 or _diff(ae, true + n_art) < 0:
                bad.append((true, _diff(ws, true), _diff(as_, true), _diff(ae, true + n_art)))
        return bad


class _Ride:
    """Test trains (15 mA, 30 Hz) on ``channels`` channels, armed; with ``hold_us`` every
    burst comes at the end of a held-up pass: a long pass (LONG_PASS_US) before it, then
    ``hold_us`` while the loop works through the samples. ``coupling``: the artefact's nV
    per uA (0: the sim's ~100, far from the rail)."""

    def __init__(self, hold_us, channels=4, coupling=0):
        self.b, self.d, self.stim, self.h = S.armed_device(channels=tuple(range(channels)), n_stim=channels)
        if coupling:
            self.b.stim.coupling = coupling
        self.hold_us = hold_us
        self.hold = _Hold(self.b.chip)
        self.d.set_stages(self.stim.artefacts, self.stim.guard, self.hold)
        self.win = _Windows(self.stim.artefacts.blanker, self.b.stim)
        self._held = None
        self._next_ping = S.ticks_us()
        self.channels = channels
        self.run(300)  # the filters settle
        for ch in range(channels):
            self.h.ok(wire.T_STIM_TEST, S.test_body(ch, 15000, dur=10000))

    def run(self, ms, until=None):
        """``ms`` of the loop (or until ``until()``); returns the ms it ran."""
        b, d, h, eng, hold = self.b, self.d, self.h, self.stim.engine, self.hold
        t0 = S.ticks_us()
        t_end = S.ticks_add(t0, ms * 1000)
        while S.ticks_diff(t_end, S.ticks_us()) > 0 and not (until is not None and until()):
            if S.ticks_diff(S.ticks_us(), self._next_ping) >= 0:
                h.ping()
                self._next_ping = S.ticks_add(self._next_ping, 100000)
            if not hold.on and b.stim.count >= 4 * self.channels:
                hold.on = True  # past the ramp's first pulses: the filters have settled
            due = eng.due[0]
            left = S.ticks_diff(due, S.ticks_us()) - LONG_PASS_US - self.hold_us
            if self.hold_us and eng.active_mask and due != self._held and 0 < left <= 1000:
                self._held = due
                S.advance_us(LONG_PASS_US)  # the loop was busy elsewhere (a flash write)
                hold.hold_us = self.hold_us  # and is held up again while it works through the ring
            S.advance_us(1000)
            d.step()
        return S.ticks_diff(S.ticks_us(), t0) // 1000


def _no_fault(r, hold_us):
    """FAULT_NONE, or why not: the supervisor's events say which check tripped (a guard
    stamp read ahead of the pass's clock is a false stall: the pass must read its `now`
    after it took its samples)."""
    f = r.stim.sup.fault
    assert f == wire.FAULT_NONE, (hold_us, wire.FAULT_NAMES.get(f, f),
                                  [bytes(e[5:]) for e in r.h.of_type(wire.R_EVENT) if b"FAULT" in e][-2:])


def _check_held_up(hold_us):
    r = _Ride(hold_us)
    r.run(1500)
    _no_fault(r, hold_us)
    assert len(r.win.got) >= 100, len(r.win.got)
    bad = r.win.misplaced()
    assert not bad, "%d of %d pulses' artefacts outside their blank window (held up %d us): %s" % (
        len(bad), len(r.win.got), hold_us, bad[:4])
    # the decoder's side: 15 mA couples ~1.5 mV (~67000 codes) into input 0; blanked, the
    # filtered EMG stays at the noise floor (a few codes)
    assert max(r.hold.peak) < 200, list(r.hold.peak)


def test_blank_windows_stay_on_the_pulses_of_a_steady_loop():
    _check_held_up(0)


def test_blank_windows_stay_on_the_pulses_when_the_pass_is_held_up_2ms():
    _check_held_up(2000)


def test_blank_windows_stay_on_the_pulses_when_the_pass_is_held_up_4ms():
    _check_held_up(4000)


def test_blank_windows_stay_on_the_pulses_when_the_pass_is_held_up_8ms():
    _check_held_up(8000)


# 15 mA x 200 uV/uA: every pulse drives all eight inputs to the ADC rail for 1-2 ms (its own
# input for ART_US) and a burst of eight channels keeps input 0 there for ~6 ms, longer than
# limits.RAIL_MS: the guard must pass over it as the artefact it is.
RAIL_COUPLING = 200000


def test_an_artefact_at_the_rail_is_no_railed_electrode_when_the_pass_is_held_up():
    for hold_us in (0, 8000):
        r = _Ride(hold_us, channels=8, coupling=RAIL_COUPLING)
        n = r.b.stim.count
        r.run(1500)
        _no_fault(r, hold_us)
        assert r.b.stim.count - n >= 300, r.b.stim.count - n  # the trains ran the whole time
        assert not r.win.misplaced(), (hold_us, r.win.misplaced()[:4])


def test_a_railed_electrode_still_latches_within_its_bound_when_the_pass_is_held_up():
    # the bound: RAIL_MS of samples at the rail, the next periodic check (PERIOD_MS), and
    # the loop getting round to the samples (a held-up pass: LONG_PASS_US + the hold)
    for hold_us in (0, 8000):
        r = _Ride(hold_us, channels=8, coupling=RAIL_COUPLING)
        r.run(500)
        _no_fault(r, hold_us)  # the artefacts alone latch nothing
        nv = array("i", bytes(4 * 8 * 400))
        for i in range(400):
            nv[i * 8 + 5] = 400000000  # input 5 beyond the +-187 mV range at gain 24: 200 ms
        r.b.chip.feed(nv, 400)  # converted from the next conversion on
        ms = r.run(200, until=lambda: r.stim.sup.fault != wire.FAULT_NONE)
        assert r.stim.sup.fault == wire.FAULT_EMG_RAIL and not r.b.stim.enabled, r.stim.sup.fault
        bound = L.RAIL_MS + budget.PERIOD_MS + (LONG_PASS_US + hold_us) // 1000 + 1
        assert ms <= bound, (hold_us, ms, bound)
        why = [bytes(e[5:]) for e in r.h.of_type(wire.R_EVENT) if b"FAULT" in e]
        assert any(b"rail" in w and b"0x20" in w for w in why), (hold_us, why)  # input 5 alone
