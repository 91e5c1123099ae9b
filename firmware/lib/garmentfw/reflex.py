# The withdrawal reflex: a spiking network that stops stimulation on signs of discomfort
# (a sudden burst of antagonist co-contraction in the EMG; a sudden drop of the
# stimulation electrodes' impedance); see reflex_spec.py for the equations. The cycling
# policy asks it every call; while it holds, every channel's request is 0 (the supervisor
# still decides what reaches the electrodes; a stop is a decrease, which is immediate).
# Viper, no allocation.
import micropython
from array import array

from garmentfw.limits import IMPEDANCE_MAX_OHM
from garmentfw.reflex_spec import LIMITS, N_Z, S_LEN
from garmentfw.spec_params import int_params


@micropython.viper
def reflex_run(st: ptr32, par: ptr32, q0: int, h0: int, q1: int, h1: int, z: ptr32, steps: int) -> int:
    # returns 1 if a withdrawal fired in these steps; z: N_Z impedance readings (ohm, 0 none)
    level = par[0]
    bsh = par[1]
    lsh = par[2]
    thr = par[3]
    wl = par[4]
    osh = par[5]
    thro = par[6]
    hold = par[7]
    zlevel = par[8]
    zbsh = par[9]
    zlsh = par[10]
    zthr = par[11]
    wz = par[12]
    zmax = int(IMPEDANCE_MAX_OHM)
    c0 = q0 if q0 < h0 else h0
    c1 = q1 if q1 < h1 else h1
    # the electrodes' summed drop below their baselines at the call's start (Q12 of each)
    rs = 0
    e = 0
    while e < 4:
        ze = z[e]
        if 0 < ze <= zmax:
            zb = st[7 + e]
            if zb == 0:
                st[7 + e] = ze << 12  # the first reading is the baseline
            else:
                b = zb >> 12
                if b > 0:
                    r = (b - ze) * 4096 // b - zlevel
                    if r > 0:
                        rs += r
        e += 1
    fired = 0
    k = 0
    while k < steps:
        b0 = st[2]
        b1 = st[3]
        b0 += (c0 - b0) >> bsh
        b1 += (c1 - b1) >> bsh
        st[2] = b0
        st[3] = b1
        d0 = c0 - b0 - level
        d1 = c1 - b1 - level
        if d0 < 0:
            d0 = 0
        if d1 < 0:
            d1 = 0
        v0 = st[0]
        v1 = st[1]
        v0 += d0 - (v0 >> lsh)
        v1 += d1 - (v1 >> lsh)
        n = 0
        if v0 >= thr:
            v0 = 0
            n += 1
        if v1 >= thr:
            v1 = 0
            n += 1
        st[0] = v0
        st[1] = v1
        # the electrodes' baselines, and the impedance neuron
        e = 0
        while e < 4:
            ze = z[e]
            if 0 < ze <= zmax:
                zb = st[7 + e]
                st[7 + e] = zb + (((ze << 12) - zb) >> zbsh)
            e += 1
        u = st[11]
        u += rs - (u >> zlsh)
        nz = 0
        if u >= zthr:
            u = 0
            nz = 1
        st[11] = u
        vo = st[4]
        vo += wl * n + wz * nz - (vo >> osh)
        if vo >= thro:
            vo = 0
            st[5] = (st[5] + 1) & 0x3FFFFFFF
            st[6] = hold
            fired = 1
        elif st[6] > 0:
            st[6] = st[6] - 1
        st[4] = vo
        k += 1
    return fired


class Reflex:
    """The reflex's state and parameters (``reflex_<name>`` in the cycling policy)."""

    def __init__(self):
        self.state = array("i", bytes(4 * S_LEN))
        self.par = array("i", [d for _, d, _, _ in LIMITS])
        self.z = array("i", bytes(4 * N_Z))  # the electrodes' latest impedance readings (ohm)

    @classmethod
    def from_dict(cls, d) -> "Reflex":
        r = cls()
        int_params(d, LIMITS, "reflex", r.par)
        return r

    def run(self, q0: int, h0: int, q1: int, h1: int, steps: int) -> bool:
        """``steps`` ms at these activations (Q12: left quadriceps, left hamstrings, right
        quadriceps, right hamstrings) and the impedance readings in ``self.z``; True if it
        withdrew. Allocation-free."""
        return reflex_run(self.state, self.par, q0, h0, q1, h1, self.z, steps) != 0

    def holding(self) -> bool:
        return self.state[6] > 0

    @property
    def withdrawals(self) -> int:
        return self.state[5]
