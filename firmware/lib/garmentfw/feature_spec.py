# The feature contract: THE one definition of the windowed EMG features, shared by the
# firmware (garmentfw/features.py, incremental integer code) and the host
# (garment.features.reference, numpy batch code). Plain Python: MicroPython and
# CPython both import this file (the host loads it via garment.contracts).
#
# INPUT. Per channel a stream of int32 samples x[n], n = 0, 1, 2, ... counted from
# the extractor's reset. Each sample is first SATURATED to the 24-bit ADC-code range
# [SAMPLE_MIN, SAMPLE_MAX]; every definition below uses the saturated values.
#
# WINDOWS. Window length W samples, increment I samples (WINDOW_MIN <= W <= WINDOW_MAX,
# 1 <= I <= W). Window k covers samples s..e with e = W - 1 + k*I and s = e - W + 1:
# the first window ends at sample index W-1, the next ones every I samples. Every
# feature depends only on the W samples of its window (nothing before s is used).
#
# FEATURES per channel (all results are integers of magnitude < 2^25, small ints; all but
# AR1..AR4 and CR1..CR3 are non-negative):
#   MAV = floor( sum_{n=s..e} |x[n]| / W )                       mean absolute value
#   WL  = floor( sum_{n=s+1..e} |x[n]-x[n-1]| / (W-1) )          waveform length,
#         normalised per difference (mean absolute first difference, ADC codes)
#   ZC  = #{ n in s+1..e : x[n-1]*x[n] < 0  and  |x[n]-x[n-1]| >= zc_thr }
#         (Hudgins zero crossings: strict sign change, a zero sample never crosses)
#   SSC = #{ m in s+1..e-1 : (x[m]-x[m-1])*(x[m]-x[m+1]) > 0  and
#            ( |x[m]-x[m-1]| >= ssc_thr  or  |x[m]-x[m+1]| >= ssc_thr ) }
#         (slope sign changes: m is a strict local maximum or minimum)
#   RMS = isqrt( floor( sum_{n=s..e} x[n]^2 / W ) )              integer root mean square
#         (isqrt = floor of the exact square root; exact, no pre-shift, ADC codes)
#   M2  = isqrt( floor( sum_{n=s+1..e} D1[n]^2 / (W-1) ) ),  D1[n] = min(|x[n]-x[n-1]|, SAMPLE_MAX)
#   M4  = isqrt( floor( sum_{n=s+2..e} D2[n]^2 / (W-2) ) ),  D2[n] = min(|x[n]-2x[n-1]+x[n-2]|, SAMPLE_MAX)
#         the roots of the second and fourth spectral moments of the window (by Parseval,
#         the power of the first and second derivative: Hjorth; TD-PSD, Al-Timemy et al.
#         2016). With RMS (root of the zeroth moment) and the model's log2 input
#         transform, TD-PSD's log moments, Hjorth mobility log(M2/RMS) and complexity
#         log(M4/M2) are linear in the decoder's inputs. The saturation at 2^23 - 1 (real
#         EMG is far below it) keeps their 32-bit limbs the same as RMS's.
#   AR1..AR4 = a_1..a_4, the order-4 autoregressive (linear-prediction) coefficients of the
#         window in AR_Q fixed point (value / 2^AR_Q), by the autocorrelation (Yule-Walker)
#         method, Levinson-Durbin in integers, sign as LibEMG's AR / librosa.lpc:
#         x[n] + a_1 x[n-1] + ... + a_4 x[n-4] = prediction error. Exactly:
#         R_k = sum_{n=s+k..e} x[n] x[n-k], k = 0..4 (exact, |R_k| <= R_0 < 2^56).
#         R_0 = 0: every a_k = 0. Otherwise b = bit length of R_0, sh = max(0, b - 16),
#         R'_k = floor(R_k / 2^sh) (so 2^15 <= R'_0 < 2^16 when sh > 0),
#         rho_k = sgn(R'_k) * min( floor(|R'_k| * 2^AR_Q / R'_0), 2^AR_Q ).
#         With rnd(v) = floor((v + 2^(AR_Q-1)) / 2^AR_Q) and ONE = 2^AR_Q:
#           E = ONE; a_1..a_4 = 0
#           for m = 1..4:
#             acc = rho_m + sum_{i=1..m-1} rnd(a_i * rho_{m-i})
#             k = 0 if acc == 0, else -sgn(acc) * (ONE - 1 if |acc| >= E
#                                                  else floor(|acc| * ONE / E))
#             a_i <- a_i + rnd(k * a_{m-i}) for i = 1..m-1 (all from the old a), a_m = k
#             E <- E - rnd(E * rnd(k * k))
#         |k| < ONE keeps |a_i| <= C(4, i) * ONE (+ rounding), so every product above is
#         < 2^31 on a 32-bit word; E stays in [0, ONE] and is never a divisor when 0.
#         AR needs window >= AR_WINDOW_MIN. Any AR feature costs all four (one recursion).
#   CR1..CR3 = the correlation of the channel c with the channel d = (c + k) mod n_ch,
#         k = 1..3 (on an armband: its neighbours), in CR_Q fixed point (value / 2^CR_Q):
#         a pattern of co-activation that does not scale with the effort. Exactly:
#         S = sum_{n=s..e} x_c[n] x_d[n] (exact, |S| <= sqrt(A B) by Cauchy-Schwarz),
#         A, B = R_0 of c and of d (RMS's sums of squares). A = 0 or B = 0: CRk = 0.
#         For V in (A, B): sh_V = bitlen(V) - 29, minus 1 if that is odd (so it is even,
#         possibly negative), V' = floor(V / 2^sh_V) (V * 2^-sh_V when sh_V < 0; 2^28 <=
#         V' < 2^30), r_V = isqrt(V') (2^14 <= r_V < 2^15). D = floor(r_A r_B / 2^14)
#         (2^14 <= D < 2^16), t = (sh_A + sh_B) / 2, M = floor(|S| / 2^t) (|S| * 2^-t when
#         t < 0; M < 2^30), CRk = sgn(S) * min(floor(M / D), 2^CR_Q).
#         CRk needs n_ch > k. Any CR feature costs the cross sums of every offset up to
#         the largest one named.
# Thresholds are in ADC codes, 0 <= thr <= THR_MAX (0 disables the amplitude test).
#
# PER-SAMPLE CONTRIBUTIONS (how the device gets the same numbers incrementally):
#   sample n contributes a[n] = |x[n]|                 to MAV and RMS (as a[n]^2)
#                        d[n] = |x[n]-x[n-1]|          to WL, and min(d, 2^23-1)^2 to M2 (n >= 1, else 0)
#                        D2[n]                         to M4 (as D2^2; n >= 2, else 0)
#                        z[n] = zero-crossing flag     to ZC   (pair n-1, n; n >= 1)
#                        q[n] = slope-sign-change flag to SSC  (triple n-2, n-1, n; n >= 2)
#   and the window ending at e sums a over n = e-W+1..e, d and z over n = e-W+2..e,
#   q and D2 over n = e-W+3..e, x[n] x[n-k] (AR: k = 1..4) over n = e-W+1+k..e, and
#   x_c[n] x_d[n] (CR) over n = e-W+1..e. The device keeps per-channel rings of the W most recent
#   contributions and running sums: when sample n enters it adds its contributions and
#   subtracts a[n-W], d[n-W+1], z[n-W+1], q[n-W+2], D2[n-W+2] and x[n-W+k] x[n-W]
#   and x_c[n-W] x_d[n-W] (from a ring of the last W samples; zero before the stream starts).
#
# 32-BIT ARITHMETIC (the device's viper code runs on 32-bit words; every intermediate
# value there fits in signed 32 bits):
#   |x| <= 2^23, d <= 2^24 - 1. Sums of |x| and of d over <= 1024 samples (< 2^34)
#   are kept as two limbs: sum(v >> SPLIT) and sum(v & (2^SPLIT - 1)), each < 2^23;
#   the floor division by W (or W-1) is a two-step long division (each step < 2^24).
#   x^2 <= 2^46 is formed from 14-bit halves of |x| as two base-2^SQ_SHIFT limbs
#   (hi <= 2^18 + 2^10, lo < 2^28); the running sum of squares (< 2^56) is two limbs,
#   hi < 2^29 and lo in [0, 2^28) after a carry per sample; floor(sum/W) is a long
#   division in 14-bit digits (each step < 2^24), and isqrt is the digit-by-digit
#   (two bits per step) method whose remainder stays < 2^26. M2 and M4 use exactly the
#   RMS layout with D1, D2 (<= 2^23 - 1) in place of |x| and W-1, W-2 as divisors.
#   AR's lag products x[n] x[n-k] (|.| <= 2^46, signed) are formed from the 14-bit halves
#   of |x[n]| and |x[n-k]| as for x^2, negated when the signs differ, and summed in the
#   same two limbs (hi signed, lo in [0, 2^28)); R_0 is RMS's sum of squares. CR's cross
#   products x_c[n] x_d[n] are formed and summed the same way.
#   The ring of d words also carries the ZC flag (bit FLAG_ZC_BIT) and the SSC flag
#   (bit FLAG_SSC_BIT); |d| needs bits 0..23 only.
#
# OUTPUT. A feature vector is channel-major, [ch0 f0..fk, ch1 f0..fk, ...], where the
# features of a channel come in the order of the config's feature list. Each window
# also reports its end sample index e (on the device modulo INDEX_MOD).
try:
    from micropython import const
