# The decoder model file format: THE one definition, shared by the firmware
# (garmentfw.int8net loads it) and the host (garment.models.modelfile imports this very
# file through garment.contracts). Plain Python: MicroPython and CPython both run it.
#
# FILE LAYOUT (all integers little-endian, no padding anywhere):
#
#   offset  size  field
#   0       4     magic b"GMDL"
#   4       2     format version (FORMAT_VERSION; other versions are refused)
#   6       2     header length = 16
#   8       4     total file length in bytes, CRC included
#   12      2     number of sections
#   14      2     flags (0)
#   16      ...   sections, back to back; each is
#                   tag u16 | reserved u16 (0) | length u32 | payload (length bytes)
#   end-4   4     CRC-32 (IEEE 802.3 / zlib: poly 0x04C11DB7 reflected, init and
#                 xor-out 0xFFFFFFFF) over every byte before it
#
# SECTIONS (mandatory tags < 0x8000 must be known; optional tags >= 0x8000 that this
# version does not know are skipped):
#   TAG_FEATURES  JSON object: the feature configuration the model was trained on
#                 (the features contract's FeatureConfig.to_dict(): fs, n_ch, window,
#                 increment, features, thresholds). Exactly once.
#   TAG_OUTPUT    JSON object: task "classification" | "regression", labels (class
#                 names, or output names for regression), scale (real units per LSB of
#                 the final int32 outputs), units, post-processing: reject_margin (int,
#                 0 = never reject), reject_class (-1 = "no decision", or a class index),
#                 vote (k of the majority vote over the last k decisions, 1 = off).
#                 Exactly once.
#   TAG_STIM      JSON object: the stimulation policy's parameters, opaque to the
#                 decoder but validated: {"preset": one of STIM_PRESETS, "params":
#                 {name: number or list of <= 16 numbers}}. Exactly once.
#   TAG_INPUT     u16 n_in | u8 context | u8 context_step, then per feature i32 offset |
#                 u16 mult | u8 shift | u8 transform (8 bytes). Exactly once, before the
#                 layers. n_in is the width of one window's feature vector; the first
#                 layer takes context * n_in inputs (temporal context, see below).
#   TAG_DENSE     u16 n_in | u16 n_out | u8 relu (0/1) | u8 out_bits (8 or 32) |
#                 u16 reserved | i32 in_zp | i32 out_zp, then weights int8 [n_out][n_in]
#                 (output-major), bias i32 [n_out], mult u16 [n_out], shift u8 [n_out].
#                 One per layer, in order (1..MAX_LAYERS).
#   TAG_INFO      (optional) JSON object: provenance (trainer, metrics, date...).
#
# THE INT8 ARITHMETIC (identical integers on the device and in the host reference):
#   requantize(v, M, n) = floor((v * M + 2^(n-1)) / 2^n)
#     i.e. v * M / 2^n rounded to nearest, ties toward +infinity. M is a 15-bit
#     mantissa, MULT_MIN <= M <= MULT_MAX, so M / 2^n carries 15 significant bits.
#     This is the ONE rounding rule. The device computes it exactly in 32-bit words
#     (no 64-bit product): for n >= 17 with v = hi * 2^16 + lo (hi = v >> 16, lo = v &
#     0xFFFF), q = lo * M < 2^31, u = hi * M + (q >> 16), result = (u + 2^(n-17)) >>
#     (n-16); for n < 17 (input stage only) v is first clamped to +-INPUT_CLAMP, which
#     cannot change the int8 result (M / 2^n >= 1/4, so 1024 already saturates), and
#     the product v * M < 2^25 is formed directly.
#   Input stage, per feature i (standardisation folded in, integers only):
#     x  = clamp(feature_i, -(2^30 - 1), 2^30 - 1)         (31-bit signed, symmetric)
#     transform_i = TRANSFORM_LOG2 (amplitude features, heavy-tailed): x = log2c(x) with
#       log2c(x) = 16 * e + ((v >> (e - 4) if e >= 4 else v << (4 - e)) & 15),
#       v = max(x, 0) + 1, e = floor(log2(v)) (bit length - 1): a piecewise-linear
#       log2 with LOG_FRAC_BITS = 4 fractional bits, exact in integers, 0..495. The float
#       model is trained on these very integers, so the transform adds no skew.
#     xq = clamp(requantize(x - offset_i, mult_i, shift_i), -128, 127)   int8, zp 0
#     shift_i in [1, 46].
#   Temporal context (K = context in 1..MAX_CONTEXT, S = context_step in 1..MAX_CONTEXT):
#     the first layer's input is [xq(t), xq(t - S), ..., xq(t - (K-1) S)], the int8
#     input vectors of this window and of K-1 earlier ones, S windows apart. Windows
#     before the first one since reset count as that first one (a fresh decoder
#     repeats its first vector). K = 1 is a plain per-window decoder.
#   Dense layer j (weights w int8 in [-127, 127], input x int8 with zero point in_zp):
#     acc = bias_j + sum_i w[j][i] * x_i     (bias_j already holds -in_zp*sum_i w[j][i])
#     y   = requantize(acc, mult_j, shift_j) + out_zp, shift_j in [17, 46]
#     clamp: out_bits 8 -> [relu ? out_zp : -128, 127]; out_bits 32 -> [relu ? 0 :
#     -(2^30 - 1), 2^30 - 1] (out_zp = 0). Hidden layers are int8, the last one int32.
#     |bias| <= BIAS_MAX, so |acc| < 2^30 for n_in <= MAX_IN.
#   Classification: argmax of the final outputs (lowest index wins a tie), margin =
#     top1 - top2; margin < reject_margin -> reject_class; then, if vote > 1, the
#     majority over the last `vote` post-rejection decisions, a tie going to the most
#     recent of the tied decisions. Regression: output value = int * scale.
try:
    from micropython import const
