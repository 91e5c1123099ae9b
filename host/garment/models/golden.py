"""Regenerate the int8 golden vectors in ``models/golden/`` (host and firmware tests read them).

Run ``python -m garment.models.golden [OUT_DIR]`` only when the model format or the
arithmetic changes on purpose: the tests check the stored files, they never
regenerate them. Everything is synthetic and seeded.

* ``int8_mlp.gmdl``   MLP classifier (8 ch x 5 features -> 16 ReLU -> 4 classes),
                      rejection and a 3-vote majority.
* ``int8_lda.gmdl``   two-class LDA (binary model expanded to two logits), rejection
                      to the "rest" class, vote 5.
* ``int8_ridge.gmdl`` ridge regression (4 ch x 4 features -> knee angle, degrees).
* ``int8_ctx.gmdl``   MLP classifier with temporal context (4 ch x 7 features, the
                      windows t, t-2, t-4, t-6 -> 12 ReLU -> 3 classes), vote 3.
* ``int8_vectors.json``  per model: inputs (incl. out-of-range rows), final int32
  outputs, argmax, margin and the decisions of a fresh device run over the rows
  (one window per row, in order from reset: a context model sees them as a stream).
* ``int8_requant.json``  edge cases of the rounding rule through the real kernels:
  input stage, int8 hidden layer, int32 output layer.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from garment.contracts import load_contract
from garment.models import modelfile, reference
from garment.models.train import train

_MF = load_contract("model_format")


def _synthetic(rng: np.random.Generator, n: int, n_in: int, k: int, spread: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    centers = rng.normal(size=(k, n_in)) * spread
    y = rng.integers(0, k, n)
    z = centers[y] + rng.normal(size=(n, n_in))
    X = np.round(np.exp(0.6 * z) * rng.uniform(50, 5000, n_in)).astype(np.int64)
    groups = np.arange(n) // (n // 6)
    return X, y, groups


def _edge_rows(rng: np.random.Generator, X: np.ndarray, n: int) -> np.ndarray:
    n_in = X.shape[1]
    rows = [
        np.zeros(n_in, dtype=np.int64),
        np.full(n_in, _MF.FEATURE_MAX, dtype=np.int64),
        np.full(n_in, -(1 << 31), dtype=np.int64),  # below the 31-bit clamp
        np.full(n_in, (1 << 31) - 1, dtype=np.int64),  # above it
        rng.integers(-(1 << 31), 1 << 31, n_in),
        X.max(axis=0) * 3,
    ]
    return np.vstack(rows + [X[i] for i in rng.choice(len(X), n, replace=False)])


def _vectors(qm: Any, rows: np.ndarray, fs: int, n_ch: int) -> dict[str, Any]:
    stacked = reference.stack_context(rows, qm.context, qm.input.context_step)
    out = reference.forward(qm, stacked)
    best, margin = reference.argmax_margin(out)
    return {
        "fs": fs,
        "n_ch": n_ch,
        "task": qm.task,
        "inputs": rows.tolist(),
        "outputs": out.tolist(),
        "argmax": best.tolist(),
        "margin": margin.tolist(),
        "decisions": reference.decide(qm, stacked).tolist(),
    }


def _requant_cases(rng: np.random.Generator) -> dict[str, Any]:
    big = _MF.FEATURE_MAX
    inp = []
    feats = [0, 1, -1, big, -big, -(1 << 31), (1 << 31) - 1, 1000, -1000, 1 << 24]
    offs = [0, big, -big, 12345, -1]
    for n in list(range(1, 47)):
        for _ in range(6):
            M = int(rng.integers(_MF.MULT_MIN, _MF.MULT_MAX + 1))
            f = int(rng.choice(feats)) if rng.random() < 0.3 else int(rng.integers(-(1 << 31), 1 << 31))
            o = int(rng.choice(offs)) if rng.random() < 0.3 else int(rng.integers(-big, big + 1))
            if rng.random() < 0.6:  # aim the result into int8 range so rounding is visible
                target = rng.uniform(-140, 140)
                f = int(np.clip(o + round(target * 2.0**n / M), -(1 << 31), (1 << 31) - 1))
            x = max(_MF.FEATURE_MIN, min(_MF.FEATURE_MAX, f))
            exp = max(-128, min(127, _MF.requantize(x - o, M, n)))
            inp.append([f, o, M, n, exp])
    # Exact ties (round half up): v * M / 2^n = k + 1/2.
    for n in (15, 16, 17, 20, 30, 40):
        for k in (-3, -1, 0, 2):
            M = _MF.MULT_MIN
            v = ((2 * k + 1) << (n - 1)) // M  # v * M / 2^n = k + 1/2 exactly
            x = max(_MF.FEATURE_MIN, min(_MF.FEATURE_MAX, v))
            inp.append([v, 0, M, n, max(-128, min(127, _MF.requantize(x, M, n)))])
    dense32 = []
    hidden8 = []
    extremes_b = [0, _MF.BIAS_MAX, -_MF.BIAS_MAX, 1, -1, 65535, -65536, 65536, -65537]
    for _ in range(400):
        n = int(rng.integers(_MF.SHIFT_MIN, _MF.SHIFT_MAX + 1))
        M = int(rng.choice([_MF.MULT_MIN, _MF.MULT_MAX])) if rng.random() < 0.2 else int(
            rng.integers(_MF.MULT_MIN, _MF.MULT_MAX + 1))
        b = int(rng.choice(extremes_b)) if rng.random() < 0.3 else int(rng.integers(-_MF.BIAS_MAX, _MF.BIAS_MAX + 1))
        w = int(rng.choice([-127, 127, 1, -1, 0])) if rng.random() < 0.5 else int(rng.integers(-127, 128))
        x = int(rng.choice([-128, 127, 0])) if rng.random() < 0.3 else int(rng.integers(-128, 128))
        if rng.random() < 0.5:  # aim at small outputs to expose rounding
            target = rng.uniform(-300, 300)
            b = int(np.clip(round(target * 2.0**n / M) - w * x, -_MF.BIAS_MAX, _MF.BIAS_MAX))
        acc = b + w * x
        dense32.append([b, w, x, M, n, max(_MF.OUT32_MIN, min(_MF.OUT32_MAX, _MF.requantize(acc, M, n)))])
        zp = int(rng.integers(-128, 128))
        relu = bool(rng.random() < 0.5)
        lo = zp if relu else -128
        hidden8.append([b, w, x, M, n, zp, int(relu), max(lo, min(127, _MF.requantize(acc, M, n) + zp))])
    logc = []
    xs = [0, -1, -(1 << 31), 1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 255, 256, 1000, 65535, 65536, 65537,
          _MF.FEATURE_MAX, (1 << 31) - 1, (1 << 24) - 1, 1 << 24]
    xs += [(1 << k) + d for k in range(1, 31) for d in (-1, 0, 1)]
    xs += [int(v) for v in rng.integers(0, 1 << 25, 60)] + [int(v) for v in rng.integers(0, 2000, 40)]
    for x in xs:
        logc.append([x, _MF.log2c(max(_MF.FEATURE_MIN, min(_MF.FEATURE_MAX, x)))])
    return {
        "rule": "requantize(v, M, n) = floor((v*M + 2^(n-1)) / 2^n)",
        "log2c": {"columns": ["feature", "log2c"], "cases": logc},
        "input": {"columns": ["feature", "offset", "mult", "shift", "int8"], "cases": inp},
        "dense32": {"columns": ["bias", "w", "x", "mult", "shift", "out"], "cases": dense32},
        "hidden8": {"columns": ["bias", "w", "x", "mult", "shift", "out_zp", "relu", "out"], "cases": hidden8},
    }


def make_golden(out_dir: str | Path) -> list[Path]:
    """Write the golden model files and vectors to ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20260124)
    written: list[Path] = []
    vectors: dict[str, Any] = {
        "about": "int8 decoder golden vectors: garment.models.golden.make_golden (seeded synthetic data)",
        "models": {},
    }
    names5 = ["MAV", "WL", "ZC", "SSC", "RMS"]
    fc8 = {"fs": 2000, "n_ch": 8, "window": 400, "increment": 100, "features": names5, "zc_thr": 224, "ssc_thr": 224}

    X, y, g = _synthetic(rng, 3000, 40, 4, 0.6)
    tm = train(X, np.array(["rest", "push", "pull", "hold"])[y], g, "mlp", hidden=16, feature_config=fc8,
               reject_margin=1.0, vote=3,
               stim={"preset": "proportional", "params": {"gain": 0.8, "max_mA": [20, 20, 20, 20]}})
    vectors["models"]["int8_mlp.gmdl"] = _write(out, "int8_mlp.gmdl", tm.qmodel, _edge_rows(rng, X, 60), written)

    X, y, g = _synthetic(rng, 2000, 40, 2, 0.5)
    tm = train(X, np.array(["rest", "active"])[y], g, "lda", feature_config=fc8, reject_margin=0.5, vote=5,
               reject_class=1,  # labels sort to ["active", "rest"]: unsure windows count as rest
               stim={"preset": "threshold", "params": {"level": 0.5}})
    vectors["models"]["int8_lda.gmdl"] = _write(out, "int8_lda.gmdl", tm.qmodel, _edge_rows(rng, X, 60), written)

    fc4 = {"fs": 1000, "n_ch": 4, "window": 200, "increment": 50, "features": names5[:4], "zc_thr": 10, "ssc_thr": 10}
    X, y, g = _synthetic(rng, 2000, 16, 3, 0.5)
    angle = 40.0 * y + 0.002 * X[:, 0] - 0.001 * X[:, 5]
    tm = train(X, angle, g, "ridge", task="regression", feature_config=fc4, target_name="knee_angle", units="deg",
               stim={"preset": "cycling", "params": {"phase_on": [30, 200], "phase_off": [150, 320]}})
    vectors["models"]["int8_ridge.gmdl"] = _write(out, "int8_ridge.gmdl", tm.qmodel, _edge_rows(rng, X, 40), written)

    names7 = ["MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4"]
    fc4c = {"spec_version": 2, "fs": 1000, "n_ch": 4, "window": 200, "increment": 50, "features": names7,
            "zc_thr": 224, "ssc_thr": 224}
    crng = np.random.default_rng(20261201)  # its own stream: the other files stay as they were
    X, y, g = _synthetic(crng, 1500, 28, 3, 0.5)
    Xc = reference.stack_context(X, 4, 2)
    tm = train(Xc, np.array(["walk", "sit", "stand"])[y], g, "mlp", hidden=12, feature_config=fc4c, vote=3,
               context=(4, 2), stim={"preset": "off", "params": {}})
    vectors["models"]["int8_ctx.gmdl"] = _write(out, "int8_ctx.gmdl", tm.qmodel, _edge_rows(crng, X, 60), written)

    p = out / "int8_vectors.json"
    p.write_text(json.dumps(vectors, separators=(",", ":")) + "\n")
    written.append(p)
    p = out / "int8_requant.json"
    p.write_text(json.dumps(_requant_cases(rng), separators=(",", ":")) + "\n")
    written.append(p)
    return written


def _write(out: Path, name: str, qm: Any, rows: np.ndarray, written: list[Path]) -> dict[str, Any]:
    modelfile.write_model(out / name, qm)
    written.append(out / name)
    qm2 = modelfile.read_model(out / name)  # vectors from the file as stored
    assert qm2.features is not None
    return _vectors(qm2, rows, qm2.features["fs"], qm2.features["n_ch"])


if __name__ == "__main__":  # pragma: no cover
    dest = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[3] / "models" / "golden")
    for path in make_golden(dest):
        print(path, path.stat().st_size)
