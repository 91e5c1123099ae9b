"""The host integer reference against the golden vectors, and the device code's 32-bit safety."""
from __future__ import annotations

import builtins
import json
import types
from array import array
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from garment.contracts import load_contract
from garment.models import InputQuant, Int8Reference, read_model, reference
from garment.paths import firmware_lib
from viper_audit import audited, load_firmware_module, ptr8, ptr32

GOLDEN = Path(__file__).parents[2] / "models" / "golden"
VECTORS = json.loads((GOLDEN / "int8_vectors.json").read_text())["models"]
REQUANT = json.loads((GOLDEN / "int8_requant.json").read_text())
mf = load_contract("model_format")


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_golden_vectors(name: str) -> None:
    g = VECTORS[name]
    qm = read_model(GOLDEN / name, fs=g["fs"], n_ch=g["n_ch"])
    rows = np.array(g["inputs"], dtype=np.int64)  # one window per row, a stream from reset
    X = reference.stack_context(rows, qm.context, qm.input.context_step)
    out = reference.forward(qm, X)
    assert out.tolist() == g["outputs"]
    best, margin = reference.argmax_margin(out)
    if g["task"] == "classification":
        assert best.tolist() == g["argmax"] and margin.tolist() == g["margin"]
    assert reference.decide(qm, X).tolist() == g["decisions"]
    ref = Int8Reference(qm)
    assert [ref.run(x) for x in rows] == g["decisions"]


def test_context_model_sees_earlier_windows() -> None:
    g = VECTORS["int8_ctx.gmdl"]
    qm = read_model(GOLDEN / "int8_ctx.gmdl")
    assert (qm.context, qm.input.context_step, qm.width) == (4, 2, 4 * qm.n_in)
    rows = np.array(g["inputs"], dtype=np.int64)
    alone = reference.forward(qm, np.tile(rows, (1, 4)))  # as if every window repeated itself
    assert alone[0].tolist() == g["outputs"][0]  # the first window after reset: the same by definition
    assert (alone[1:] != np.array(g["outputs"][1:])).any(axis=1).mean() > 0.5  # later ones see their past
    with pytest.raises(ValueError, match="4 context windows"):
        reference.forward(qm, rows)


def test_golden_exercise_the_post_processing() -> None:
    mlp = VECTORS["int8_mlp.gmdl"]
    assert -1 in mlp["decisions"]  # some rejections
    assert mlp["decisions"] != mlp["argmax"]
    lda = VECTORS["int8_lda.gmdl"]
    assert lda["decisions"] != lda["argmax"]  # the 5-vote changes decisions


def test_requant_cases_match_the_rule() -> None:
    for f, o, M, n, exp in REQUANT["input"]["cases"]:
        iq = InputQuant(np.array([o]), np.array([M]), np.array([n]))
        assert reference.quantize_input(np.array([[f]]), iq)[0, 0] == exp
        x = max(mf.FEATURE_MIN, min(mf.FEATURE_MAX, f))
        assert max(-128, min(127, reference.requantize_split32(x - o, M, n))) == exp
    for b, w, x, M, n, exp in REQUANT["dense32"]["cases"]:
        assert reference.requantize(b + w * x, M, n) == mf.requantize(b + w * x, M, n) == exp
        assert reference.requantize_split32(b + w * x, M, n) == exp
    ties = [c for c in REQUANT["input"]["cases"] if c[1] == 0 and (c[0] * c[2]) % (1 << c[3]) == 1 << (c[3] - 1)]
    assert len(ties) >= 10 and all(c[4] == min(127, (c[0] * c[2] >> c[3]) + 1) for c in ties)  # half up


def test_log2_transform() -> None:
    cases = np.array(REQUANT["log2c"]["cases"], dtype=np.int64)
    assert reference.log2c(cases[:, 0]).tolist() == cases[:, 1].tolist()
    assert [mf.log2c(min(int(x), mf.FEATURE_MAX)) for x in cases[:, 0]] == cases[:, 1].tolist()
    v = np.arange(0, 5000)
    L = reference.log2c(v)
    assert L[0] == 0 and L[1] == 16 and L[2] == 24 and np.all(np.diff(L) >= 0)  # monotonic
    err = np.log2(v + 1) - L / 16.0  # Mitchell's approximation (<= 0.086) floored to 1/16
    assert err.min() >= 0 and err.max() < 0.15
    iq = InputQuant(np.array([100, 0]), np.array([16384, 16384]), np.array([14, 14]), np.array([1, 0]))
    assert reference.quantize_input(np.array([[1023, 5]]), iq).tolist() == [[160 - 100, 5]]  # log2c(1023) = 16 * 10


def test_golden_mlp_uses_log_inputs() -> None:
    qm = read_model(GOLDEN / "int8_mlp.gmdl")
    amp = [nm in ("MAV", "WL", "RMS") for _ in range(8) for nm in qm.features["features"]]
    assert (qm.input.transform == mf.TRANSFORM_LOG2).tolist() == amp


def test_rounding_rule_is_half_up() -> None:
    assert [int(reference.requantize(v, 16384, 15)) for v in (-3, -2, -1, 0, 1, 2, 3)] == [-1, -1, 0, 0, 1, 1, 2]