except ImportError:  # CPython (host side)
    const = lambda x: x  # noqa: E731

import json
import struct
from array import array

MAGIC = b"GMDL"
FORMAT_VERSION = const(2)  # 2: temporal context in the input section (1 had a reserved 0)
SUPPORTED_VERSIONS = (2,)
HEADER_LEN = const(16)
SECTION_HEAD = const(8)
CRC_LEN = const(4)
MAX_FILE = const(65536)

TAG_FEATURES = const(0x0001)
TAG_OUTPUT = const(0x0002)
TAG_STIM = const(0x0003)
TAG_INPUT = const(0x0010)
TAG_DENSE = const(0x0011)
TAG_INFO = const(0x8001)
TAG_OPTIONAL = const(0x8000)  # tags >= this may be skipped by readers that do not know them

MAX_IN = const(1024)
MAX_OUT = const(256)
MAX_LAYERS = const(4)
MAX_LABELS = const(64)
MAX_VOTE = const(32)
MAX_CONTEXT = const(8)
MAX_JSON = const(4096)
MULT_MIN = const(16384)  # 2^14
MULT_MAX = const(32767)  # 2^15 - 1
IN_SHIFT_MIN = const(1)
SHIFT_MIN = const(17)
SHIFT_MAX = const(46)
INPUT_CLAMP = const(1024)
BIAS_MAX = const(536870912)  # 2^29
OFFSET_MAX = const(1073741823)  # 2^30 - 1
FEATURE_MIN = const(-1073741823)  # -(2^30 - 1)
FEATURE_MAX = const(1073741823)  # 2^30 - 1
OUT32_MIN = const(-1073741823)
OUT32_MAX = const(1073741823)

TRANSFORM_LINEAR = const(0)
TRANSFORM_LOG2 = const(1)
LOG_FRAC_BITS = const(4)

TASKS = ("classification", "regression")
STIM_PRESETS = ("off", "proportional", "threshold", "cycling")
MAX_STIM_PARAMS = const(32)
MAX_STIM_LIST = const(16)

_HDR = "<4sHHIHH"
_SEC = "<HHI"
_DENSE_HDR = "<HHBBHii"
_DENSE_HDR_LEN = const(16)
_INPUT_ITEM = "<iHBB"
_INPUT_ITEM_LEN = const(8)


class ModelFormatError(ValueError):
    """A model file that must not be used. ``code`` names the reason (stable, short):
    truncated, magic, version, length, crc, section, json, features, output, stim,
    input, shape, range, incompatible."""

    def __init__(self, code, msg):
        super().__init__("model file rejected (%s): %s" % (code, msg))
        self.code = code


def _fail(code, msg):
    raise ModelFormatError(code, msg)


# ---- CRC-32 --------------------------------------------------------------------------
try:
    from binascii import crc32 as _crc32