except ImportError:  # CPython
    const = lambda x: x  # noqa: E731

SPEC_VERSION = const(4)  # 4: CR1..CR3 added; 3: AR1..AR4; 2: M2, M4 (1 had MAV..RMS only)
#: Versions whose configurations this release computes identically (a version-2 config
#: names none of the AR features, a version-3 one none of the CR features; every
#: definition they name is unchanged).
SPEC_VERSIONS = (2, 3, 4)

# Feature ids (the canonical order) and names.
MAV = const(0)
WL = const(1)
ZC = const(2)
SSC = const(3)
RMS = const(4)
M2 = const(5)
M4 = const(6)
AR1 = const(7)
AR2 = const(8)
AR3 = const(9)
AR4 = const(10)
CR1 = const(11)
CR2 = const(12)
CR3 = const(13)
NAMES = ("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4", "AR1", "AR2", "AR3", "AR4", "CR1", "CR2", "CR3")
N_FEATURES = const(14)
AR_NAMES = ("AR1", "AR2", "AR3", "AR4")
AR_ORDER = const(4)
AR_Q = const(14)  # fractional bits of the AR coefficients (and of rho, k, E)
AR_NORM_BITS = const(16)  # R_0 is shifted to below 2^16 before the division
AR_WINDOW_MIN = const(8)
CR_NAMES = ("CR1", "CR2", "CR3")
CR_Q = const(14)  # fractional bits of the CR correlations
CR_NORM_BITS = const(29)  # R_0 is shifted to 2^28 <= V' < 2^30 before its square root
#: The standard baseline's set (Hudgins et al. 1993): what comparisons are made against.
HUDGINS = ("MAV", "WL", "ZC", "SSC")
DEFAULT_FEATURES = ("MAV", "WL", "ZC", "SSC", "RMS")

