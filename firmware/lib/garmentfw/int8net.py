# Device inference of the int8 decoder (format and arithmetic: garmentfw.model_format).
# With temporal context (K > 1) the decoder keeps a ring of its last (K-1)*S+1 int8
# input vectors: a window's decision then sees K windows, S apart.
#
# Int8Net.load() verifies the file completely (CRC, shapes, ranges, fs / channel
# count of the garment) before anything is kept, then copies the model into
# preallocated buffers. run() is allocation-free viper code on 32-bit words.
#
# Internal representation (exactly equivalent to the file's integers):
#   activations are held as unsigned bytes a = x + 128 (x the int8 value), weights as
#   unsigned bytes v = w + 128, so the inner loop is a plain u8 x u8 multiply-add:
#     sum_i w_i x_i = sum_i v_i a_i - 128 * sum_i a_i - 128 * sum_i v_i + 16384 n_in
#   and the per-row constants fold into the bias at load time:
#     B_j = bias_j - 128 * sum_i w[j][i]      (then acc = B_j + sum v a - 128 sum a)
#   |B_j| < 2^29 + 2^24, every partial sum < 2^30.
# int32 loads through ptr32 zero-extend on 64-bit ports (the unix port); each such
# load of a possibly-negative value is sign-extended with (v << _SX) >> _SX where _SX
# is 32 on 64-bit builds and 0 on the 32-bit MCUs (found by a probe at import).
import micropython
from array import array
from micropython import const

from garmentfw import model_format as mf

_CLAMP_IN = const(1024)  # mf.INPUT_CLAMP


@micropython.viper
def _probe(a: ptr32) -> int:
    return a[0]


_SX = 0 if _probe(array("i", [-1])) == -1 else 32


@micropython.viper
def _quant_input(x: ptr32, p: ptr32, out: ptr8, dims: ptr32):
    # dims: [n_in, sx, off]: features are x[off:off+n_in]. p: [offset, mult, shift,
    # transform] per feature. out: int8 + 128.
    n = dims[0]
    sx = dims[1]
    o = dims[2]
    i = 0
    k = 0
    while i < n:
        v = (x[o + i] << sx) >> sx
        if v < -0x3FFFFFFF:
            v = -0x3FFFFFFF
        elif v > 0x3FFFFFFF:
            v = 0x3FFFFFFF
        if p[k + 3]:  # TRANSFORM_LOG2: piecewise-linear log2, 4 fractional bits
            if v < 0:
                v = 0
            v += 1
            t = v
            e = 0
            if t >= 0x10000:
                t = t >> 16
                e += 16
            if t >= 0x100:
                t = t >> 8
                e += 8
            if t >= 0x10:
                t = t >> 4
                e += 4
            if t >= 4:
                t = t >> 2
                e += 2
            if t >= 2:
                e += 1
            if e >= 4:
                t = v >> (e - 4)
            else:
                t = v << (4 - e)
            v = (e << 4) + (t & 15)
        d = v - ((p[k] << sx) >> sx)  # |d| < 2^31
        m = p[k + 1]
        s = p[k + 2]
        if s >= 17:
            q = (d & 0xFFFF) * m
            u = (d >> 16) * m + (q >> 16)
            r = (u + (1 << (s - 17))) >> (s - 16)
        else:
            if d > _CLAMP_IN:
                d = _CLAMP_IN
            elif d < -_CLAMP_IN:
                d = -_CLAMP_IN
            r = (d * m + (1 << (s - 1))) >> s
        if r > 127:
            r = 127
        elif r < -128:
            r = -128
        out[i] = r + 128
        i += 1
        k += 4


@micropython.viper
def _context(a0: ptr8, hist: ptr8, ctx: ptr8, cs: ptr32):
    # Temporal context. cs: [n, K, S, H, head, filled]; hist holds H = (K-1)*S + 1
    # int8 input vectors (a ring, slot `head` the newest). Stores a0 as the newest
    # (a fresh ring takes it into every slot: earlier windows count as the first),
    # then ctx = [hist(t), hist(t-S), ..., hist(t-(K-1)S)].
    n = cs[0]
    kk = cs[1]
    step = cs[2]
    h = cs[3]
    head = cs[4] + 1
    if head >= h:
        head = 0
    cs[4] = head
    if cs[5] == 0:
        cs[5] = 1
        j = 0
        while j < h:
            b = j * n
            i = 0
            while i < n:
                hist[b + i] = a0[i]
                i += 1
            j += 1
    else:
        b = head * n
        i = 0
        while i < n:
            hist[b + i] = a0[i]
            i += 1
    k = 0
    slot = head
    o = 0
    while k < kk:
        b = slot * n
        i = 0
        while i < n:
            ctx[o] = hist[b + i]
            o += 1
            i += 1
        slot -= step
        if slot < 0:
            slot += h
        k += 1


