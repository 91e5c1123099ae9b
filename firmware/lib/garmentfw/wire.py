# The wire protocol: the ONE definition shared by the firmware and the host.
# The host imports this very file (garment.protocol.wire); golden frames in
# models/golden/wire_frames.json pin both sides' encoders and decoders.
#
# Framing: every frame on the link is COBS(packet) followed by one 0x00 byte.
#   packet = type u8 | seq u16 LE | body ... | crc u16 LE
#   crc    = CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xor-out)
#            over type | seq | body.
# seq counts the sender's packets (mod 65536): the receiver sees every lost packet.
# Every request (host -> device, type < 0x80) is answered by exactly one packet whose
# body starts with ref u16 = the request's seq: the reply type (R_*), R_ACK, or R_ERROR.
try:
    from micropython import const
except ImportError:  # CPython (host side)
    def const(x):  # type: ignore[misc]
        return x

# 2: privileged requests carry the host's session-clock time (age bound), their replies a MAC tag
PROTOCOL_VERSION = const(2)

HEADER_LEN = const(3)
CRC_LEN = const(2)
MAX_BODY = const(1024)
MAX_PACKET = const(1029)  # HEADER_LEN + MAX_BODY + CRC_LEN
# COBS adds one byte per 254 plus one; the delimiter adds one more.
MAX_ENCODED = const(1036)
NO_REF = const(0xFFFF)  # ref of an error that answers no decodable request

# Host -> device requests.
T_HELLO = const(0x01)         # body: -                        -> R_HELLO
T_INFO = const(0x02)          # body: -                        -> R_INFO
T_GET_CONFIG = const(0x03)    # body: -                        -> R_CONFIG
T_SET_CONFIG = const(0x04)    # body: CONFIG_FMT               -> R_CONFIG
T_STREAM_START = const(0x05)  # body: -                        -> R_ACK
T_STREAM_STOP = const(0x06)   # body: -                        -> R_ACK
T_PING = const(0x07)          # body: token u32 (heartbeat)    -> R_PONG
T_STATUS = const(0x08)        # body: -                        -> R_STATUS

# Authentication (HMAC-SHA256 challenge-response; see garmentfw/auth.py):
T_AUTH_CHALLENGE = const(0x10)  # body: -                      -> R_CHALLENGE
T_AUTH_RESPONSE = const(0x11)   # body: AUTH_RESPONSE_FMT       -> R_ACK (session open)
T_PROVISION = const(0x12)       # body: secret 32 B (USB link only, only while unprovisioned) -> R_ACK
T_AUTH_END = const(0x13)        # body: -                      -> R_ACK

# Stimulation (issue 6; every one but T_ESTOP and T_STIM_STATE needs an authenticated session).
T_CALIB_SET = const(0x20)     # body: CALIB_FMT                 -> R_CALIB
T_CALIB_GET = const(0x21)     # body: channel u8                -> R_CALIB
T_ARM = const(0x22)           # body: -                         -> R_STIM_STATE
T_DISARM = const(0x23)        # body: -                         -> R_STIM_STATE
T_ESTOP = const(0x24)         # body: -  (never needs auth)     -> R_STIM_STATE
T_FAULT_RESET = const(0x25)   # body: -                         -> R_STIM_STATE
T_STIM_TEST = const(0x26)     # body: STIM_TEST_FMT (one ramped test train) -> R_STIM_STATE
T_SET_LIMITS = const(0x27)    # body: LIMITS_FMT                -> R_LIMITS
T_GET_LIMITS = const(0x28)    # body: -                         -> R_LIMITS
T_STIM_STATE = const(0x29)    # body: -                         -> R_STIM_STATE
T_CRANK = const(0x2A)         # body: angle_cdeg u16, cadence_crpm u16 (external crank sensor) -> R_ACK
T_ACTIVATION = const(0x2B)    # body: n u8, n x u16 Q12 (4096 = 1.0; host activations, e.g. neural drive) -> R_ACK
#: An activation stream older than this (ms) is stale: the control stage zeroes its activations.
ACTIVATION_STALE_MS = const(200)

