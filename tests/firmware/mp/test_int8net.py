import gc
import json
from array import array

from garmentfw import model_format as mf
from garmentfw.int8net import Int8Net

GOLDEN = "../../../models/golden/"
MODELS = ("int8_mlp.gmdl", "int8_lda.gmdl", "int8_ridge.gmdl", "int8_ctx.gmdl")


def _json(name):
    with open(GOLDEN + name) as f:
        return json.load(f)


def _bytes(name):
    with open(GOLDEN + name, "rb") as f:
        return f.read()


def _row(vals):
    # Golden inputs include values outside int32 on purpose only within int32 storage.
    a = array("i", bytes(4 * len(vals)))
    for i in range(len(vals)):
        a[i] = vals[i]
    return a


def _expect_error(code, buf, fs=None, n_ch=None):
    try:
        Int8Net.load(buf, fs, n_ch)
    except mf.ModelFormatError as e:
        assert e.code == code, (code, e.code, str(e))
        assert len(str(e)) > 20
        return str(e)
    raise AssertionError("no error, expected " + code)


def _recrc(b):
    b = bytearray(b)
    n = len(b) - 4
    c = mf.crc32(b[:n])
    b[n:] = bytes([c & 0xFF, (c >> 8) & 0xFF, (c >> 16) & 0xFF, (c >> 24) & 0xFF])
    return bytes(b)


def test_crc32_check_value():
    assert mf.crc32(b"123456789") == 0xCBF43926


def test_golden_models_identical_integers():
    vec = _json("int8_vectors.json")["models"]
    for name in MODELS:
        g = vec[name]
        net = Int8Net.load(GOLDEN + name, g["fs"], g["n_ch"])
        assert net.n_out == len(g["outputs"][0])
        for i in range(len(g["inputs"])):
            x = _row(g["inputs"][i])
            best = net.logits(x)
            assert list(net.out) == g["outputs"][i], (name, i, list(net.out), g["outputs"][i])
            if g["task"] == "classification":
                assert best == g["argmax"][i] and net.margin == g["margin"][i], (name, i)


def test_golden_decisions_sequence():
    vec = _json("int8_vectors.json")["models"]
    for name in MODELS:
        g = vec[name]
        net = Int8Net.load(_bytes(name), g["fs"], g["n_ch"])
        got = [net.run(_row(r)) for r in g["inputs"]]
        assert got == g["decisions"], (name, got, g["decisions"])
        net.reset()
        assert [net.run(_row(r)) for r in g["inputs"]] == g["decisions"]


def _cfg(n_in):
    return {"fs": 1000, "n_ch": 1, "window": 200, "increment": 50, "features": ["f%d" % i for i in range(n_in)]}


def _net(input_stage, layers, labels):
    out = {"task": "regression", "labels": labels, "scale": 1.0}
    m = mf.Model(_cfg(1), out, {"preset": "off", "params": {}}, input_stage, layers)
    mf.check_model(m)
    return Int8Net(m)


_IDENT_IN = mf.InputStage([0], [16384], [14])  # xq = clamp(feature, -128, 127)


def test_requant_input_stage():
    cases = _json("int8_requant.json")["input"]["cases"]
    last = mf.Dense(1, 1, b"\x01", [0], [16384], [17], False, 32)
    x = array("i", [0])
    for f, o, M, n, exp in cases:
        net = _net(mf.InputStage([o], [M], [n]), [last], ["y"])
        x[0] = f
        net.logits(x)
        assert net._a0[0] - 128 == exp, (f, o, M, n, net._a0[0] - 128, exp)


def test_log2_input_transform():
    cases = _json("int8_requant.json")["log2c"]["cases"]
    last = mf.Dense(1, 1, b"\x01", [0], [16384], [17], False, 32)
    x = array("i", [0])
    for f, exp in cases:
        # offset exp - 100 and multiplier 1: the int8 input is 100 iff log2c(f) == exp
        net = _net(mf.InputStage([exp - 100], [16384], [14], [mf.TRANSFORM_LOG2]), [last], ["y"])
        x[0] = f
        net.logits(x)
        assert net._a0[0] - 128 == 100, (f, exp, net._a0[0] - 28)
        assert mf.log2c(min(f, mf.FEATURE_MAX)) == exp


def test_requant_output_layer():
    cases = _json("int8_requant.json")["dense32"]["cases"]
    x = array("i", [0])
    for b, w, xv, M, n, exp in cases:
        L = mf.Dense(1, 1, bytes([w & 0xFF]), [b], [M], [n], False, 32)
        net = _net(_IDENT_IN, [L], ["y"])
        x[0] = xv
        net.logits(x)
        assert net.out[0] == exp, (b, w, xv, M, n, net.out[0], exp)