except ImportError:  # a port built without binascii.crc32
    _crc32 = None

_TABLE = None


def crc32(data, crc=0):
    """CRC-32 (zlib / IEEE) of ``data``, continuing from ``crc``; unsigned result."""
    if _crc32 is not None:
        return _crc32(data, crc) & 0xFFFFFFFF
    global _TABLE
    if _TABLE is None:
        t = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
            t.append(c)
        _TABLE = t
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---- the rounding rule (scalar reference; the device and the host reference copy it) --
def model_id(data):
    """What MODEL_BEGIN and MODEL_INFO name a model file by: the CRC-32 of all but its last
    4 bytes (the CRC of a whole file is one constant, its CRC residue)."""
    return crc32(memoryview(data)[:-CRC_LEN])


def requantize(v, mult, shift):
    """floor((v * mult + 2^(shift-1)) / 2^shift): the one rounding rule (arbitrary ints)."""
    return (v * mult + (1 << (shift - 1))) >> shift


def log2c(x):
    """The input transform TRANSFORM_LOG2 of one (already 31-bit-clamped) feature value."""
    v = (x if x > 0 else 0) + 1
    e = -1
    t = v
    while t:
        t >>= 1
        e += 1
    f = v >> (e - LOG_FRAC_BITS) if e >= LOG_FRAC_BITS else v << (LOG_FRAC_BITS - e)
    return (e << LOG_FRAC_BITS) + (f & ((1 << LOG_FRAC_BITS) - 1))


# ---- the in-memory model --------------------------------------------------------------
class InputStage:
    """Per-feature integer input quantisation: offset (i32), mult (u16), shift (u8),
    transform (u8: TRANSFORM_LINEAR or TRANSFORM_LOG2)."""

    def __init__(self, offset, mult, shift, transform=None, context=1, context_step=1):
        self.offset = array("i", offset)
        self.mult = array("i", mult)
        self.shift = array("i", shift)
        self.n = len(self.offset)
        self.transform = array("i", transform if transform is not None else bytes(4 * self.n))
        self.context = context
        self.context_step = context_step

    @property
    def width(self):
        """Inputs of the first layer: context * n."""
        return self.n * self.context


class Dense:
    """One int8 dense layer. ``weights`` is int8 two's complement, output-major."""

    def __init__(self, n_in, n_out, weights, bias, mult, shift, relu=False, out_bits=8, in_zp=0, out_zp=0):
        self.n_in = n_in
        self.n_out = n_out
        self.weights = bytes(weights)
        self.bias = array("i", bias)
        self.mult = array("i", mult)
        self.shift = array("i", shift)
        self.relu = bool(relu)
        self.out_bits = out_bits
        self.in_zp = in_zp
        self.out_zp = out_zp

    def clamp_range(self):
        """(lo, hi) of the layer's outputs after requantisation and the zero point."""
        if self.out_bits == 8:
            return (self.out_zp if self.relu else -128), 127
        return (0 if self.relu else OUT32_MIN), OUT32_MAX


class Model:
    """A parsed (or to-be-packed) model: dict sections, the input stage, the layers."""

    def __init__(self, features, output, stim, input_stage, layers, info=None, version=FORMAT_VERSION):
        self.version = version
        self.features = features
        self.output = output
        self.stim = stim
        self.input = input_stage
        self.layers = layers
        self.info = info if info is not None else {}

    @property
    def n_in(self):
        return self.input.n

    @property
    def n_out(self):
        return self.layers[-1].n_out

    @property
    def task(self):
        return self.output["task"]

    @property
    def labels(self):
        return self.output["labels"]


# ---- validation helpers ---------------------------------------------------------------
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    if isinstance(v, bool):
        return False
    if _is_int(v):
        return True
    return isinstance(v, float) and v - v == 0.0  # rejects nan and +-inf


def _req_int(sec, d, key, lo, hi, code):
    v = d.get(key)
    if not _is_int(v) or v < lo or v > hi:
        _fail(code, "%s: %r must be an int in [%d, %d], got %r" % (sec, key, lo, hi, v))
    return v


def feature_names(features):
    """The feature-name list of a feature configuration dict."""
    names = features.get("features")
    if names is None:
        names = features.get("feature_names")
    return names


