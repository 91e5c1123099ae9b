# The on-garment motor-unit stage's contract, ONE definition for the firmware
# (mu_stage.py) and the host (garment.motorunits.onboard imports this very file):
# what a separation filter uploaded with T_MU_UNIT may be, its fixed-point rule, and
# what the stage costs on each board.
#
# The arithmetic (every integer exact, the host's twin computes the same):
#   xq[c](t) = x[c](t) >> in_shift, saturated to int16   (x: the filtered AFE codes)
#   s(t)     = sum over the unit's channels j, delays d of w[j * delays + d] * xq[chan[j]](t - d)
# exactly: |xq| <= 2**15 and sum |w| <= MAX_WEIGHT_SUM, so |s| < 2**31, a 32-bit viper
# word (a set whose weights sum higher is refused).
# Discharges (per unit): a sample with s > threshold opens a candidate; within
# `refractory` samples a larger s replaces it; `refractory` samples after the candidate's
# sample it is a discharge at that sample minus `lag` (the filter's delay from the
# discharge to its peak). Discharges of a unit are thus at least `refractory` apart.
from micropython import const

from garmentfw import budget

# unit u8, fs u16, n_ch u8, n_sub u8, delays u8, in_shift u8, lag u8, refractory u16,
# threshold i32; then n_sub x channel u8, then n_sub * delays x weight i16 LE,
# channel-major (w[j * delays + d] multiplies channel chan[j] delayed by d).
UNIT_HDR_FMT = "<BHBBBBBHi"
UNIT_HDR_LEN = const(14)
MAX_UNITS = const(8)
MAX_DELAYS = const(16)   # the stage's delay line (a power of two)
MAX_TAPS = const(256)    # n_sub * delays per unit
MAX_SHIFT = const(16)    # in_shift
MAX_WEIGHT_SUM = const(65535)  # sum of |w| of a unit: 65535 * 2**15 < 2**31
MAX_REFRACTORY = const(1024)  # samples; keeps a discharge's offset in an i16
MAX_LAG = const(64)

# Instructions measured on the emulated Cortex-M7 (benchmarks/bench_mcu.py, mu_stage
# rows): per tap (one multiply-accumulate), per unit and sample (its sum's set-up and
# the detector), per channel and sample (the delay line), per sample (the loop, the
# packets' share).
INSTR_TAP = const(52)
INSTR_UNIT = const(197)
INSTR_CHANNEL = const(105)
INSTR_SAMPLE = const(640)


def unit_refusal(hdr, body_len: int, fs: int, n_ch: int):
    """None when a T_MU_UNIT body (``hdr``: its UNIT_HDR_FMT fields, ``body_len``: its
    length) fits the acquisition (``fs``, ``n_ch``) and the stage, else the reason."""
    unit, ufs, unch, n_sub, delays, in_shift, lag, refr, thr = hdr
    if unit >= MAX_UNITS:
        return "unit %d: the stage holds units 0..%d" % (unit, MAX_UNITS - 1)
    if ufs != fs or unch != n_ch:
        return "unit %d was made for %d ch x %d Hz; the garment acquires %d ch x %d Hz" % (
            unit, unch, ufs, n_ch, fs)
    if not 1 <= n_sub <= n_ch:
        return "unit %d: %d channels, 1..%d" % (unit, n_sub, n_ch)
    if not 1 <= delays <= MAX_DELAYS:
        return "unit %d: %d delays, 1..%d" % (unit, delays, MAX_DELAYS)
    taps = n_sub * delays
    if taps > MAX_TAPS:
        return "unit %d: %d taps (%d ch x %d delays), at most %d" % (unit, taps, n_sub, delays, MAX_TAPS)
    if in_shift > MAX_SHIFT:
        return "unit %d: in_shift %d, at most %d" % (unit, in_shift, MAX_SHIFT)
    if not 1 <= refr <= MAX_REFRACTORY:
        return "unit %d: refractory %d samples, 1..%d" % (unit, refr, MAX_REFRACTORY)
    if lag > MAX_LAG:
        return "unit %d: lag %d samples, at most %d" % (unit, lag, MAX_LAG)
    if thr <= 0:
        return "unit %d: threshold %d must be positive" % (unit, thr)
    want = UNIT_HDR_LEN + n_sub + 2 * taps
    if body_len != want:
        return "unit %d: body of %d bytes, %d ch x %d delays need %d" % (unit, body_len, n_sub, delays, want)
    return None


def weight_refusal(unit: int, weight_sum: int):
    """None when a unit's sum of |w| keeps its source within 32 bits, else the reason."""
    if weight_sum > MAX_WEIGHT_SUM:
        return "unit %d: weights sum |w| = %d > %d: its source could overflow 32 bits" % (
            unit, weight_sum, MAX_WEIGHT_SUM)
    return None


def instructions_per_s(fs: int, n_ch: int, taps, n_units: int) -> int:
    """Instructions per second of the stage: ``taps`` (all units') multiply-accumulates."""
    return fs * (taps * INSTR_TAP + n_units * INSTR_UNIT + n_ch * INSTR_CHANNEL + INSTR_SAMPLE)


def budget_refusal(board: str, fs: int, n_ch: int, taps: int, n_units: int):
    """None when acquiring ``n_ch`` x ``fs`` on ``board`` (budget.py) plus the stage with
    ``n_units`` units of ``taps`` taps in all fits its clock with budget.HEADROOM, else
    the reason (boards without a clock, the sims, are not checked)."""
    hz = budget.clock_hz(board)
    if hz is None:
        return None
    acq = budget.instructions_per_s(fs, n_ch, None, board)
    mu = instructions_per_s(fs, n_ch, taps, n_units)
    # compared exactly, as budget.refusal does (240.3 M does not fit 240 M)
    if (acq + mu) * budget.HEADROOM <= hz * budget.IPC_PERCENT // 100:
        return None
    need = -(-(acq + mu) * budget.HEADROOM // 1_000_000)
    have = hz // 1_000_000 * budget.IPC_PERCENT // 100
    return ("%d motor units (%d taps) on %d ch x %d Hz need %d M instructions/s with %dx headroom "
            "(the stage %d M, acquisition %d M); %s at %d MHz gives %d M") % (
                n_units, taps, n_ch, fs, need, budget.HEADROOM, mu // 1_000_000, acq // 1_000_000,
                board, hz // 1_000_000, have)


# The activity packet's layout is in wire.py (R_MU_ACTIVITY); one every INTERVAL_MS.
INTERVAL_MS = const(20)
MAX_EVENTS = const(64)  # discharges per packet; a fuller interval is sent early


def interval_samples(fs: int) -> int:
    return fs * INTERVAL_MS // 1000
