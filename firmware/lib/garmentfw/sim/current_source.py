# A model of the reference board's constant-current output stage and its load, for the
# sim board and the firmware tests. It is as hard as the part:
# - the source drives the setpoint current only up to its compliance voltage
#   (COMPLIANCE_MV, 150 V, less the drop across the sense resistor); past it the source
#   is a voltage source and the current falls;
# - the load is the electrode-skin model: a series resistance (tissue, lead) plus the
#   interface as a parallel R-C, so the voltage climbs during a phase;
# - what the firmware reads back is what the board's track-and-hold measures at the end
#   of the first phase: the electrode voltage (mV) and the current through the sense
#   resistor (uA). A peeled electrode (series resistance ~1 MOhm) therefore reads as the
#   real board reads it: the voltage at compliance and a current far below the setpoint.
# Integer arithmetic only (exp(-x) from a table), no allocation per pulse.
from array import array

from micropython import const

COMPLIANCE_MV = const(150000)
SENSE_OHM = const(10)        # the sense resistor in the current's return path
# a nominal electrode pair on the thigh at 300 us: ~1.7 kOhm
NOMINAL_RS_OHM = const(1000)
NOMINAL_RP_OHM = const(1500)
NOMINAL_CP_NF = const(330)
_Q = const(16)
_ONE = const(1 << _Q)
_STEPS = const(32)            # table points per unit of x
_XMAX = const(12)             # exp(-12) ~ 6e-6: 0 beyond

# exp(-k / _STEPS) in Q16, k = 0 .. _XMAX * _STEPS (built once at import)
_EXP = array("i", [0] * (_XMAX * _STEPS + 2))


def _build() -> None:
    import math

    for k in range(len(_EXP)):
        _EXP[k] = int(math.exp(-k / _STEPS) * _ONE + 0.5)


_build()


def exp_neg(t: int, tau: int) -> int:
    """exp(-t / tau) in Q16 (t, tau >= 0, same unit; tau 0: 0). Allocation-free."""
    if tau <= 0:
        return 0
    if t <= 0:
        return _ONE
    x = t * (_STEPS * 1024) // tau  # x * _STEPS in Q10
    k = x >> 10
    if k >= _XMAX * _STEPS:
        return 0
    f = x & 1023
    a = _EXP[k]
    return a - (((a - _EXP[k + 1]) * f) >> 10)


class CurrentSource:
    """Per channel: the load (rs, rp, cp_nf) and the last reading (mv, ua: -1 = none)."""

    def __init__(self, n_channels: int, compliance_mv: int = COMPLIANCE_MV, sense_ohm: int = SENSE_OHM):
        self.n = n_channels
        self.compliance_mv = compliance_mv
        self.sense_ohm = sense_ohm
        self.rs = array("i", [NOMINAL_RS_OHM] * n_channels)
        self.rp = array("i", [NOMINAL_RP_OHM] * n_channels)
        self.cp = array("i", [NOMINAL_CP_NF] * n_channels)
        self.mv = array("i", [-1] * n_channels)
        self.ua = array("i", [-1] * n_channels)
        self.saturated = 0  # pulses that hit the compliance voltage

    def set_load(self, ch: int, rs_ohm: int, rp_ohm: int = 0, cp_nf: int = 0) -> None:
        """The electrode pair of ``ch``: series rs plus rp || cp (rp 0: no interface;
        cp 0: the interface is a plain resistance)."""
        self.rs[ch] = rs_ohm
        self.rp[ch] = rp_ohm
        self.cp[ch] = cp_nf

    def clear(self, ch: int = -1) -> None:
        """Forget the readings (of one channel, or all): nothing is known until the next pulse."""
        for i in range(self.n):
            if ch < 0 or i == ch:
                self.mv[i] = -1
                self.ua[i] = -1

    def drive(self, ch: int, setpoint_ua: int, width_us: int) -> None:
        """One first phase of ``width_us`` at ``setpoint_ua``: store what the board's
        track-and-hold reads at its end (electrode mV, sense-resistor uA)."""
        rs = self.rs[ch]
        rp = self.rp[ch]
        cp = self.cp[ch]
        vmax = self.compliance_mv - setpoint_ua * self.sense_ohm // 1000  # headroom for the load
        if rp <= 0:
            rp = 0
            cp = 0
        tau = rp * cp // 1000  # us (ohm * nF = 1e-3 us)
        # unsaturated: V(t) = I * (rs + rp * (1 - exp(-t / tau)))
        if cp > 0:
            r_end = rs + (rp * (_ONE - exp_neg(width_us, tau)) >> _Q)
        else:
            r_end = rs + rp
        v = setpoint_ua * r_end // 1000
        if v <= vmax:
            self.mv[ch] = v
            self.ua[ch] = setpoint_ua
            return
        self.saturated += 1
        vc = self.compliance_mv
        r1 = rs + self.sense_ohm
        if cp == 0:  # resistive: i = Vc / (R_sense + R)
            i = vc * 1000 // (r1 + rp)
            self.ua[ch] = i
            self.mv[ch] = i * (rs + rp) // 1000
            return
        # the time the ramp reaches the headroom (bisection on the exact curve)
        lo = 0
        hi = width_us
        if setpoint_ua * rs // 1000 >= vmax:
            hi = 0
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if setpoint_ua * (rs + (rp * (_ONE - exp_neg(mid, tau)) >> _Q)) // 1000 >= vmax:
                hi = mid
            else:
                lo = mid
        ts = hi
        vcap = setpoint_ua * (rp * (_ONE - exp_neg(ts, tau)) >> _Q) // 1000  # mV on the interface
        # then a voltage source vc behind r1: the interface settles towards vinf with tau2
        vinf = vc * rp // (r1 + rp)
        tau2 = cp * (r1 * rp // (r1 + rp)) // 1000
        vcap = vinf + ((vcap - vinf) * exp_neg(width_us - ts, tau2) >> _Q)
        i = (vc - vcap) * 1000 // r1
        if i < 0:
            i = 0
        self.ua[ch] = i
        self.mv[ch] = vc - i * self.sense_ohm // 1000
