# CPU budget of a streaming configuration on each board, from the instruction counts of
# the hot paths measured on the emulated Cortex-M7 (benchmarks/bench_mcu.py, qemu
# -icount shift=0: exact instruction counts). A configuration whose work per second,
# with 2x headroom, exceeds what the board's clock gives is refused with a clear error
# instead of dropping samples later. Boards not listed (sim) are not checked.
# The host's benchmark reads the clocks, IPC and headroom from this file.
from micropython import const

from garmentfw import wire

# Board NAME -> CPU clock (Hz).
CPU_HZ = {"esp32s3": 240_000_000, "rp2040": 133_000_000, "rp2350": 150_000_000}
# Emulated boards: instructions per second of the guest's own clock. The live qemu
# garment runs under qemu -icount shift=2 (garment.qemu.garment reads this): 4 ns per
# instruction. Its AFE is the register-level chip model on the same core (the SPI byte
# exchange in Python: a peripheral's work on a real board), so that work counts too.
EMULATED_HZ = {"qemu": 250_000_000}
# Instructions per cycle assumed on every board (see benchmarks/bench_mcu.py).
IPC_PERCENT = const(100)
HEADROOM = const(2)
# Measured (bench_mcu.py, MPS2_AN500); each constant is the bench row named beside it.
# The live loop's work per second (Device.step, app.make_device's stages and services):
#   every conversion: its capture into the ring ("capture"), or on an emulated board
#     its conversion timer's interrupt, which runs the chip model's conversion and the
#     capture through its Python SPI ("afe_read_on_model"); then the pipeline's per-sample share: raw stages (EMG
#     guard, artefact stage), filters, telemetry ("device_sample", 8 ch streaming 24-bit
#     filtered), and the features' ("window_features" / 100: a window per 100 samples);
#   every block (one loop pass that holds samples): the pipeline's per-block share
#     ("device_block");
#   every pass that does work (a block's or a periodic tick's: at most BLOCKS_PER_S +
#     PERIODIC_PER_S of them) the pass's own ("pass_core": link, services' checks,
#     queue; on an emulated board also "afe_poll_idle_on_model");
#   every periodic tick (at most every PERIOD_MS): the stimulation service's periodic
#     work, armed ("stim_service_tick_armed": the supervisor's checks, control stage,
#     R_PULSES);
#   every window: the largest decoder.
# Blocks: the loop wakes at least once a millisecond and a pass takes every conversion
# waiting, so a pass holds one conversion below 1 kHz and fs / 1000 from there: at most
# BLOCKS_PER_S of them. Periodic ticks (StimService.tick): when PERIOD_MS have passed
# since the last; PERIOD_MS plus a pass stays well inside the E-stop button's 10 ms (the
# E-stop request acts in its handler at once), heartbeat, session, dose and battery
# bounds are 100 ms and longer, R_PULSES is due PERIOD_MS early (pulse_report); the pulse
# engine still runs on every pass while a channel is active. Passes that find nothing to
# do are the idle loop, not counted.
PERIOD_MS = const(4)
BLOCKS_PER_S = const(1000)
PERIODIC_PER_S = const(250)  # 1000 // PERIOD_MS
INSTR_CAPTURE_8CH = const(7657)
INSTR_DEVICE_SAMPLE_8CH = const(19512)
INSTR_FEATURES_8CH = const(7074)
INSTR_BLOCK = const(88342)
INSTR_PASS = const(33050)
INSTR_SERVICE_TICK = const(64534)
# Extra per 8-channel sample when a model's features include M2 / M4 (their limbs and the
# D2 ring: window_features_7 - window_features), AR1..AR4 (the lag-product pass and
# the Levinson-Durbin recursion: window_features_ar - window_features_7) and CR1..CR3
# (the cross-product pass of all three offsets and the correlations:
# window_features_cr - window_features_7; any CR feature is charged as all three), same
# benchmark (one run on the shared VM; the counts vary by a few per cent between runs).
INSTR_FEATURES_M24_8CH = const(4003)
INSTR_FEATURES_AR_8CH = const(11472)
INSTR_FEATURES_CR_8CH = const(11602)
# Emulated boards: per conversion the conversion timer's interrupt (the chip model's
# conversion and the capture of its frame, 8 channels always), and per pass the
# capture's poll (nothing to move: the interrupt did it).
INSTR_AFE_MODEL = const(56336)
INSTR_AFE_POLL_MODEL = const(1284)
# Measured, per window: the largest golden decoder (MLP 40->16->4), and windows per
# second (50 ms increments: the feature configuration's default).
INSTR_DECODE = const(56775)
WINDOWS_PER_S = const(20)


def instructions_per_s(fs: int, n_ch: int, features=None, board: str = "") -> int:
    """Instructions per second of streaming + decoding ``n_ch`` channels at ``fs``
    (``features``: a model's feature names; None: MAV..RMS, the streaming default) on
    ``board`` (an emulated board also runs its chip model), stimulation armed."""
    per = INSTR_DEVICE_SAMPLE_8CH + INSTR_FEATURES_8CH
    if features:
        if "M2" in features or "M4" in features:
            per += INSTR_FEATURES_M24_8CH
        for nm in features:
            if nm[:2] == "AR":
                per += INSTR_FEATURES_AR_8CH
                break
        for nm in features:
            if nm[:2] == "CR":
                per += INSTR_FEATURES_CR_8CH
                break
    pass_ = INSTR_PASS
    if board in EMULATED_HZ:
        per = per * n_ch // 8 + INSTR_AFE_MODEL
        pass_ += INSTR_AFE_POLL_MODEL
    else:
        per = (per + INSTR_CAPTURE_8CH) * n_ch // 8
    blocks = fs if fs < BLOCKS_PER_S else BLOCKS_PER_S
    return (fs * per + blocks * INSTR_BLOCK + (blocks + PERIODIC_PER_S) * pass_
            + PERIODIC_PER_S * INSTR_SERVICE_TICK + WINDOWS_PER_S * INSTR_DECODE)


def clock_hz(board: str):
    """Instructions per second ``board`` gives at IPC 1 (None: not checked)."""
    return CPU_HZ.get(board) or EMULATED_HZ.get(board)


def refusal(board: str, fs: int, n_ch: int, features=None):
    """None when the configuration (with a model computing ``features``) fits ``board``
    with the headroom, else the reason."""
    hz = clock_hz(board)
    if hz is None:
        return None
    need = instructions_per_s(fs, n_ch, features, board) * HEADROOM
    have = hz * IPC_PERCENT // 100
    if need <= have:  # exact: M instructions rounded down would let 240.3 M fit 240 M
        return None
    need_mips = (need + 999_999) // 1_000_000
    have_mips = have // 1_000_000
    what = " with features %s" % ", ".join(features) if features else ""
    return "%d ch x %d Hz%s needs %d M instructions/s with %dx headroom; %s at %d MHz gives %d M" % (
        n_ch, fs, what, need_mips, HEADROOM, board, hz // 1_000_000, have_mips)


def fastest_fs(board: str, n_ch: int, rates=wire.ALLOWED_FS) -> int:
    """The highest of ``rates`` at which ``n_ch`` channels fit ``board`` (its boot default)."""
    for fs in sorted(rates, reverse=True):
        if refusal(board, fs, n_ch) is None:
            return fs
    return min(rates)