def check_features(f):
    """Validate the feature-configuration dict; returns the number of features per channel."""
    if not isinstance(f, dict):
        _fail("features", "the feature configuration must be a JSON object")
    _req_int("features", f, "fs", 1, 1000000, "features")
    _req_int("features", f, "n_ch", 1, 256, "features")
    _req_int("features", f, "window", 1, 1 << 20, "features")
    _req_int("features", f, "increment", 1, 1 << 20, "features")
    names = feature_names(f)
    if not isinstance(names, list) or not names:
        _fail("features", "'features' must be a non-empty list of feature names")
    for nm in names:
        if not isinstance(nm, str) or not nm:
            _fail("features", "feature names must be non-empty strings, got %r" % (nm,))
    return len(names)


def check_output(o, n_out):
    """Validate the output section against the final layer's width."""
    if not isinstance(o, dict):
        _fail("output", "the output section must be a JSON object")
    task = o.get("task")
    if task not in TASKS:
        _fail("output", "task must be one of %s, got %r" % (", ".join(TASKS), task))
    labels = o.get("labels")
    if not isinstance(labels, list) or len(labels) != n_out:
        _fail("shape", "%d labels for %d outputs of the final layer"
              % (len(labels) if isinstance(labels, list) else -1, n_out))
    for lb in labels:
        if not isinstance(lb, str):
            _fail("output", "labels must be strings, got %r" % (lb,))
    if len(labels) > MAX_LABELS:
        _fail("output", "more than %d outputs" % MAX_LABELS)
    scale = o.get("scale")
    if not _is_num(scale) or scale <= 0:
        _fail("output", "scale must be a positive finite number, got %r" % (scale,))
    if task == "classification":
        if n_out < 2:
            _fail("shape", "a classifier needs at least 2 outputs, has %d" % n_out)
        _req_int("output", o, "reject_margin", 0, OUT32_MAX, "output")
        _req_int("output", o, "reject_class", -1, n_out - 1, "output")
        _req_int("output", o, "vote", 1, MAX_VOTE, "output")


def check_stim(s):
    """Validate the stimulation-policy section (its meaning belongs to the policy)."""
    if not isinstance(s, dict):
        _fail("stim", "the stimulation section must be a JSON object")
    preset = s.get("preset")
    if preset not in STIM_PRESETS:
        _fail("stim", "unknown stimulation preset %r (known: %s)" % (preset, ", ".join(STIM_PRESETS)))
    params = s.get("params")
    if not isinstance(params, dict):
        _fail("stim", "'params' must be a JSON object")
    if len(params) > MAX_STIM_PARAMS:
        _fail("stim", "more than %d parameters" % MAX_STIM_PARAMS)
    for k in params:
        v = params[k]
        if not isinstance(k, str) or not k or len(k) > 32:
            _fail("stim", "bad parameter name %r" % (k,))
        if isinstance(v, list):
            if len(v) > MAX_STIM_LIST:
                _fail("stim", "parameter %r: more than %d values" % (k, MAX_STIM_LIST))
            for e in v:
                if not _is_num(e):
                    _fail("stim", "parameter %r: %r is not a finite number" % (k, e))
        elif not _is_num(v):
            _fail("stim", "parameter %r: %r is not a finite number" % (k, v))
    for k in s:
        if k not in ("preset", "params"):
            _fail("stim", "unknown key %r" % (k,))


