# The sim board's stimulation electrodes on the rider's skin: how the electrode-skin
# interface (the parallel R-C of sim/current_source.py; the series resistance is tissue
# and lead, and stays) changes while the garment is worn and stimulates. Per channel the
# nominal load (what RIG_LOAD / RIG_IMPEDANCE set) is changed before every pulse by:
# - hydration: sweat accumulating under the electrode lowers the interface resistance
#   over minutes of wear (HYD_PM at most, time constant HYD_TAU_MS);
# - contact noise: every pulse sees the interface a little different (+-NOISE_PM, a
#   deterministic generator), as skin moving under a pedalling thigh does;
# - an electrodermal response to discomfort (rig: skin_event SKIN_SCR): sympathetic sweat
#   lowers the interface resistance of every electrode it names after a latency, rising
#   and recovering over seconds (Boucsein, Electrodermal Activity, 2nd ed. 2012: latency
#   1-3 s, rise time 1-3 s, half recovery 2-10 s; here 1.5 s, peak 1.8 s after onset,
#   recovery time constant 5 s), the drop at its peak = strength x SCR_MAX_PM;
# - a local breakdown (SKIN_BREAKDOWN): the stratum corneum under one electrode gives way
#   (a pore-forming, lower-resistance path under high voltage: Birlea et al. 2009, IEEE
#   EMBC, "Detecting electroporation ... in the exponential response of human skin"), the
#   interface resistance falling by the given fraction within ~0.1 s and staying;
# - the contact area (SKIN_AREA, peeling): the interface resistance grows and its
#   capacitance shrinks in proportion to the area lost (a fully peeled electrode is
#   RIG_IMPEDANCE's ~1 MOhm, which the supervisor's electrode check latches off).
# What the firmware sees is only the reading of the board's track-and-hold at the end of
# the first phase, through the current-source model: with the nominal pair (1 kOhm series,
# 1.5 kOhm || 330 nF) at 300 us the interface is half charged, so a 50 % interface drop
# shows as about 10 % of the reading (the time
# constant falls with it). Integer arithmetic, no allocation per pulse.
import time
from array import array

from micropython import const

from garmentfw.sim.current_source import exp_neg

SKIN_SCR = const(0)  # value: strength per mille (1000: the largest response)
SKIN_BREAKDOWN = const(1)  # value: the interface resistance's drop per mille
SKIN_AREA = const(2)  # value: the contact area left per mille (1000: full contact)
HYD_PM = const(300)
HYD_TAU_MS = const(300000)
NOISE_PM = const(10)
SCR_LATENCY_MS = const(1500)
SCR_RISE_MS = const(1000)
SCR_DECAY_MS = const(5000)
SCR_MAX_PM = const(500)
BREAKDOWN_TAU_MS = const(100)
_SCR_NORM = const(1717)  # 1 / max((1 - e^-t/rise) e^-t/decay) x 1000 (the peak, at 1.79 s)


def _exp(t: int, tau: int) -> int:
    """exp(-t / tau) in Q16 for any t >= 0 (exp_neg scales t by 2**15: halve both until it
    fits 30 bits, so a 32-bit core keeps small ints)."""
    while t >= 32768:
        t >>= 1
        tau >>= 1
    return exp_neg(t, tau)