# Input range (24-bit ADC codes) and configuration limits.
SAMPLE_BITS = const(24)
SAMPLE_MIN = const(-8388608)  # -2^23
SAMPLE_MAX = const(8388607)  # 2^23 - 1
MAX_CHANNELS = const(8)
WINDOW_MIN = const(4)
WINDOW_MAX = const(1024)
THR_MAX = const(16777216)  # 2^24: above any |difference| of saturated samples
FS_MIN = const(1)
FS_MAX = const(64000)
MAX_BLOCK = const(64)  # default largest block the device's push() accepts
INDEX_MOD = const(1073741824)  # 2^30: device window-end indices wrap here (small ints)

# Fixed-point layout constants (see 32-BIT ARITHMETIC above).
SPLIT = const(12)  # MAV / WL sums: limbs v >> 12 and v & 0xFFF
SQ_SHIFT = const(28)  # sum of squares: base-2^28 limbs
SQ_HALF = const(14)  # |x| split into 14-bit halves for squaring / division digits
D_MASK = const(0xFFFFFF)  # |d| bits in the d-ring word
FLAG_ZC_BIT = const(24)
FLAG_SSC_BIT = const(25)

# Defaults: 200 ms windows, 50 ms increments (Hudgins / Englehart), thresholds in codes.
DEFAULT_WINDOW_MS = const(200)
DEFAULT_INCREMENT_MS = const(50)
# 224 codes ~= 5 uV at the ADS1299 (gain 24, Vref 4.5 V: LSB = 22.35 nV), a few times
# the AFE's input noise: noise alone neither crosses zero nor changes slope.
DEFAULT_ZC_THR = const(224)
DEFAULT_SSC_THR = const(224)