def check_model(m):
    """Validate shapes, ranges and the chaining of a Model (raises ModelFormatError)."""
    n_feat = check_features(m.features)
    n_ch = m.features["n_ch"]
    ip = m.input
    if ip.n < 1 or ip.n > MAX_IN:
        _fail("shape", "input width %d out of range [1, %d]" % (ip.n, MAX_IN))
    if ip.n != n_ch * n_feat:
        _fail("shape", "input width %d != n_ch %d x %d features" % (ip.n, n_ch, n_feat))
    if len(ip.mult) != ip.n or len(ip.shift) != ip.n or len(ip.transform) != ip.n:
        _fail("shape", "input stage arrays have inconsistent lengths")
    for nm, v in (("context", ip.context), ("context_step", ip.context_step)):
        if not _is_int(v) or v < 1 or v > MAX_CONTEXT:
            _fail("range", "input %s=%r not in [1, %d]" % (nm, v, MAX_CONTEXT))
    if ip.width > MAX_IN:
        _fail("shape", "context x input width = %d beyond %d" % (ip.width, MAX_IN))
    for i in range(ip.n):
        if ip.offset[i] < -OFFSET_MAX or ip.offset[i] > OFFSET_MAX:
            _fail("range", "input offset[%d]=%d beyond +-2^30" % (i, ip.offset[i]))
        if ip.mult[i] < MULT_MIN or ip.mult[i] > MULT_MAX:
            _fail("range", "input mult[%d]=%d not in [%d, %d]" % (i, ip.mult[i], MULT_MIN, MULT_MAX))
        if ip.shift[i] < IN_SHIFT_MIN or ip.shift[i] > SHIFT_MAX:
            _fail("range", "input shift[%d]=%d not in [%d, %d]" % (i, ip.shift[i], IN_SHIFT_MIN, SHIFT_MAX))
        if ip.transform[i] != TRANSFORM_LINEAR and ip.transform[i] != TRANSFORM_LOG2:
            _fail("range", "input transform[%d]=%d unknown" % (i, ip.transform[i]))
    if not m.layers or len(m.layers) > MAX_LAYERS:
        _fail("shape", "%d layers (1..%d allowed)" % (len(m.layers), MAX_LAYERS))
    prev_n = ip.width
    prev_zp = 0
    last = len(m.layers) - 1
    for k in range(len(m.layers)):
        L = m.layers[k]
        if L.n_in != prev_n:
            _fail("shape", "layer %d takes %d inputs but receives %d" % (k, L.n_in, prev_n))
        if L.n_out < 1 or L.n_out > MAX_OUT:
            _fail("shape", "layer %d: %d outputs (1..%d allowed)" % (k, L.n_out, MAX_OUT))
        if len(L.weights) != L.n_in * L.n_out or len(L.bias) != L.n_out \
                or len(L.mult) != L.n_out or len(L.shift) != L.n_out:
            _fail("shape", "layer %d: array sizes do not match %dx%d" % (k, L.n_out, L.n_in))
        if L.in_zp != prev_zp:
            _fail("shape", "layer %d: input zero point %d != previous output zero point %d" % (k, L.in_zp, prev_zp))
        want_bits = 32 if k == last else 8
        if L.out_bits != want_bits:
            _fail("shape", "layer %d: out_bits %d (hidden layers are int8, the last int32)" % (k, L.out_bits))
        if L.out_bits == 8 and (L.out_zp < -128 or L.out_zp > 127):
            _fail("range", "layer %d: output zero point %d outside int8" % (k, L.out_zp))
        if L.out_bits == 32 and L.out_zp != 0:
            _fail("range", "layer %d: int32 output needs zero point 0" % k)
        for b in L.weights:
            if b == 0x80:  # -128: weights are symmetric, [-127, 127]
                _fail("range", "layer %d: weight -128 (weights are in [-127, 127])" % k)
        for j in range(L.n_out):
            if L.bias[j] < -BIAS_MAX or L.bias[j] > BIAS_MAX:
                _fail("range", "layer %d: bias[%d]=%d beyond +-2^29" % (k, j, L.bias[j]))
            if L.mult[j] < MULT_MIN or L.mult[j] > MULT_MAX:
                _fail("range", "layer %d: mult[%d]=%d not in [%d, %d]" % (k, j, L.mult[j], MULT_MIN, MULT_MAX))
            if L.shift[j] < SHIFT_MIN or L.shift[j] > SHIFT_MAX:
                _fail("range", "layer %d: shift[%d]=%d not in [%d, %d]" % (k, j, L.shift[j], SHIFT_MIN, SHIFT_MAX))
        prev_n = L.n_out
        prev_zp = L.out_zp
    check_output(m.output, prev_n)
    check_stim(m.stim)
    if not isinstance(m.info, dict):
        _fail("json", "the info section must be a JSON object")


def check_compatible(m, fs=None, n_ch=None):
    """Refuse a model trained for another sampling rate or channel count than the garment runs."""
    f = m.features
    if fs is not None and f["fs"] != fs:
        _fail("incompatible", "the model expects fs=%d Hz but the garment samples at %d Hz" % (f["fs"], fs))
    if n_ch is not None and f["n_ch"] != n_ch:
        _fail("incompatible", "the model expects %d EMG channels but the garment runs %d" % (f["n_ch"], n_ch))