# Decoder model upload (chunked, resumable, CRC-verified, atomic; previous kept).
T_MODEL_BEGIN = const(0x30)     # body: MODEL_BEGIN_FMT         -> R_MODEL_PROGRESS (resume offset)
T_MODEL_CHUNK = const(0x31)     # body: offset u32 + data       -> R_MODEL_PROGRESS
T_MODEL_COMMIT = const(0x32)    # body: -                       -> R_MODEL_INFO
T_MODEL_ROLLBACK = const(0x33)  # body: -                       -> R_MODEL_INFO
T_MODEL_INFO = const(0x34)      # body: -                       -> R_MODEL_INFO

# Device -> host.
R_ACK = const(0x80)           # body: ref u16, req_type u8
R_HELLO = const(0x81)         # body: ref u16, proto u8, version utf-8
R_INFO = const(0x82)          # body: ref u16, JSON object utf-8 (INFO_KEYS)
R_CONFIG = const(0x83)        # body: ref u16, CONFIG_FMT
R_PONG = const(0x84)          # body: ref u16, token u32
R_STATUS = const(0x85)        # body: ref u16 (NO_REF when periodic), STATUS_FMT
R_CHALLENGE = const(0x86)     # body: ref u16, nonce 16 B, counter u32
R_CALIB = const(0x87)         # body: ref u16, CALIB_FMT
R_STIM_STATE = const(0x88)    # body: ref u16, STIM_STATE_FMT
R_LIMITS = const(0x89)        # body: ref u16, LIMITS_FMT
R_MODEL_PROGRESS = const(0x8A)  # body: ref u16, next_offset u32, total u32
R_MODEL_INFO = const(0x8B)    # body: ref u16, JSON object (active and previous model)
R_SAMPLES = const(0x90)       # body: SAMPLES_HDR_FMT, then n_samples x n_ch int24 LE
R_EVENT = const(0x91)         # body: uptime_ms u32, code u8, utf-8 text (log line)
R_PULSES = const(0x92)        # body: n u8, then n x PULSE_FMT (every delivered pulse)
R_DECODER = const(0x93)       # body: DECODER_FMT (one per feature window)
R_ERROR = const(0xE0)         # body: ref u16, code u8, utf-8 message

# Rig port (simulated garment only): the HIL rig / EMG feeder side channel.
RIG_FEED = const(0xA0)        # rig -> sim: n u16, n_ch u8, then n x n_ch int32 LE nanovolts
RIG_AFE = const(0xA1)         # sim -> rig: fs u16, n_ch u8, conversions u32, queued u32, fed u32
RIG_LEAD_OFF = const(0xA2)    # rig -> sim: channel u8, p u8, n u8

# Error codes (R_ERROR.code).
E_CRC = const(1)            # packet failed its CRC
E_MALFORMED = const(2)      # bad COBS, shorter than a header, or a body of the wrong length
E_UNKNOWN_TYPE = const(3)   # no such request type
E_OVERSIZE = const(4)       # frame longer than MAX_ENCODED before its delimiter
E_OUT_OF_RANGE = const(5)   # a parameter outside what the garment allows (never clamped)
E_BAD_STATE = const(6)      # request not allowed in the current state
E_BUSY = const(7)
E_UNAUTHORIZED = const(8)
E_REPLAY = const(9)
E_MODEL = const(10)
E_STORAGE = const(11)
E_INTERNAL = const(12)
E_STALE = const(13)         # a privileged request older than REQUEST_MAX_AGE_MS (held back), or from the future

ERROR_NAMES = {
    E_CRC: "crc",
    E_MALFORMED: "malformed",
    E_UNKNOWN_TYPE: "unknown_type",
    E_OVERSIZE: "oversize",
    E_OUT_OF_RANGE: "out_of_range",
    E_BAD_STATE: "bad_state",
    E_BUSY: "busy",
    E_UNAUTHORIZED: "unauthorized",
    E_REPLAY: "replay",
    E_MODEL: "model",
    E_STORAGE: "storage",
    E_INTERNAL: "internal",
    E_STALE: "stale",
}