def samples_for_ms(fs, ms):
    """Number of samples in ``ms`` milliseconds at ``fs`` Hz (rounded to nearest, >= 1)."""
    n = (fs * ms + 500) // 1000
    return n if n > 0 else 1


def default_window(fs):
    """Default (window, increment) in samples at sampling rate ``fs``."""
    return samples_for_ms(fs, DEFAULT_WINDOW_MS), samples_for_ms(fs, DEFAULT_INCREMENT_MS)


def feature_ids(names):
    """Tuple of feature ids for a sequence of feature names (ValueError if invalid)."""
    if isinstance(names, str):
        raise ValueError("features must be a sequence of names, not a string")
    ids = []
    for nm in names:
        if nm not in NAMES:
            raise ValueError("unknown feature %r (known: %s)" % (nm, ", ".join(NAMES)))
        i = NAMES.index(nm)
        if i in ids:
            raise ValueError("feature %r listed twice" % nm)
        ids.append(i)
    if not ids:
        raise ValueError("at least one feature is required")
    return tuple(ids)


def check_int(name, v, lo, hi):
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("%s must be an int, got %r" % (name, v))
    if v < lo or v > hi:
        raise ValueError("%s=%d out of range [%d, %d]" % (name, v, lo, hi))


def check_config(n_ch, window, increment, zc_thr, ssc_thr, names):
    """Validate a feature configuration; raise ValueError naming the bad field.

    Returns the tuple of feature ids. Used by the device constructor and the host's
    FeatureConfig, so both accept exactly the same configurations.
    """
    check_int("n_ch", n_ch, 1, MAX_CHANNELS)
    check_int("window", window, WINDOW_MIN, WINDOW_MAX)
    check_int("increment", increment, 1, window)
    check_int("zc_thr", zc_thr, 0, THR_MAX)
    check_int("ssc_thr", ssc_thr, 0, THR_MAX)
    ids = feature_ids(names)
    if window < AR_WINDOW_MIN and any(AR1 <= i <= AR4 for i in ids):
        raise ValueError("window=%d too short for AR features (at least %d)" % (window, AR_WINDOW_MIN))
    for i in ids:
        if i >= CR1 and n_ch <= i - CR1 + 1:
            raise ValueError("feature %s needs more than %d channels (n_ch=%d)" % (NAMES[i], i - CR1 + 1, n_ch))
    return ids


def cr_offsets(ids):
    """Largest channel offset k of the CR features among feature ids ``ids`` (0: none)."""
    k = 0
    for i in ids:
        if i >= CR1 and i - CR1 + 1 > k:
            k = i - CR1 + 1
    return k


def check_version(v, names):
    """Validate a config's spec_version against its feature names (ValueError)."""
    if v not in SPEC_VERSIONS:
        raise ValueError("feature spec_version %r: this release computes versions %s" % (v, SPEC_VERSIONS))
    for nm in names:
        if (v < 3 and nm in AR_NAMES) or (v < 4 and nm in CR_NAMES):
            raise ValueError("feature %s does not exist in spec_version %d" % (nm, v))
