# The withdrawal reflex's contract (garmentfw/reflex.py runs it; the host reference
# garment.rider.reflex_reference computes it bit-exactly): parameters and ranges. Plain
# Python: MicroPython and CPython both import this file.
#
# A small spiking network, one step per ms, integers only. Per leg a nociceptive neuron
# reads antagonist co-contraction: c = min(quadriceps, hamstrings activation) (Q12), a
# slow baseline b += (c - b) >> base_sh, and the sudden part d = c - b - level:
#   v_leg += max(d, 0) - (v_leg >> leak_sh); v_leg >= thr_leg: spike, v_leg = 0
# (temporal summation: a brief blip leaks away, a sustained burst fires). Both legs'
# spikes add w_leg to one withdrawal neuron (spatial summation):
#   v_out += w_leg * spikes - (v_out >> out_sh); v_out >= thr_out: withdraw
# The stronger the burst, the faster the spikes: the latency encodes the strength.
try:
    from micropython import const
except ImportError:  # CPython (the host)

    def const(x):  # type: ignore[misc]
        return x


# (name, default, lowest, highest); every value stays below 2**29 (32-bit safe)
LIMITS = (
    ("level", 600, 0, 4096),  # co-contraction above the baseline that counts (Q12)
    ("base_sh", 9, 1, 14),  # baseline time constant 2**base_sh ms
    ("leak_sh", 3, 1, 10),  # nociceptor leak 2**leak_sh ms
    ("thr_leg", 8192, 16, 1 << 20),
    ("w_leg", 3000, 1, 1 << 20),
    ("out_sh", 5, 1, 10),
    ("thr_out", 8192, 16, 1 << 20),
    ("hold_ms", 3000, 10, 60000),  # stimulation stays off this long after a withdrawal
)
# state words: v_leg0, v_leg1, base0, base1, v_out, withdrawals, off_left_ms
S_LEN = const(7)
