# A spiking central pattern generator for FES cycling: an integer leaky-integrate-and-fire
# half-centre oscillator. Two neurons (A, B) inhibit each other; each tires by spike-
# frequency adaptation, so A fires a burst, adapts, releases B, which fires its burst:
# alternating bursts, A for one leg's extension, B for the other's. Stimulation channels
# follow a side's bursts (the policy's cpg_side); crank afferents (one bundle of synapses
# per phase bin of the advanced crank angle) and the rider's own EMG (one weight per side)
# entrain the rhythm. One step per millisecond, integers only, no allocation (viper).
#
# The host reference (garment.rider.cpg_reference) computes the same integers with numpy;
# models/golden/cpg_*.json pins both.
#
# Per step, for neuron i (j = the other), all values int32 and bounded (see LIMITS):
#   in_i  = tonic + w[bin][i] (if the crank is fresh) + (w_emg * act_i >> 12) - s_j - a_i
#   v_i  += in_i - (v_i >> leak_sh);  v_i = max(v_i, 0)
#   v_i >= thr: spike: v_i = 0, a_i += a_inc, s_i += w_inh (the other sees it next step)
#   s_i  -= s_i >> syn_sh;  a_i -= a_i >> a_sh;  since_i = ms since the last spike
# A side is bursting while since_i < hold_ms.
import micropython
from array import array


from garmentfw.spec_params import int_params
from garmentfw.cpg_spec import LIMITS, MAX_BINS, P_BINS, P_W_EMG, P_HOLD, P_THR, S_LEN, S_SINCE, S_V, SINCE_MAX, W_MAX, default_weights

assert W_MAX == 65536  # the bias cpg_run subtracts as a literal


@micropython.viper
def cpg_run(st: ptr32, par: ptr32, w: ptr32, b: int, act0: int, act1: int, steps: int):
    # b: crank phase bin (-1: no crank input); act0/act1: EMG activation per side (Q12).
    # signed weights are stored biased by +W_MAX (non-negative words load the same on
    # 32-bit MCUs and the 64-bit unix port: no sign extension needed)
    tonic = par[0]
    thr = par[1]
    lsh = par[2]
    ssh = par[3]
    ash = par[4]
    winh = par[5]
    ainc = par[6]
    wemg = par[7] - 65536
    e0 = (wemg * act0) >> 12
    e1 = (wemg * act1) >> 12
    c0 = 0
    c1 = 0
    if b >= 0:
        c0 = w[2 * b] - 65536
        c1 = w[2 * b + 1] - 65536
    k = 0
    while k < steps:
        v0 = st[0]
        v1 = st[1]
        a0 = st[2]
        a1 = st[3]
        s0 = st[4]
        s1 = st[5]
        v0 = v0 + tonic + c0 + e0 - s1 - a0 - (v0 >> lsh)
        v1 = v1 + tonic + c1 + e1 - s0 - a1 - (v1 >> lsh)
        if v0 < 0:
            v0 = 0
        if v1 < 0:
            v1 = 0
        n0 = st[6] + 1
        n1 = st[7] + 1
        if v0 >= thr:
            v0 = 0
            a0 += ainc
            s0 += winh
            n0 = 0
            st[8] = (st[8] + 1) & 0x3FFFFFFF
        if v1 >= thr:
            v1 = 0
            a1 += ainc
            s1 += winh
            n1 = 0
            st[9] = (st[9] + 1) & 0x3FFFFFFF
        if n0 > 0x3FFF:
            n0 = 0x3FFF
        if n1 > 0x3FFF:
            n1 = 0x3FFF
        st[0] = v0
        st[1] = v1
        st[2] = a0 - (a0 >> ash)
        st[3] = a1 - (a1 >> ash)
        st[4] = s0 - (s0 >> ssh)
        st[5] = s1 - (s1 >> ssh)
        st[6] = n0
        st[7] = n1
        k += 1


class Cpg:
    """The half-centre oscillator's state, parameters and crank weights."""

    def __init__(self):
        self.state = array("i", bytes(4 * S_LEN))
        self.par = array("i", [d for _, d, _, _ in LIMITS])
        self.par[P_W_EMG] += W_MAX  # stored biased (see cpg_run)
        self.w = array("i", [W_MAX] * (2 * MAX_BINS))  # weight 0, biased
        self.reset()

    def reset(self) -> None:
        st = self.state
        for i in range(S_LEN):
            st[i] = 0
        st[S_V] = self.par[P_THR] // 2  # A starts ahead: a defined first burst
        st[S_SINCE] = SINCE_MAX
        st[S_SINCE + 1] = SINCE_MAX

    @classmethod
    def from_dict(cls, d) -> "Cpg":
        """From the LIMITS names plus ``weights`` (a flat list [A0, B0, A1, B1, ...]: per
        crank bin the weight to A and to B); ValueError names what is wrong."""
        c = cls()
        int_params(d, LIMITS, "cpg", c.par, ("weights",))
        c.par[P_W_EMG] += W_MAX  # stored biased (see cpg_run)
        bins = c.par[P_BINS]
        ws = d.get("weights", default_weights(bins))
        if not isinstance(ws, list) or len(ws) != 2 * bins:
            raise ValueError("cpg weights must be a flat list of %d numbers: [to A, to B] per crank bin" % (2 * bins))
        for i in range(2 * bins):
            v = ws[i]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not -W_MAX <= v <= W_MAX:
                raise ValueError("cpg weights[%d]=%r must be an integer in -%d..%d" % (i, v, W_MAX, W_MAX))
            c.w[i] = int(v) + W_MAX  # stored biased (see cpg_run)
        c.reset()
        return c

    def run(self, angle_cdeg: int, act0: int, act1: int, steps: int) -> None:
        """``steps`` ms with the advanced crank angle (cdeg, -1 = none) and the EMG
        activations of the two sides (Q12). Allocation-free."""
        b = -1
        if angle_cdeg >= 0:
            b = angle_cdeg * self.par[P_BINS] // 36000
        cpg_run(self.state, self.par, self.w, b, act0, act1, steps)

    def bursting(self, side: int) -> bool:
        return self.state[S_SINCE + side] < self.par[P_HOLD]