# R_EVENT codes (the code u8 of every log line the garment sends; the text says the rest).
EV_CONFIG = const(0)            # acquisition configured (T_SET_CONFIG, boot)
EV_STREAM_START = const(1)
EV_STREAM_STOP = const(2)
EV_AUTH_OK = const(10)          # authenticated session opened
EV_AUTH_REFUSED = const(11)     # a refused auth response or privileged request
EV_PROVISIONED = const(12)      # secret provisioned or rotated
EV_AUTH_END = const(13)         # session closed
EV_AUTH_STORE = const(14)       # the auth record is missing/corrupt or could not be written
EV_MODEL_ACTIVE = const(20)     # a verified decoder model is active
EV_MODEL_COMMITTED = const(21)  # an uploaded model was committed
EV_MODEL_ROLLED_BACK = const(22)
EV_STIM = const(0x20)           # stimulation state change (with its fault)
EV_STIM_INFO = const(0x21)      # stimulation notes: test train done, blank window, refused records

EVENT_NAMES = {
    EV_CONFIG: "config",
    EV_STREAM_START: "stream_start",
    EV_STREAM_STOP: "stream_stop",
    EV_AUTH_OK: "auth_ok",
    EV_AUTH_REFUSED: "auth_refused",
    EV_PROVISIONED: "provisioned",
    EV_AUTH_END: "auth_end",
    EV_AUTH_STORE: "auth_store",
    EV_MODEL_ACTIVE: "model_active",
    EV_MODEL_COMMITTED: "model_committed",
    EV_MODEL_ROLLED_BACK: "model_rolled_back",
    EV_STIM: "stim",
    EV_STIM_INFO: "stim_info",
}

# struct formats (little-endian; MicroPython's struct understands the same strings).
REF_FMT = "<H"
# fs u16 (Hz), n_ch u8, mains u8 (50|60), stream_kind u8 (STREAM_*), hp u8 (0|1), notch u8 (0|1)
CONFIG_FMT = "<HBBBBB"
CONFIG_LEN = const(7)
# first_index u32 (AFE sample counter, wraps at COUNTER_MOD), n_samples u8, n_ch u8, kind u8
SAMPLES_HDR_FMT = "<IBBB"
SAMPLES_HDR_LEN = const(7)
SAMPLE_BYTES = const(3)
# uptime_ms u32, state u8, streaming u8, afe_overruns u32, rx_crc_errors u16,
# rx_malformed u16, tx_dropped u32 (packets), lead_off u8 (channel mask), battery_mv u16,
# counter u32 (AFE samples so far)
STATUS_FMT = "<IBBIHHIBHI"
STATUS_LEN = const(25)
PONG_FMT = "<HI"
RIG_FEED_HDR_FMT = "<HB"
RIG_AFE_FMT = "<HBIII"
RIG_LEAD_OFF_FMT = "<BBB"

# Authentication and stimulation payloads.
AUTH_RESPONSE_FMT = "<I32s"   # counter u32, HMAC-SHA256(secret, "auth" | nonce | counter LE)
# Privileged requests end with counter u32 | t_ms u32 | HMAC-SHA256(session key,
# type | seq | body | counter | t_ms)[:16]; t_ms is the host's estimate of the garment's
# session clock (ms since the session opened, re-anchored on every authenticated reply).
AUTH_TAG_LEN = const(24)
# The garment refuses (E_STALE) a privileged request whose age (its session clock minus
# t_ms) is above REQUEST_MAX_AGE_MS (held back) or below -REQUEST_SKEW_MS (from the
# future: a wrapped clock, or host/garment crystals drifting apart over a long idle gap).
REQUEST_MAX_AGE_MS = const(1000)
REQUEST_SKEW_MS = const(250)
# Every reply (the R_* reply, R_ACK or R_ERROR) to a privileged request that passed its
# MAC and counter check ends with t_ms u32 (the garment's session clock) | HMAC-SHA256(
# session key, b"reply" | request counter u32 LE | reply type u8 | body up to and with
# t_ms)[:16]: the host refuses a forged reply, or a genuine one replayed to another request.
REPLY_TAG_LEN = const(20)
# What the garment sends by itself under an authenticated session (R_EVENT, R_PULSES, an
# R_STIM_STATE with ref NO_REF) ends with t_ms u32 | n u32 (its unsolicited packets
# counted from 1 in this session) | HMAC-SHA256(session key, b"event" | type u8 | body
# up to and with n)[:16]; the host refuses a forged one and a replayed or reordered one
# (n not above the last it took). Tagging starts right after the R_ACK that opens the
# session and stops when it ends (link drop, T_AUTH_END, re-provisioning). Outside a
# session, and for refusals made before a request's MAC was checked, nothing is tagged:
# there is no session key to tag with (docs/SAFETY.md).
EVENT_TAG_LEN = const(24)
# channel u8, sensory_ua u32, motor_ua u32, max_ua u32, area_mm2 u16, width_us u16, freq_hz u16
CALIB_FMT = "<BIIIHHH"
# channel u8, amplitude_ua u32, width_us u16, freq_hz u16, duration_ms u16
STIM_TEST_FMT = "<BIHHH"
# max_ua u32, max_width_us u16, min_freq_hz u16, max_freq_hz u16, max_charge_nc u32,
# slew_ua_per_s u32, heartbeat_ms u16, blank_us u16, session_s u32, dose_limit u32
LIMITS_FMT = "<IHHHIIHHII"
# state u8, fault u8 (FAULT_*), armed_mask u8, lead_off_mask u8, then 8 x amplitude_ua u32 (now)
STIM_STATE_FMT = "<BBBB8I"
# t_us u32 (device clock, wraps at COUNTER_MOD), channel u8, amplitude_ua u32, width_us u16, interphase_us u16
PULSE_FMT = "<IBIHH"
PULSE_LEN = const(13)
# window_end u32 (AFE index), class i8 (-1 = rejected), n_out u8, then n_out x i32 raw outputs
DECODER_HDR_FMT = "<IbB"
# total_len u32, id u32 = CRC-32 of the file without its last 4 bytes. (A model file ends
# with its own CRC-32, so the CRC of the WHOLE file is the same constant for every model;
# this id is that stored CRC and tells models apart.)
MODEL_BEGIN_FMT = "<II"