def test_requant_hidden_layer():
    cases = _json("int8_requant.json")["hidden8"]["cases"]
    x = array("i", [0])
    for b, w, xv, M, n, zp, relu, exp in cases:
        H = mf.Dense(1, 1, bytes([w & 0xFF]), [b], [M], [n], relu == 1, 8, 0, zp)
        last = mf.Dense(1, 1, b"\x01", [128], [16384], [17], False, 32, zp, 0)
        net = _net(_IDENT_IN, [H, last], ["y"])
        x[0] = xv
        net.logits(x)
        assert net._hidden[0].out[0] - 128 == exp, (b, w, xv, M, n, zp, relu, net._hidden[0].out[0] - 128, exp)


def test_run_allocates_nothing():
    vec = _json("int8_vectors.json")["models"]
    for name in MODELS:
        g = vec[name]
        net = Int8Net.load(GOLDEN + name, g["fs"], g["n_ch"])
        rows = [_row(r) for r in g["inputs"][:20]]
        net.run(rows[0])
        gc.collect()
        a = gc.mem_alloc()
        for r in rows:
            net.run(r)
            net.logits(r)
        assert gc.mem_alloc() - a == 0, (name, gc.mem_alloc() - a)


def test_refuses_bad_files():
    good = _bytes("int8_mlp.gmdl")
    Int8Net.load(good, 2000, 8)
    bad = bytearray(good)
    bad[0] = ord("X")
    _expect_error("magic", bytes(bad))
    bad = bytearray(good)
    bad[4] = 9
    assert "version 9" in _expect_error("version", bytes(bad))
    bad[4] = 1  # a model written before temporal context existed: refused, saying what to do
    assert "retrain" in _expect_error("version", _recrc(bad))
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x10
    _expect_error("crc", bytes(bad))
    _expect_error("truncated", good[:-7])
    _expect_error("truncated", good[:10])
    _expect_error("length", good + b"\x00")
    msg = _expect_error("incompatible", good, 1000, 8)
    assert "2000" in msg and "1000" in msg
    msg = _expect_error("incompatible", good, 2000, 4)
    assert "8" in msg and "4" in msg


def test_refuses_layer_shape_mismatch():
    m = mf.parse(_bytes("int8_mlp.gmdl"))
    # Hidden layer says 16 outputs; make the final layer claim 15 inputs (CRC re-made).
    L = m.layers[1]
    m.layers[1] = mf.Dense(L.n_in - 1, L.n_out, L.weights[:(L.n_in - 1) * L.n_out], L.bias, L.mult, L.shift,
                           L.relu, L.out_bits, L.in_zp, L.out_zp)
    try:
        mf.pack(m)
    except mf.ModelFormatError as e:
        assert e.code == "shape"
    else:
        raise AssertionError("pack accepted a shape mismatch")
    # Same damage written by a careless writer: patch n_in in the file itself.
    b = bytearray(_bytes("int8_lda.gmdl"))
    i = bytes(b).find(b"\x11\x00\x00\x00")  # the dense section header (tag 0x0011)
    assert i > 0
    b[i + 8] = 39  # n_in 40 -> 39: the section length no longer matches
    _expect_error("shape", _recrc(b))


def test_context_refused_out_of_range():
    m = mf.parse(_bytes("int8_ctx.gmdl"))
    assert (m.input.context, m.input.context_step) == (4, 2)
    assert m.layers[0].n_in == 4 * m.input.n
    for ctx, step in ((0, 1), (mf.MAX_CONTEXT + 1, 1), (4, 0), (4, mf.MAX_CONTEXT + 1), (3, 2)):
        m.input.context = ctx
        m.input.context_step = step
        try:
            mf.pack(m)
        except mf.ModelFormatError as e:
            assert e.code in ("range", "shape"), e.code
        else:
            raise AssertionError("pack accepted context %d step %d" % (ctx, step))


def test_stim_and_labels_available():
    net = Int8Net.load(GOLDEN + "int8_mlp.gmdl", 2000, 8)
    assert net.stim["preset"] == "proportional"
    assert net.labels == ["hold", "pull", "push", "rest"]
    assert net.features["fs"] == 2000 and net.n_in == 40
    r = Int8Net.load(GOLDEN + "int8_ridge.gmdl", 1000, 4)
    assert not r.classifier and r.scale > 0


def test_window_offset_into_feature_block():
    # FeatureExtractor.out holds several windows back to back: run() takes an offset.
    g = _json("int8_vectors.json")["models"]["int8_mlp.gmdl"]
    net = Int8Net.load(GOLDEN + "int8_mlp.gmdl", g["fs"], g["n_ch"])
    rows = g["inputs"][6:10]
    n = net.n_in
    block = _row([v for r in rows for v in r])
    for j in range(len(rows)):
        net.logits(block, j * n)
        assert list(net.out) == g["outputs"][6 + j]
    gc.collect()
    a = gc.mem_alloc()
    for j in range(len(rows)):
        net.run(block, j * n)
    assert gc.mem_alloc() - a == 0