# ---- packing --------------------------------------------------------------------------
def _json_bytes(obj):
    try:
        s = json.dumps(obj, separators=(",", ":"), sort_keys=True)
    except TypeError:  # MicroPython's json.dumps takes no keywords
        s = json.dumps(obj)
    return s.encode("utf-8")


def _section(tag, payload):
    return struct.pack(_SEC, tag, 0, len(payload)) + payload


def _pack_input(ip):
    parts = [struct.pack("<HBB", ip.n, ip.context, ip.context_step)]
    for i in range(ip.n):
        parts.append(struct.pack(_INPUT_ITEM, ip.offset[i], ip.mult[i], ip.shift[i], ip.transform[i]))
    return b"".join(parts)


def _pack_dense(L):
    n = L.n_out
    return b"".join((
        struct.pack(_DENSE_HDR, L.n_in, n, 1 if L.relu else 0, L.out_bits, 0, L.in_zp, L.out_zp),
        bytes(L.weights),
        struct.pack("<%di" % n, *L.bias),
        struct.pack("<%dH" % n, *L.mult),
        struct.pack("<%dB" % n, *L.shift),
    ))


def pack(m):
    """Serialise a Model (validated first) into the file bytes, CRC included."""
    check_model(m)
    secs = [
        _section(TAG_FEATURES, _json_bytes(m.features)),
        _section(TAG_OUTPUT, _json_bytes(m.output)),
        _section(TAG_STIM, _json_bytes(m.stim)),
        _section(TAG_INPUT, _pack_input(m.input)),
    ]
    for L in m.layers:
        secs.append(_section(TAG_DENSE, _pack_dense(L)))
    if m.info:
        secs.append(_section(TAG_INFO, _json_bytes(m.info)))
    body = b"".join(secs)
    total = HEADER_LEN + len(body) + CRC_LEN
    if total > MAX_FILE:
        _fail("length", "model is %d bytes, the format allows %d" % (total, MAX_FILE))
    head = struct.pack(_HDR, MAGIC, FORMAT_VERSION, HEADER_LEN, total, len(secs), 0)
    data = head + body
    return data + struct.pack("<I", crc32(data))


# ---- parsing --------------------------------------------------------------------------
def _json(mv, what):
    if len(mv) > MAX_JSON:
        _fail("json", "%s section is %d bytes (max %d)" % (what, len(mv), MAX_JSON))
    try:
        obj = json.loads(str(bytes(mv), "utf-8"))
    except (ValueError, UnicodeError) as e:
        _fail("json", "%s section is not valid UTF-8 JSON (%s)" % (what, e))
    if not isinstance(obj, dict):
        _fail("json", "%s section must be a JSON object" % what)
    return obj


def _parse_input(mv):
    if len(mv) < 4:
        _fail("section", "input section shorter than its header")
    n, ctx, step = struct.unpack_from("<HBB", mv, 0)
    if len(mv) != 4 + n * _INPUT_ITEM_LEN:
        _fail("section", "input section is %d bytes, %d features need %d" % (len(mv), n, 4 + n * _INPUT_ITEM_LEN))
    off = []
    mult = []
    shift = []
    tr = []
    p = 4
    for _ in range(n):
        o, mu, sh, t = struct.unpack_from(_INPUT_ITEM, mv, p)
        off.append(o)
        mult.append(mu)
        shift.append(sh)
        tr.append(t)
        p += _INPUT_ITEM_LEN
    return InputStage(off, mult, shift, tr, ctx, step)


def _parse_dense(mv, k):
    if len(mv) < _DENSE_HDR_LEN:
        _fail("section", "layer %d section shorter than its header" % k)
    n_in, n_out, relu, bits, _r, in_zp, out_zp = struct.unpack_from(_DENSE_HDR, mv, 0)
    need = _DENSE_HDR_LEN + n_out * n_in + 7 * n_out
    if len(mv) != need:
        _fail("shape", "layer %d section is %d bytes, a %dx%d layer needs %d" % (k, len(mv), n_out, n_in, need))
    if relu > 1:
        _fail("section", "layer %d: activation code %d unknown" % (k, relu))
    p = _DENSE_HDR_LEN
    w = bytes(mv[p:p + n_out * n_in])
    p += n_out * n_in
    bias = struct.unpack_from("<%di" % n_out, mv, p)
    p += 4 * n_out
    mult = struct.unpack_from("<%dH" % n_out, mv, p)
    p += 2 * n_out
    shift = struct.unpack_from("<%dB" % n_out, mv, p)
    return Dense(n_in, n_out, w, bias, mult, shift, relu == 1, bits, in_zp, out_zp)