# Stimulation supervisor states and faults.
SS_IDLE = const(0)
SS_CALIBRATED = const(1)
SS_ARMED = const(2)
SS_STIMULATING = const(3)
SS_FAULT = const(4)
SS_NAMES = {SS_IDLE: "idle", SS_CALIBRATED: "calibrated", SS_ARMED: "armed",
            SS_STIMULATING: "stimulating", SS_FAULT: "fault"}
FAULT_NONE = const(0)
FAULT_ESTOP = const(1)
FAULT_HEARTBEAT = const(2)
FAULT_ELECTRODE = const(3)
FAULT_EMG_RAIL = const(4)
FAULT_BATTERY = const(5)
FAULT_SESSION = const(6)
FAULT_DOSE = const(7)
FAULT_INTERNAL = const(8)
FAULT_NAMES = {FAULT_NONE: "none", FAULT_ESTOP: "estop", FAULT_HEARTBEAT: "heartbeat",
               FAULT_ELECTRODE: "electrode", FAULT_EMG_RAIL: "emg_rail", FAULT_BATTERY: "battery",
               FAULT_SESSION: "session", FAULT_DOSE: "dose", FAULT_INTERNAL: "internal"}

# Sample counters stay below 2**30 so that they are small ints on 32-bit MCUs.
COUNTER_MOD = const(1 << 30)
# COUNTER_MOD itself is NOT a small int on a 32-bit port (they end at 2**30 - 1): code
# that wraps a counter uses `& COUNTER_MASK`; `% COUNTER_MOD` or `COUNTER_MOD - 1` there
# computes with big ints and allocates on every call (found on the emulated Cortex-M7).
COUNTER_MASK = const(0x3FFFFFFF)

# What the SAMPLES carry.
STREAM_RAW = const(0)       # AFE codes as read
STREAM_FILTERED = const(1)  # after high-pass, blanking and notch

# Device states (STATUS.state); stimulation states arrive with the safety supervisor.
ST_IDLE = const(0)
ST_STREAMING = const(1)
STATE_NAMES = {ST_IDLE: "idle", ST_STREAMING: "streaming"}

# What the garment accepts; anything else is refused with E_OUT_OF_RANGE.
ALLOWED_FS = (250, 500, 1000, 2000)
MAX_CHANNELS = const(8)
# The HD garment (daisy-chained ADS1299s, a monopolar grid): up to MAX_EMG_CHANNELS EMG
# channels in R_SAMPLES (its stimulation channels stay <= MAX_CHANNELS), at HD_FS: its
# AFE runs on an external 2.097152 MHz clock, so the ADS1299's rates are 256 * 2^k SPS.
# Each board's own rates and channel count are in INFO (fs_allowed, channels_max).
MAX_EMG_CHANNELS = const(64)
HD_FS = (1024, 2048)
# Raw samples over a link that is not wired (BLE) carry at most this many channels: the
# HD garment's 64 x 2048 Hz is wired-only (USB); over BLE it sends motor-unit activity.
BLE_MAX_STREAM_CHANNELS = const(8)
ALLOWED_MAINS = (50, 60)