@micropython.viper
def _dense8(a: ptr8, w: ptr8, b: ptr32, mq: ptr32, y: ptr8, dims: ptr32):
    # Hidden layer: u8 activations in, u8 (int8 + 128) activations out.
    # dims: [n_in, n_out, out_zp, lo, hi, sx]
    n_in = dims[0]
    n_out = dims[1]
    zp = (dims[2] << dims[5]) >> dims[5]
    lo = (dims[3] << dims[5]) >> dims[5]
    hi = dims[4]
    sx = dims[5]
    sa = 0
    i = 0
    while i < n_in:
        sa += a[i]
        i += 1
    sa = sa << 7
    j = 0
    k = 0
    while j < n_out:
        acc = ((b[j] << sx) >> sx) - sa
        i = 0
        while i < n_in:
            acc += w[k] * a[i]
            k += 1
            i += 1
        m = mq[2 * j]
        s = mq[2 * j + 1]
        q = (acc & 0xFFFF) * m
        u = (acc >> 16) * m + (q >> 16)
        r = ((u + (1 << (s - 17))) >> (s - 16)) + zp
        if r > hi:
            r = hi
        elif r < lo:
            r = lo
        y[j] = r + 128
        j += 1


@micropython.viper
def _dense32(a: ptr8, w: ptr8, b: ptr32, mq: ptr32, y: ptr32, dims: ptr32, st: ptr32) -> int:
    # Final layer: u8 activations in, int32 outputs out; argmax -> st[0], margin -> st[1].
    # dims: [n_in, n_out, 0, lo, hi, sx]
    n_in = dims[0]
    n_out = dims[1]
    lo = (dims[3] << dims[5]) >> dims[5]
    hi = dims[4]
    sx = dims[5]
    sa = 0
    i = 0
    while i < n_in:
        sa += a[i]
        i += 1
    sa = sa << 7
    best = 0
    top1 = 0
    top2 = 0
    j = 0
    k = 0
    while j < n_out:
        acc = ((b[j] << sx) >> sx) - sa
        i = 0
        while i < n_in:
            acc += w[k] * a[i]
            k += 1
            i += 1
        m = mq[2 * j]
        s = mq[2 * j + 1]
        q = (acc & 0xFFFF) * m
        u = (acc >> 16) * m + (q >> 16)
        r = (u + (1 << (s - 17))) >> (s - 16)
        if r > hi:
            r = hi
        elif r < lo:
            r = lo
        y[j] = r
        if j == 0:
            top1 = r
            top2 = r
        elif r > top1:
            top2 = top1
            top1 = r
            best = j
        elif j == 1 or r > top2:
            top2 = r
        j += 1
    st[0] = best
    st[1] = top1 - top2
    return best


@micropython.viper
def _vote(ring: ptr8, counts: ptr8, vs: ptr32, code: int) -> int:
    # vs: [k, filled, head, n_cat]. Pushes `code` (decision + 1), returns the majority
    # decision over the ring; a tie goes to the most recent of the tied decisions.
    k = vs[0]
    filled = vs[1]
    head = vs[2] + 1
    if head >= k:
        head = 0
    ring[head] = code
    if filled < k:
        filled += 1
    vs[1] = filled
    vs[2] = head
    n_cat = vs[3]
    c = 0
    while c < n_cat:
        counts[c] = 0
        c += 1
    best = 0
    i = 0
    while i < filled:
        c = ring[i]
        counts[c] += 1
        if counts[c] > best:
            best = counts[c]
        i += 1
    p = head
    i = 0
    while i < filled:
        c = ring[p]
        if counts[c] == best:
            return c - 1
        p -= 1
        if p < 0:
            p = k - 1
        i += 1
    return code - 1


class _Layer:
    def __init__(self, L, last):
        n_in = L.n_in
        n_out = L.n_out
        w = bytearray(L.weights)
        B = array("i", bytes(4 * n_out))
        mq = array("i", bytes(8 * n_out))
        for j in range(n_out):
            s = 0
            base = j * n_in
            for i in range(n_in):
                v = w[base + i]
                s += v - 256 if v > 127 else v
                w[base + i] = v ^ 0x80  # int8 -> unsigned w + 128
            B[j] = L.bias[j] - 128 * s
            mq[2 * j] = L.mult[j]
            mq[2 * j + 1] = L.shift[j]
        lo, hi = L.clamp_range()
        self.w = w
        self.b = B
        self.mq = mq
        self.dims = array("i", [n_in, n_out, L.out_zp, lo, hi, _SX])
        self.out = array("i", bytes(4 * n_out)) if last else bytearray(n_out)