class ElectrodeSkin:
    """Per channel: the nominal load, and what wear, sweat and discomfort do to it."""

    def __init__(self, n_channels: int, rs, rp, cp, clock_us=None):
        self.n = n_channels
        self.rs0 = array("i", rs)
        self.rp0 = array("i", rp)
        self.cp0 = array("i", cp)
        self.area = array("i", [1000] * n_channels)
        self.brk = array("i", bytes(4 * n_channels))  # breakdown: target drop per mille
        self.brk_now = array("i", bytes(4 * n_channels))
        self.brk_ms = array("i", bytes(4 * n_channels))  # wear ms at its start
        self.brk_from = array("i", bytes(4 * n_channels))
        self.scr_ms = array("i", [-1] * n_channels)  # wear ms of the response's onset; -1 none
        self.scr_pm = array("i", bytes(4 * n_channels))
        self.hydration = True
        self.noise = True
        self.wear_ms = 0  # time the garment has been worn (its clock since power-up)
        self._us = 0
        self._frac = 0
        self._seed = 12345
        self._clock = clock_us or time.ticks_us
        self._last = self._clock()

    def set_nominal(self, ch: int, rs: int, rp: int, cp: int) -> None:
        self.rs0[ch] = rs
        self.rp0[ch] = rp
        self.cp0[ch] = cp

    def event(self, kind: int, mask: int, value: int) -> None:
        """A rig's skin event on the channels of ``mask`` (SKIN_SCR, SKIN_BREAKDOWN,
        SKIN_AREA; value per mille, 0..1000). ValueError on anything else."""
        if kind not in (SKIN_SCR, SKIN_BREAKDOWN, SKIN_AREA) or not 0 <= value <= 1000:
            raise ValueError("skin event kind %r value %r (kinds 0..2, value 0..1000 per mille)" % (kind, value))
        if kind == SKIN_AREA and value < 100:
            raise ValueError("skin contact area %d per mille: below 100, a peeled electrode is RIG_IMPEDANCE's ~1 MOhm" % value)
        self.tick()
        for ch in range(self.n):
            if not mask >> ch & 1:
                continue
            if kind == SKIN_SCR:
                self.scr_ms[ch] = self.wear_ms
                self.scr_pm[ch] = value
            elif kind == SKIN_BREAKDOWN:
                self.brk_from[ch] = self._brk(ch)
                self.brk[ch] = value
                self.brk_ms[ch] = self.wear_ms
            else:
                self.area[ch] = value

    def tick(self) -> None:
        """Advance the wear clock to now (ticks wrap at 2**30: differences only)."""
        now = self._clock()
        d = time.ticks_diff(now, self._last)
        self._last = now
        if d > 0:
            self._us += d
            if self._us >= 1000:
                self.wear_ms += self._us // 1000
                self._us %= 1000

    def _brk(self, ch: int) -> int:
        # breakdown drop now: from where it was towards its target
        b0 = self.brk_from[ch]
        e = _exp(self.wear_ms - self.brk_ms[ch], BREAKDOWN_TAU_MS)
        return self.brk[ch] + (((b0 - self.brk[ch]) * e) >> 16)

    def interface_pm(self, ch: int) -> int:
        """The interface resistance now, per mille of its nominal at full contact."""
        f = 1000
        if self.hydration:
            f = f * (1000 - HYD_PM + ((HYD_PM * _exp(self.wear_ms, HYD_TAU_MS)) >> 16)) // 1000
        t0 = self.scr_ms[ch]
        if t0 >= 0:
            t = self.wear_ms - t0 - SCR_LATENCY_MS
            if t > 0:
                shape = (((65536 - _exp(t, SCR_RISE_MS)) >> 2) * (_exp(t, SCR_DECAY_MS) >> 1)) >> 13  # Q16, < 2**30
                d = (self.scr_pm[ch] * SCR_MAX_PM // 1000) * (shape * _SCR_NORM // 1000) >> 16
                f = f * (1000 - d) // 1000
        f = f * (1000 - self._brk(ch)) // 1000
        if self.noise:
            self._seed = (self._seed * 75 + 74) % 65537  # small ints on a 32-bit core too
            f = f * (1000 - NOISE_PM + self._seed % (2 * NOISE_PM + 1)) // 1000
        return f * 1000 // self.area[ch]

    def apply(self, ch: int, source) -> None:
        """Before a pulse on ``ch``: the load the current-source model drives now (every
        product stays below 2**30: small ints on a 32-bit core)."""
        self.tick()
        rp = self.rp0[ch]
        cp = self.cp0[ch]
        source.rs[ch] = self.rs0[ch]
        if rp <= 0 or rp > 50000 or cp > 100000:  # not a skin interface (a plain or peeled load)
            source.rp[ch] = rp
            source.cp[ch] = cp
            return
        source.rp[ch] = rp * self.interface_pm(ch) // 1000
        source.cp[ch] = cp * self.area[ch] // 1000