INFO_KEYS = ("board", "version", "protocol", "channels_max", "fs_allowed", "afe", "uid")

# Samples per R_SAMPLES packet by channel count: as many as fit MAX_BODY, capped at 20
# (10 ms at 2 kHz keeps latency low; 8 ch x 20 x 3 B = 480 B).
SAMPLES_PER_PACKET = const(20)


def samples_per_packet(n_ch: int, value_bytes: int = SAMPLE_BYTES) -> int:
    """Samples in one R_SAMPLES packet of n_ch channels: SAMPLES_PER_PACKET, or fewer so
    that the body fits MAX_BODY (64 ch x 24 bit: 5 samples, 967 B)."""
    k = (MAX_BODY - SAMPLES_HDR_LEN) // (n_ch * value_bytes)
    return SAMPLES_PER_PACKET if k > SAMPLES_PER_PACKET else k

# ---- Appended for BLE (issue 8): 16-bit telemetry --------------------------------------
# STREAM_FILTERED16: the filtered samples of STREAM_FILTERED, each sent as int16 LE equal to
# the filtered code shifted right arithmetically by FILTERED16_SHIFT and saturated to
# -32768..32767 (garmentfw/telemetry16.py). R_SAMPLES body: SAMPLES_HDR_FMT with kind = 2,
# then n_samples x n_ch x SAMPLE16_BYTES. The host multiplies by 2**FILTERED16_SHIFT to get
# codes again: one step is 16 AFE LSBs (0.36 uV at gain 24), full scale +-11.7 mV, beyond any
# surface EMG once the 20 Hz high-pass has removed the electrode offset. 8 ch x 1 kHz is
# then 16 kB/s of samples, what a BLE link (NUS, MTU 247) carries with margin; the default
# kind on a link whose ``wired`` attribute is False (BLE). 24-bit kinds stay available.
STREAM_FILTERED16 = const(2)
FILTERED16_SHIFT = const(4)
SAMPLE16_BYTES = const(2)