class Int8Net:
    """A verified int8 decoder, ready to run one feature vector per window.

    After ``run()``: ``out`` (array('i')) holds the final int32 outputs (logits, or the
    regression outputs in units of ``scale``); for a classifier ``argmax``, ``margin``
    and ``decision`` describe the window, ``decision`` being what ``run()`` returned.
    """

    def __init__(self, model):
        self.model = model
        o = model.output
        self.task = o["task"]
        self.classifier = self.task == "classification"
        self.labels = o["labels"]
        self.scale = o["scale"]
        self.features = model.features
        self.stim = model.stim
        self.n_in = model.n_in
        self.n_out = model.n_out
        ip = model.input
        p = array("i", bytes(16 * ip.n))
        for i in range(ip.n):
            p[4 * i] = ip.offset[i]
            p[4 * i + 1] = ip.mult[i]
            p[4 * i + 2] = ip.shift[i]
            p[4 * i + 3] = ip.transform[i]
        self._ip = p
        self._in_dims = array("i", [ip.n, _SX, 0])
        self._a0 = bytearray(ip.n)
        self.context = ip.context
        self.context_step = ip.context_step
        h = (ip.context - 1) * ip.context_step + 1
        self._hist = bytearray(h * ip.n if ip.context > 1 else 1)
        self._ctx = bytearray(ip.width) if ip.context > 1 else self._a0
        self._cs = array("i", [ip.n, ip.context, ip.context_step, h, h - 1, 0])
        n = len(model.layers)
        self._hidden = [_Layer(model.layers[k], False) for k in range(n - 1)]
        self._n_hidden = n - 1
        self._last = _Layer(model.layers[n - 1], True)
        self.out = self._last.out
        self._st = array("i", [0, 0, 0])  # argmax, margin, decision
        self.reject_margin = o.get("reject_margin", 0)
        self.reject_class = o.get("reject_class", -1)
        k = o.get("vote", 1)
        self.vote = k
        self._ring = bytearray(k)
        self._counts = bytearray(self.n_out + 1)
        self._vs = array("i", [k, 0, k - 1, self.n_out + 1])

    @classmethod
    def load(cls, src, fs, n_ch):
        """Load a model from file bytes or a path; verifies everything before use.

        Raises model_format.ModelFormatError (a ValueError) with a clear message for a
        bad magic, unknown version, bad CRC, truncation, inconsistent shapes, or a
        model made for another sampling rate / channel count than ``fs`` / ``n_ch``.
        """
        if isinstance(src, str):
            with open(src, "rb") as f:
                src = f.read()
        return cls(mf.parse(src, fs, n_ch))

    def reset(self):
        """Forget the history: the temporal context and the decisions (majority vote)."""
        self._vs[1] = 0
        self._vs[2] = self.vote - 1
        self._cs[4] = self._cs[3] - 1
        self._cs[5] = 0

    @property
    def argmax(self):
        return self._st[0]

    @property
    def margin(self):
        return self._st[1]

    @property
    def decision(self):
        return self._st[2]

    def logits(self, x, off=0):
        """Compute the final int32 outputs of the feature vector ``x[off:off+n_in]``
        (array('i'), e.g. one window of FeatureExtractor.out) into ``out``.

        Returns the argmax (meaningful for classifiers). Allocation-free.
        """
        d = self._in_dims
        d[2] = off
        _quant_input(x, self._ip, self._a0, d)
        a = self._a0
        if self.context > 1:
            _context(a, self._hist, self._ctx, self._cs)
            a = self._ctx
        hidden = self._hidden
        for k in range(self._n_hidden):
            L = hidden[k]
            _dense8(a, L.w, L.b, L.mq, L.out, L.dims)
            a = L.out
        L = self._last
        return _dense32(a, L.w, L.b, L.mq, L.out, L.dims, self._st)

    def run(self, x, off=0):
        """Decode one window's features ``x[off:off+n_in]`` (array('i')). Allocation-free.

        Classifier: the class index after rejection (``reject_class`` when the margin is
        below ``reject_margin``) and the majority vote. Regression: the first output
        as an int (value = int * ``scale``).
        """
        best = self.logits(x, off)
        if not self.classifier:
            return self.out[0]
        st = self._st
        if st[1] < self.reject_margin:
            best = self.reject_class
        if self.vote > 1:
            best = _vote(self._ring, self._counts, self._vs, best + 1)
        st[2] = best
        return best

    def value(self, i=0):
        """Regression output i as a float (allocates: not for the hot path)."""
        return self.out[i] * self.scale