def test_split32_extremes_never_overflow() -> None:
    rng = np.random.default_rng(1)
    vs = [-(2**31) + 2, 2**31 - 2, -(2**30), 2**30 - 1, -1, 0, 1, 65535, 65536, -65536, -65537]
    vs += rng.integers(-(2**31) + 2, 2**31 - 1, 300).tolist()
    for M in (mf.MULT_MIN, mf.MULT_MAX, 23456):
        for n in range(mf.SHIFT_MIN, mf.SHIFT_MAX + 1):
            for v in vs:
                assert reference.requantize_split32(v, M, n) == mf.requantize(v, M, n)
        for n in range(mf.IN_SHIFT_MIN, mf.SHIFT_MIN):  # input stage: the clamp is invisible
            for v in vs:
                got = max(-128, min(127, reference.requantize_split32(v, M, n)))
                assert got == max(-128, min(127, mf.requantize(v, M, n)))


def test_majority_vote_rules() -> None:
    mv = reference.majority_vote
    assert mv([1, 2, 2, 1, 1], 3).tolist() == [1, 2, 2, 2, 1]
    # tie -> most recent of the tied decisions
    assert mv([0, 1], 3).tolist() == [0, 1]
    assert mv([0, 1, -1, 1, 0, 0], 4).tolist() == [0, 1, -1, 1, 1, 0]
    assert mv([3, 3, 3], 1).tolist() == [3, 3, 3]


# ---- the device source under CPython, every value a checked 32-bit word -----------------
@pytest.fixture()
def audited_int8net(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """garmentfw/int8net.py executed by CPython with 32-bit-checked ints and pointers."""
    mod = load_firmware_module(monkeypatch, "int8net", {"model_format": mf},
                               {"int": builtins.int, "ptr8": ptr8, "ptr32": ptr32})
    assert mod._SX == 0  # behaves like a 32-bit MCU
    assert mod._CLAMP_IN == mf.INPUT_CLAMP
    for name in ("_quant_input", "_dense8", "_dense32", "_vote"):
        setattr(mod, name, audited(getattr(mod, name)))
    return mod


def test_device_code_golden_in_32_bits(audited_int8net: types.ModuleType) -> None:
    for name, g in sorted(VECTORS.items()):
        net = audited_int8net.Int8Net.load(str(GOLDEN / name), g["fs"], g["n_ch"])
        got = []
        for i, row in enumerate(g["inputs"]):
            got.append(net.run(array("i", row)))
            assert list(net.out) == g["outputs"][i], (name, i)
        assert got == g["decisions"], name


def _worst_case_model(w: int, bias: int, zp_in: int, n_in: int = mf.MAX_IN) -> Any:
    feats = {"fs": 1000, "n_ch": n_in // 4, "window": 200, "increment": 50, "features": ["MAV", "WL", "ZC", "SSC"]}
    offs = [(-mf.OFFSET_MAX, mf.OFFSET_MAX, -(2**29), 2**29)[i % 4] for i in range(n_in)]
    shifts = [(17, 46, 1, 17, 30)[i % 5] for i in range(n_in)]
    ip = mf.InputStage(offs, [mf.MULT_MAX] * n_in, shifts)
    wb = bytes([w & 0xFF]) * (n_in * 2)
    hid = mf.Dense(n_in, 2, wb, [bias, -bias], [mf.MULT_MAX] * 2, [mf.SHIFT_MIN] * 2, True, 8, 0, zp_in)
    last = mf.Dense(2, 2, bytes([w & 0xFF]) * 4, [bias, -bias], [mf.MULT_MAX] * 2, [mf.SHIFT_MIN] * 2, False, 32,
                    zp_in, 0)
    out = {"task": "classification", "labels": ["a", "b"], "scale": 1.0, "reject_margin": 5, "reject_class": -1,
           "vote": mf.MAX_VOTE}
    m = mf.Model(feats, out, {"preset": "off", "params": {}}, ip, [hid, last])
    return mf.parse(mf.pack(m), 1000, n_in // 4)


def test_device_code_worst_case_fits_32_bits(audited_int8net: types.ModuleType) -> None:
    """Largest layer, extreme weights, biases, offsets and inputs: no intermediate overflows."""
    from garment.models.modelfile import from_format

    for w in (127, -127):
        for bias in (mf.BIAS_MAX, -mf.BIAS_MAX):
            for zp in (-128, 127):
                m = _worst_case_model(w, bias, zp)
                net = audited_int8net.Int8Net(m)
                qm = from_format(m)
                rows = [np.full(mf.MAX_IN, v) for v in (mf.FEATURE_MAX, -(2**31), 2**31 - 1, 0)]
                rows.append(np.where(np.arange(mf.MAX_IN) % 2 == 0, 2**31 - 1, -(2**31)))
                dec = [net.run(array("i", r.tolist())) for r in rows]
                assert dec == reference.decide(qm, np.array(rows)).tolist()
                assert list(net.out) == reference.forward(qm, np.array(rows[-1:]))[0].tolist()