def parse(buf, fs=None, n_ch=None):
    """Verify and parse model file bytes; returns a Model.

    Checks, in order: length, magic, version, declared length, CRC-32, section bounds,
    section contents, shapes and ranges, and (when given) that the model was made for
    the garment's sampling rate ``fs`` and channel count ``n_ch``. Raises
    ModelFormatError with a clear message on the first problem; nothing is returned
    from a file that fails any check.
    """
    mv = memoryview(buf)
    size = len(mv)
    if size < HEADER_LEN + CRC_LEN:
        _fail("truncated", "%d bytes, shorter than the %d-byte header and CRC" % (size, HEADER_LEN + CRC_LEN))
    magic, version, hlen, total, n_sec, flags = struct.unpack_from(_HDR, mv, 0)
    if magic != MAGIC:
        _fail("magic", "bad magic %r (expected %r): not a garment model file" % (bytes(magic), MAGIC))
    if version not in SUPPORTED_VERSIONS:
        _fail("version", "format version %d is not supported (this firmware reads %s): %s"
              % (version, ", ".join(str(v) for v in SUPPORTED_VERSIONS),
                 "retrain the model with this release's host" if version < FORMAT_VERSION
                 else "update the firmware to the host's release"))
    if hlen != HEADER_LEN or flags != 0:
        _fail("section", "header length %d / flags %d not valid for version %d" % (hlen, flags, version))
    if total > MAX_FILE:
        _fail("length", "declared length %d exceeds %d" % (total, MAX_FILE))
    if size < total:
        _fail("truncated", "file is %d bytes but the header declares %d" % (size, total))
    if size > total:
        _fail("length", "%d unexpected bytes after the declared end (%d bytes)" % (size - total, total))
    want = struct.unpack_from("<I", mv, total - CRC_LEN)[0]
    got = crc32(mv[:total - CRC_LEN])
    if got != want:
        _fail("crc", "CRC-32 mismatch (stored 0x%08x, computed 0x%08x): file corrupted" % (want, got))
    p = HEADER_LEN
    end = total - CRC_LEN
    found = {}
    ip = None
    layers = []
    for s in range(n_sec):
        if p + SECTION_HEAD > end:
            _fail("section", "section %d header runs past the end of the file" % s)
        tag, res, ln = struct.unpack_from(_SEC, mv, p)
        p += SECTION_HEAD
        if res != 0:
            _fail("section", "section %d: reserved field is %d" % (s, res))
        if p + ln > end:
            _fail("section", "section %d (tag 0x%04x) runs past the end of the file" % (s, tag))
        body = mv[p:p + ln]
        p += ln
        if tag == TAG_DENSE:
            if ip is None:
                _fail("section", "a layer comes before the input section")
            layers.append(_parse_dense(body, len(layers)))
            if len(layers) > MAX_LAYERS:
                _fail("shape", "more than %d layers" % MAX_LAYERS)
            continue
        if tag in found:
            _fail("section", "section tag 0x%04x appears twice" % tag)
        if tag == TAG_FEATURES:
            found[tag] = _json(body, "features")
        elif tag == TAG_OUTPUT:
            found[tag] = _json(body, "output")
        elif tag == TAG_STIM:
            found[tag] = _json(body, "stim")
        elif tag == TAG_INFO:
            found[tag] = _json(body, "info")
        elif tag == TAG_INPUT:
            ip = _parse_input(body)
            found[tag] = True
        elif tag < TAG_OPTIONAL:
            _fail("section", "unknown mandatory section tag 0x%04x" % tag)
    if p != end:
        _fail("section", "%d bytes between the last section and the CRC" % (end - p))
    for tag, what in ((TAG_FEATURES, "features"), (TAG_OUTPUT, "output"), (TAG_STIM, "stim"), (TAG_INPUT, "input")):
        if tag not in found:
            _fail("section", "the %s section is missing" % what)
    if not layers:
        _fail("section", "no layers")
    m = Model(found[TAG_FEATURES], found[TAG_OUTPUT], found[TAG_STIM], ip, layers,
              found.get(TAG_INFO, {}), version)
    check_model(m)
    check_compatible(m, fs, n_ch)
    return m