# Rig port additions for the simulated stimulator (issue 6, boards/sim_stim.py and
# boards/sim_rig_stim.py). Appended; nothing above changed.
RIG_PULSE = const(0xA3)       # sim -> rig: RIG_PULSE_FMT, one per delivered stimulation pulse
RIG_IMPEDANCE = const(0xA4)   # rig -> sim: RIG_IMPEDANCE_FMT, a channel's electrode impedance
# t_us u32 (device clock), afe_index u32 (first AFE conversion the pulse affects), channel u8,
# amplitude_ua u32, width_us u16
RIG_PULSE_FMT = "<IIBIH"
RIG_IMPEDANCE_FMT = "<BI"     # channel u8, ohms u32 (a peeled-off electrode: ~1_000_000)
RIG_BATTERY = const(0xA5)     # rig -> sim: RIG_BATTERY_FMT (the simulated battery)
RIG_BATTERY_FMT = "<H"        # battery_mv u16
RIG_ESTOP = const(0xA6)       # rig -> sim: -  (the board's emergency-stop button is pressed)
# Note: STIM_STATE's lead_off_mask carries the per-channel ELECTRODE fault mask (impedance),
# not the AFE's EMG lead-off bits (those are in R_STATUS.lead_off).
RIG_ADD = const(0xA7)         # rig -> sim: RIG_ADD_HDR_FMT, then n x 8 int32 LE nV added onto
#                               queued input (a late correction, e.g. an evoked M-wave's head)
RIG_ADD_HDR_FMT = "<IH"       # first AFE conversion index u32, n u16
# The stimulation electrodes' load as the current-source model takes it (sim/current_source.py):
# channel u8, series ohm u32, interface (parallel) ohm u32, interface nF u32 (0, 0: resistive;
# all three 0: the model's nominal electrode pair)
RIG_LOAD = const(0xA8)        # rig -> sim: RIG_LOAD_FMT
RIG_LOAD_FMT = "<BIII"
# RIG_ESTOP's body: empty (the button pressed and held) or one u8 level, the button as a
# level on its normally-closed contact: ESTOP_RELEASED, ESTOP_PRESSED, ESTOP_BROKEN (wire cut)
ESTOP_RELEASED = const(0)
ESTOP_PRESSED = const(1)
ESTOP_BROKEN = const(2)
# Virtual time on the simulated garment (sim/rig_clock.py): the rig runs the garment's clock.
# RIG_RUN (rig -> sim): run_us u32, flags u8: advance the garment's (virtual) clock by up to
# run_us through its idle loop; RUN_STOP_AT_PULSE: stop early after a pass that delivered a
# pulse (the rig answers it, e.g. with the M-wave, before time goes on). The first RIG_RUN
# puts the clock on virtual time; the rig leaving (or the host silent on rig and link for
# RIG_CLOCK_GUARD_MS of wall time) hands it back to the wall clock, so a host that stops
# still trips the heartbeat.
# RIG_RAN (sim -> rig): ran_us u32, ticks_us u32, conversions u32, queued u32, fed u32, fs u16,
# once per RIG_RUN, after every RIG_PULSE of that run.
RIG_RUN = const(0xA9)
RIG_RUN_FMT = "<IB"
RUN_STOP_AT_PULSE = const(1)
RIG_RAN = const(0xAA)
RIG_RAN_FMT = "<IIIIIH"
RIG_CLOCK_GUARD_MS = const(5000)
# The sim board's thigh IMU (sim/imu_model.py, an LSM6DSO model): the rig feeds the ideal
# motion, one sample per output period: RIG_IMU (rig -> sim): n u8, then n x (pitch rate
# mdps i32, specific force along the thigh ug i32, normal to it ug i32). The first sample
# powers the IMU up (its periods start then).
RIG_IMU = const(0xAB)
RIG_IMU_HDR_FMT = "<B"
RIG_IMU_SAMPLE_FMT = "<iii"
RIG_IMU_MAX = const(20)
# The skin under the sim board's stimulation electrodes (sim/electrode_skin.py): RIG_SKIN
# (rig -> sim): kind u8 (0: an electrodermal response to discomfort, value = strength;
# 1: a local breakdown, value = the interface resistance's drop; 2: the contact area
# left), channel mask u8, value u16 per mille (0..1000). A bad one counts as a rig error.
RIG_SKIN = const(0xAC)
RIG_SKIN_FMT = "<BBH"
# A held-up loop (sim board only, sim/pass_hold.py): RIG_HOLD (rig -> sim): hold_us u32:
# every loop pass is held up that long before its first sample block and again before the
# next (long stages: an inference, a flash write), the DRDY interrupts firing meanwhile; 0: off.
RIG_HOLD = const(0xAD)
RIG_HOLD_FMT = "<I"
# On-garment motor units (garmentfw/mu_stage.py; filter layout and rules in mu_spec.py):
# the HD garment applies a few int16 separation filters to its filtered samples and sends
# the units' discharges instead of samples (over BLE: 64 raw channels do not fit it).
# STREAM_MU is a CONFIG kind: while streaming, no R_SAMPLES; one R_MU_ACTIVITY every
# mu_spec.INTERVAL_MS (earlier when mu_spec.MAX_EVENTS discharges wait), at any channel count.
STREAM_MU = const(3)
T_MU_UNIT = const(0x2C)   # privileged; body: mu_spec.UNIT_HDR_FMT, channels, weights -> R_ACK
T_MU_CLEAR = const(0x2D)  # privileged; body: -  (every unit removed) -> R_ACK
R_MU_ACTIVITY = const(0x94)
# first u32 (AFE index of the interval's first sample), n_samples u16 (the interval's
# samples), n_units u8 (units applied), n u8, then n x MU_DISCHARGE_FMT
MU_ACTIVITY_HDR_FMT = "<IHBB"
MU_ACTIVITY_HDR_LEN = const(8)
# unit u8, offset i16: a discharge at AFE index (first + offset) & COUNTER_MASK (offset < 0:
# confirmed in this interval, at a sample of an earlier one)
MU_DISCHARGE_FMT = "<Bh"
MU_DISCHARGE_LEN = const(3)
