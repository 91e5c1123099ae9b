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
#
# Electrode impedance (every board with a stimulator measures it after each pulse: the
# supervisor's electrode check, |V/I| at the end of the first phase; no board has an
# electrode temperature sensor). Per stimulation electrode e (up to 4, the policy's
# reflex_z), its latest reading z_e (ohm; 0: none yet; a reading above
# limits.IMPEDANCE_MAX_OHM is the supervisor's electrode fault and counts as none). A baseline in Q12 ohm,
# zb_e = z_e << 12 at the first reading, then per ms zb_e += ((z_e << 12) - zb_e) >> zb_sh
# (slow: sweat and hydration drift over minutes pass), and per call the sudden drop below it
# as a fraction of it, r_e = max(((zb_e >> 12) - z_e) * 4096 // (zb_e >> 12) - zlevel, 0)
# (Q12). One impedance neuron sums every electrode (spatial summation: one electrode must
# drop far to fire it alone, several together less each), leaking (temporal summation):
#   u += r_0 + r_1 + r_2 + r_3 - (u >> zleak_sh); u >= zthr: spike, u = 0
# and each spike adds w_z to the same withdrawal neuron as the legs (w_z >= thr_out: one
# impedance spike withdraws; w_z = 0 reads no impedance). The larger the summed drop, the
# sooner u crosses: 2**zleak_sh * ln(1 / (1 - zthr / (2**zleak_sh * sum r))) ms.
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
    ("zlevel", 123, 0, 4096),  # impedance drop below the baseline that counts (Q12: 3 %)
    ("zb_sh", 14, 4, 16),  # impedance baseline time constant 2**zb_sh ms (16 s)
    ("zleak_sh", 7, 1, 10),  # impedance nociceptor leak 2**zleak_sh ms
    ("zthr", 39322, 16, 1 << 22),  # a summed drop of 7.5 % (zlevel each) held long fires
    ("w_z", 8192, 0, 1 << 20),
)
# state words: v_leg0, v_leg1, base0, base1, v_out, withdrawals, off_left_ms, then the
# electrodes' baselines zb0..zb3 (Q12 ohm) and the impedance neuron u
S_LEN = const(12)
N_Z = const(4)
