# The pattern generator's contract (garmentfw/cpg.py runs it; the host reference
# garment.rider.cpg_reference computes it bit-exactly): state and parameter layout, the
# parameters' ranges and the default crank weights. Plain Python: MicroPython and CPython
# both import this file (the host loads it via garment.contracts).
try:
    from micropython import const
except ImportError:  # CPython (the host)

    def const(x):  # type: ignore[misc]
        return x


# state words
S_V = const(0)  # v0, v1
S_A = const(2)  # adaptation a0, a1
S_S = const(4)  # inhibitory traces s0, s1
S_SINCE = const(6)  # ms since the last spike, saturating at SINCE_MAX
S_COUNT = const(8)  # spikes so far (wraps at 2**30)
S_LEN = const(10)
SINCE_MAX = const(0x3FFF)

# parameter words
P_TONIC = const(0)
P_THR = const(1)
P_LEAK_SH = const(2)
P_SYN_SH = const(3)
P_A_SH = const(4)
P_W_INH = const(5)
P_A_INC = const(6)
P_W_EMG = const(7)
P_HOLD = const(8)
P_BINS = const(9)
P_LEN = const(10)
MAX_BINS = const(16)

# (name, default, lowest, highest): ranges keep every sum below 2**29 (32-bit safe).
# Defaults: free-running the two sides alternate with a ~0.36 s period (each ~48 % of
# the time); crank weights of +-700 or more lock the bursts to the crank at 60-80 rpm.
LIMITS = (
    ("tonic", 6000, 0, 1 << 16),
    ("thr", 1 << 16, 1 << 8, 1 << 20),
    ("leak_sh", 4, 1, 12),
    ("syn_sh", 5, 1, 12),
    ("a_sh", 11, 1, 12),
    ("w_inh", 1500, 0, 1 << 16),
    ("a_inc", 20, 0, 1 << 12),
    ("w_emg", 0, -(1 << 16), 1 << 16),
    ("hold_ms", 50, 1, 1000),
    ("bins", 8, 1, MAX_BINS),
)
W_MAX = const(1 << 16)  # |crank weight|


def default_weights(bins):
    """Crank afferents, flat [A0, B0, A1, B1, ...]: the first half of the cycle excites A
    and inhibits B, the second half the reverse (A = the left leg's extension)."""
    out = []
    for i in range(bins):
        x = 1400 if 2 * i < bins else -1400
        out.append(x)
        out.append(-x)
    return out
