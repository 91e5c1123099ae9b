"""Windowed EMG features: the numpy reference against the spec, the golden vectors and
the firmware's integer code (run on the MicroPython unix port, and audited for 32-bit
overflow under CPython), on synthetic and on real recordings.

Regenerate the golden vectors (only when the feature spec changes on purpose):
    .venv/bin/python tests/host/test_features.py --regen
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from garment.contracts import load_contract
from garment.features.reference import FeatureConfig, compute_features, spec, window_ends
from garment.paths import firmware_lib, micropython_exe, mpy_cross_exe
from viper_audit import I32, load_firmware_module

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_PATH = ROOT / "models/golden/features.json"
# the real recordings beside the clone (../shared/data), as the other tests find them
SHARED_DATA = Path(os.environ.get("GARMENT_SHARED_DATA", ROOT.parent / "shared" / "data"))
UCI_FILE = SHARED_DATA / "uci-lower-limb" / "N_TXT" / "1Nmar.txt"
ADS1299_LSB_V = 2 * 4.5 / 24 / 2**24  # gain 24, Vref 4.5 V, 24-bit

# --------------------------------------------------------------------------- golden


def make_golden_input(n: int = 2048, n_ch: int = 8, seed: int = 20240611) -> np.ndarray:
    """Deterministic int32 stress input: noise near the thresholds, rails, saturation."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = np.zeros((n, n_ch), dtype=np.int64)
    x[:, 0] = rng.integers(-400, 401, n)  # noise around zero vs thresholds of 224
    rails = np.array([spec.SAMPLE_MAX, spec.SAMPLE_MIN, spec.SAMPLE_MAX - 1, spec.SAMPLE_MIN + 1, 0,
                      2**31 - 1, -(2**31), 2**24, -(2**24)])
    x[:, 1] = np.repeat(rng.choice(rails, n // 4 + 1), 4)[:n]  # near-rail runs and out-of-range
    x[:, 2] = np.round(8.3e6 * np.sin(2 * np.pi * 37 * t / 2000) + rng.normal(0, 3e5, n))  # clips at peaks
    env = 50 + 2e5 * (np.sin(2 * np.pi * 1.3 * t / 2000) > 0.3)
    x[:, 3] = np.round(rng.normal(0, 1, n) * env)  # EMG-like bursts
    x[:, 4] = rng.choice([-225, -224, -113, -112, -111, 0, 111, 112, 113, 224, 225], n)  # |dx| at thresholds
    x[:, 5] = rng.integers(-(2**31), 2**31, n)  # full int32 range: heavy saturation
    x[:, 6] = np.cumsum(rng.choice([-50, 0, 0, 50], n))  # slow walk through exact zeros, plateaus
    x[: n // 2, 7] = spec.SAMPLE_MIN  # constant rail: max MAV / RMS
    x[n // 2 :, 7] = np.where(t[n // 2 :] % 2 == 0, spec.SAMPLE_MIN, spec.SAMPLE_MAX)  # max WL, ZC, SSC
    return x.astype(np.int32)


GOLDEN_CONFIGS = [
    FeatureConfig(fs=2000, n_ch=8, window=400, increment=100),
    FeatureConfig(fs=1000, n_ch=8, window=1024, increment=37, features=("RMS", "ZC", "WL", "SSC", "MAV"),
                  zc_thr=0, ssc_thr=225),
    FeatureConfig(fs=2000, n_ch=8, window=400, increment=100, features=("M4", "MAV", "M2", "RMS", "WL", "ZC", "SSC")),
    FeatureConfig(fs=1000, n_ch=8, window=4, increment=1, features=("M2", "M4"), zc_thr=0, ssc_thr=0),
    FeatureConfig(fs=2000, n_ch=8, window=400, increment=100, features=spec.NAMES),
    FeatureConfig(fs=1000, n_ch=8, window=8, increment=3, features=("AR4", "MAV", "AR2", "AR1", "AR3"), zc_thr=0,
                  ssc_thr=0),
    FeatureConfig(fs=1000, n_ch=8, window=24, increment=11, features=("CR2", "RMS", "CR3", "CR1")),
]


def make_golden() -> dict:
    """The golden-vector document (input and expected integers per config)."""
    x = make_golden_input()
    cases = []
    for i, cfg in enumerate(GOLDEN_CONFIGS):
        f, e = compute_features(x, cfg)
        cases.append({"name": "ABCDEFG"[i], "config": cfg.to_dict(), "ends": e.tolist(), "features": f.tolist()})
    return {
        "about": "Golden vectors of the windowed EMG features (garmentfw/feature_spec.py). x: int32 samples, "
        "row-major n x n_ch. Each case: feature config, window end indices, feature vectors "
        "(channel-major). Checked by tests/host/test_features.py and tests/firmware/mp/test_features.py.",
        "spec_version": spec.SPEC_VERSION,
        "n": int(x.shape[0]),
        "n_ch": int(x.shape[1]),
        "x": x.ravel().tolist(),
        "cases": cases,
    }


def write_golden() -> None:
    doc = make_golden()
    text = json.dumps({k: v for k, v in doc.items() if k not in ("x", "cases")}, indent=1)[:-2]
    # one line for x, one line per window: readable diffs, modest size
    parts = [text, ',\n "x": ' + json.dumps(doc["x"]), ',\n "cases": [\n']
    for j, c in enumerate(doc["cases"]):
        parts.append('  {"name": %s, "config": %s,\n   "ends": %s,\n   "features": [\n' % (
            json.dumps(c["name"]), json.dumps(c["config"]), json.dumps(c["ends"])))
        parts.append(",\n".join("    " + json.dumps(r) for r in c["features"]))
        parts.append("\n   ]}" + (",\n" if j + 1 < len(doc["cases"]) else "\n"))
    parts.append(" ]\n}\n")
    GOLDEN_PATH.write_text("".join(parts))


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN_PATH.read_text())


# --------------------------------------------------------------- naive definitions


def naive_ar(v: list[int]) -> list[int]:
    """AR1..AR4 of one window by the spec's text, literally (Python ints: floor >>, //)."""
    one = 1 << spec.AR_Q
    r = [sum(v[n] * v[n - k] for n in range(k, len(v))) for k in range(spec.AR_ORDER + 1)]
    if r[0] == 0:
        return [0] * spec.AR_ORDER
    sh = max(0, r[0].bit_length() - spec.AR_NORM_BITS)
    r = [q >> sh for q in r]
    rho = [(q > 0) - (q < 0) for q in r[1:]]
    rho = [sg * min(abs(q) * one // r[0], one) for sg, q in zip(rho, r[1:])]

    def rnd(q: int) -> int:
        return (q + (one >> 1)) >> spec.AR_Q

    e, a = one, [0] * spec.AR_ORDER
    for m in range(1, spec.AR_ORDER + 1):
        acc = rho[m - 1] + sum(rnd(a[i - 1] * rho[m - i - 1]) for i in range(1, m))
        k = 0 if acc == 0 else -((acc > 0) - (acc < 0)) * (one - 1 if abs(acc) >= e else abs(acc) * one // e)
        a = [a[i - 1] + rnd(k * a[m - i - 1]) if i < m else a[i - 1] for i in range(1, spec.AR_ORDER + 1)]
        a[m - 1] = k
        e -= rnd(e * rnd(k * k))
    return a

def naive_cr(u: list[int], v: list[int]) -> int:
    """CRk of one window of channels c (``u``) and d (``v``) by the spec's text, literally."""
    a, b, sxy = sum(p * p for p in u), sum(q * q for q in v), sum(p * q for p, q in zip(u, v))
    if a == 0 or b == 0:
        return 0
    shs, roots = [], []
    for val in (a, b):
        sh = val.bit_length() - 29
        sh -= sh % 2
        vp = val >> sh if sh >= 0 else val << -sh
        assert 2**28 <= vp < 2**30
        shs.append(sh)
        roots.append(math.isqrt(vp))
    den = roots[0] * roots[1] >> 14
    t = (shs[0] + shs[1]) // 2
    m = abs(sxy) >> t if t >= 0 else abs(sxy) << -t
    assert m < 2**30 and den >= 2**14
    return ((sxy > 0) - (sxy < 0)) * min(m // den, 1 << spec.CR_Q)


def names_for(n_ch: int, w: int) -> list[str]:
    """Every feature a configuration of ``n_ch`` channels and window ``w`` may name."""
    return [f for f in spec.NAMES if (w >= spec.AR_WINDOW_MIN or not f.startswith("AR"))
            and not (f in spec.CR_NAMES and n_ch <= int(f[2:]))]


def naive_features(x: np.ndarray, cfg: FeatureConfig) -> tuple[list[list[int]], list[int]]:
    """The spec's definitions, literally, one window at a time in pure Python ints."""
    w, inc = cfg.window, cfg.increment
    xs = [[min(max(int(v), spec.SAMPLE_MIN), spec.SAMPLE_MAX) for v in x[:, c]] for c in range(cfg.n_ch)]
    rows: list[list[int]] = []
    ends: list[int] = []
    e = w - 1
    while e < x.shape[0]:
        s = e - w + 1
        row: list[int] = []
        for c in range(cfg.n_ch):
            v = xs[c][s : e + 1]
            val = {
                "MAV": sum(abs(a) for a in v) // w,
                "WL": sum(abs(v[i] - v[i - 1]) for i in range(1, w)) // (w - 1),
                "ZC": sum(1 for i in range(1, w) if v[i - 1] * v[i] < 0 and abs(v[i] - v[i - 1]) >= cfg.zc_thr),
                "SSC": sum(1 for m in range(1, w - 1) if (v[m] - v[m - 1]) * (v[m] - v[m + 1]) > 0
                           and (abs(v[m] - v[m - 1]) >= cfg.ssc_thr or abs(v[m] - v[m + 1]) >= cfg.ssc_thr)),
                "RMS": math.isqrt(sum(a * a for a in v) // w),
                "M2": math.isqrt(sum(min(abs(v[i] - v[i - 1]), spec.SAMPLE_MAX) ** 2 for i in range(1, w)) // (w - 1)),
                "M4": math.isqrt(sum(min(abs(v[i] - 2 * v[i - 1] + v[i - 2]), spec.SAMPLE_MAX) ** 2
                                     for i in range(2, w)) // (w - 2)),
            }
            if any(f.startswith("AR") for f in cfg.features):
                val.update(zip(spec.AR_NAMES, naive_ar(v)))
            for k, nm in enumerate(spec.CR_NAMES, 1):
                if nm in cfg.features:
                    val[nm] = naive_cr(v, xs[(c + k) % cfg.n_ch][s : e + 1])
            row.extend(val[f] for f in cfg.features)
        rows.append(row)
        ends.append(e)
        e += inc
    return rows, ends


def test_golden_file_is_current(golden: dict) -> None:
    """The stored input is the generator's, and the stored expectations the reference's."""
    x = np.array(golden["x"], dtype=np.int64).reshape(golden["n"], golden["n_ch"])
    assert np.array_equal(x, make_golden_input())
    assert golden["spec_version"] == spec.SPEC_VERSION
    assert [c["config"] for c in golden["cases"]] == [c.to_dict() for c in GOLDEN_CONFIGS]
    for case in golden["cases"]:
        cfg = FeatureConfig.from_dict(case["config"])
        f, e = compute_features(x[:, : cfg.n_ch], cfg)
        assert e.tolist() == case["ends"]
        assert f.tolist() == case["features"]
        assert f.dtype == np.int64 and f.shape == (len(e), cfg.width)
        assert -(2**30) < f.min() and f.max() < 2**30  # small ints on the device
        signed = [j for j, nm in enumerate(cfg.features) if nm in spec.AR_NAMES + spec.CR_NAMES]
        rest = f.reshape(len(e), cfg.n_ch, cfg.n_feat)[:, :, [j for j in range(cfg.n_feat) if j not in signed]]
        assert rest.size == 0 or rest.min() >= 0  # only the AR coefficients and correlations are signed


def test_reference_matches_spec_definitions(golden: dict) -> None:
    """The vectorised reference equals the literal definitions (pure-Python ints)."""
    x = np.array(golden["x"], dtype=np.int64).reshape(golden["n"], golden["n_ch"])
    for case in golden["cases"]:
        cfg = FeatureConfig.from_dict(case["config"])
        rows, ends = naive_features(x, cfg)
        assert ends == case["ends"]
        assert rows == case["features"]


def test_golden_covers_the_extremes(golden: dict) -> None:
    """Rails reach the largest values every feature can take (the 32-bit bounds are exercised)."""
    a = np.array(golden["cases"][0]["features"]).reshape(-1, 8, 5)  # MAV WL ZC SSC RMS
    assert a[0, 7, 0] == 2**23 and a[0, 7, 4] == 2**23  # constant -2^23
    assert a[-1, 7, 1] == 2**24 - 1  # rail-to-rail every sample
    assert a[-1, 7, 2] == 399 and a[-1, 7, 3] == 398
    assert 0 < a[:, 0, 2].min() and a[:, 0, 2].max() < 399  # the threshold matters on ch0
    b = np.array(golden["cases"][1]["features"]).reshape(-1, 8, 5)  # RMS ZC WL SSC MAV
    assert b[0, 7, 0] == 2**23 and 2**24 - 1 > b[-1, 7, 2] > 15 * 2**20  # W = 1024 at the rails
    c = np.array(golden["cases"][2]["features"]).reshape(-1, 8, 7)  # M4 MAV M2 RMS WL ZC SSC
    assert c[0, 7, 0] == 0 and c[0, 7, 2] == 0  # constant rail: no derivative power
    assert c[-1, 7, 0] == spec.SAMPLE_MAX and c[-1, 7, 2] == spec.SAMPLE_MAX  # saturated D1, D2 at the rails
    assert 0 < c[:, 0, 2].min() and c[:, 0, 2].min() < c[:, 0, 0].max()  # noise: M4 ~ 1.7 M2


def test_random_against_definitions() -> None:
    rng = np.random.default_rng(7)
    for _ in range(8):
        n_ch = int(rng.integers(1, 9))
        w = int(rng.integers(spec.WINDOW_MIN, 60))
        names = names_for(n_ch, w)
        cfg = FeatureConfig(fs=1000, n_ch=n_ch, window=w, increment=int(rng.integers(1, w + 1)),
                            features=tuple(rng.permutation(names)[: rng.integers(1, 9)]),
                            zc_thr=int(rng.integers(0, 50)), ssc_thr=int(rng.integers(0, 50)))
        x = rng.integers(-60, 61, size=(int(rng.integers(0, 300)), n_ch))
        f, e = compute_features(x, cfg)
        rows, ends = naive_features(x, cfg)
        assert e.tolist() == ends and f.tolist() == rows


# -------------------------------------------------------------------- config / API


def test_config_defaults_and_roundtrip() -> None:
    c = FeatureConfig.default(2000, 8)
    assert (c.window, c.increment) == (400, 100)
    assert c.features == ("MAV", "WL", "ZC", "SSC", "RMS") and c.width == 40
    assert (FeatureConfig.default(1000, 4).window, FeatureConfig.default(1000, 4).increment) == (200, 50)
    d = json.loads(json.dumps(c.to_dict()))
    assert FeatureConfig.from_dict(d) == c
    assert c.column_names()[:2] == ["ch0.MAV", "ch0.WL"]
    assert FeatureConfig.default(500, 1, features=["RMS"]).features == ("RMS",)


@pytest.mark.parametrize(
    "change,match",
    [
        ({"window": 3}, "window"),
        ({"window": 1025}, "window"),
        ({"increment": 0}, "increment"),
        ({"increment": 401}, "increment"),
        ({"n_ch": 0}, "n_ch"),
        ({"n_ch": 9}, "n_ch"),
        ({"fs": 0}, "fs"),
        ({"fs": 2000.0}, "fs"),
        ({"zc_thr": -1}, "zc_thr"),
        ({"ssc_thr": 2**24 + 1}, "ssc_thr"),
        ({"window": True}, "window"),
        ({"features": ["MAV", "FOO"]}, "unknown feature"),
        ({"features": ["MAV", "MAV"]}, "twice"),
        ({"features": []}, "at least one"),
        ({"features": "MAV"}, "list of names"),
        ({"spec_version": 99}, "spec_version"),
        ({"extra": 1}, "unknown keys"),
    ],
)
def test_config_validation(change: dict, match: str) -> None:
    d = FeatureConfig.default(2000, 8).to_dict()
    d.update(change)
    with pytest.raises(ValueError, match=match):
        FeatureConfig.from_dict(d)


def test_config_missing_key() -> None:
    d = FeatureConfig.default(2000, 8).to_dict()
    del d["zc_thr"]
    with pytest.raises(ValueError, match="lacks zc_thr"):
        FeatureConfig.from_dict(d)
    with pytest.raises(ValueError, match="mapping"):
        FeatureConfig.from_dict([1, 2])  # type: ignore[arg-type]


def test_compute_features_edges() -> None:
    cfg = FeatureConfig(fs=1000, n_ch=2, window=10, increment=3)
    f, e = compute_features(np.zeros((9, 2), dtype=np.int16), cfg)
    assert f.shape == (0, 10) and e.shape == (0,)
    f, e = compute_features(np.ones((16, 2), dtype=np.int64), cfg)
    assert e.tolist() == [9, 12, 15] and window_ends(16, cfg).tolist() == [9, 12, 15]
    assert f[0].tolist() == [1, 0, 0, 0, 1] * 2
    with pytest.raises(ValueError, match="shape"):
        compute_features(np.zeros((20, 3), dtype=np.int32), cfg)
    with pytest.raises(ValueError, match="integers"):
        compute_features(np.zeros((20, 2)), cfg)


# ------------------------------------------------------------- the firmware's code

DRIVER = r"""
import sys, json
from array import array
sys.path.insert(0, sys.argv[1])
from garmentfw.features import FeatureExtractor
cfg = json.loads(sys.argv[2])
fx = FeatureExtractor.from_dict(cfg)
nch = fx.n_ch
with open(sys.argv[3], 'rb') as f:
    data = array('i', f.read())
n = len(data) // nch
blk = array('i', bytes(4 * 64 * nch))
res = array('i')
seed = int(sys.argv[5])
off = 0
while off < n:
    seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
    m = 1 + (seed >> 8) % 64   # irregular block sizes 1..64
    if m > n - off:
        m = n - off
    for i in range(m * nch):
        blk[i] = data[off * nch + i]
    k = fx.push(blk, m)
    for j in range(k):
        res.append(fx.ends[j])
        for i in range(fx.width):
            res.append(fx.out[j * fx.width + i])
    off += m
with open(sys.argv[4], 'wb') as f:
    f.write(res)
"""


def run_device(x: np.ndarray, cfg: FeatureConfig, tmp_path: Path, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Feed ``x`` through garmentfw.features on the MicroPython unix port (irregular blocks)."""
    drv = tmp_path / "fx_driver.py"
    drv.write_text(DRIVER)
    src, dst = tmp_path / "x.bin", tmp_path / "out.bin"
    np.ascontiguousarray(x, dtype="<i4").tofile(src)
    proc = subprocess.run(
        [str(micropython_exe()), "-X", "heapsize=16m", str(drv), str(firmware_lib()),
         json.dumps(cfg.to_dict()), str(src), str(dst), str(seed)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = np.fromfile(dst, dtype="<i4").reshape(-1, 1 + cfg.width)
    return res[:, 1:].astype(np.int64), res[:, 0].astype(np.int64)


def load_uci_mv(path: Path) -> np.ndarray:
    """The four EMG columns (RF BF VM ST, mV) of a UCI lower-limb file: complete rows only."""
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines():
        parts = line.strip().split("\t")
        if len(parts) < 4:
            continue
        try:
            rows.append([float(p) for p in parts[:4]])
        except ValueError:
            continue  # header lines
    return np.array(rows)


def mv_to_ads1299_codes(mv: np.ndarray, gain: int = 24, vref: float = 4.5) -> np.ndarray:
    """mV at the electrodes to ADS1299 output codes (LSB = 2*Vref/gain/2^24 V), saturated."""
    lsb = 2 * vref / gain / 2**24
    return np.clip(np.round(mv * 1e-3 / lsb), spec.SAMPLE_MIN, spec.SAMPLE_MAX).astype(np.int32)


@pytest.mark.skipif(not UCI_FILE.exists(), reason="UCI lower-limb recordings not present")
def test_device_equals_reference_on_real_recording(tmp_path: Path) -> None:
    mv = load_uci_mv(UCI_FILE)
    assert mv.shape[0] > 5000 and mv.shape[1] == 4
    x = mv_to_ads1299_codes(mv)
    assert 1000 < np.abs(x).max() < 2**20  # real EMG (~0.2 mV peaks): well inside the 24-bit range
    for cfg in (FeatureConfig.default(1000, 4),  # 200 / 50 samples at 1 kHz
                FeatureConfig(fs=1000, n_ch=4, window=256, increment=19, features=("WL", "RMS", "SSC"),
                              zc_thr=0, ssc_thr=1000)):
        f_dev, e_dev = run_device(x, cfg, tmp_path, seed=3)
        f_ref, e_ref = compute_features(x, cfg)
        assert len(e_ref) > 100
        assert np.array_equal(e_dev, e_ref)
        assert np.array_equal(f_dev, f_ref)


def test_device_equals_reference_random(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    for trial in range(3):
        n_ch = int(rng.integers(1, 9))
        w = int(rng.integers(spec.WINDOW_MIN, spec.WINDOW_MAX + 1))
        cfg = FeatureConfig(fs=2000, n_ch=n_ch, window=w, increment=int(rng.integers(1, min(w, 80) + 1)),
                            features=tuple(rng.permutation(names_for(n_ch, w))[: rng.integers(1, 8)]),
                            zc_thr=int(rng.integers(0, 3000)), ssc_thr=int(rng.integers(0, 3000)))
        scale = [2**31, 2**23, 3000][trial]
        x = np.clip(rng.normal(0, scale, size=(w + 1500, n_ch)), -(2**31), 2**31 - 1).astype(np.int32)
        f_dev, e_dev = run_device(x, cfg, tmp_path, seed=trial + 5)
        f_ref, e_ref = compute_features(x, cfg)
        assert np.array_equal(e_dev, e_ref) and np.array_equal(f_dev, f_ref), cfg


@pytest.mark.parametrize("arch", ["xtensawin", "armv7emsp", "armv6m", "rv32imc"])
def test_firmware_modules_cross_compile(arch: str, tmp_path: Path) -> None:
    """The viper code builds for the real MCUs (ESP32-S3, Cortex-M4/M33, RP2040, ESP32-C3)."""
    for name in ("features", "feature_spec"):
        src = firmware_lib() / "garmentfw" / f"{name}.py"
        proc = subprocess.run([str(mpy_cross_exe()), f"-march={arch}", "-o", str(tmp_path / f"{name}.mpy"), str(src)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr


# The unix port computes in 64-bit words, so it cannot show a 32-bit overflow. Run the
# very same viper source under CPython with every value an I32 that raises on leaving
# the signed 32-bit range (and loads that read int32 arrays as the MCUs do).

def load_device_module_audited(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """garmentfw/features.py executed by CPython with 32-bit-checked ints."""
    return load_firmware_module(monkeypatch, "features", {"feature_spec": load_contract("feature_spec")},
                                {"int": I32, "ptr32": object})


def test_device_code_fits_32_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    fw = load_device_module_audited(monkeypatch)
    assert fw._SX == 0  # behaves like a 32-bit MCU
    w = spec.WINDOW_MAX
    n = w + 400
    t = np.arange(n)
    x = np.stack([
        np.full(n, spec.SAMPLE_MIN),  # max |x|, x^2 limbs
        np.where(t % 2 == 0, spec.SAMPLE_MIN, spec.SAMPLE_MAX),  # max |dx|, ZC, SSC
        np.where(t % 3 == 0, 2**31 - 1, -(2**31)),  # saturation
        np.round(8.3e6 * np.sin(2 * np.pi * t / 500)),  # AR near its singular edge
    ], axis=1).astype(np.int32)
    cfg = FeatureConfig(fs=2000, n_ch=4, window=w, increment=97, zc_thr=0, ssc_thr=0, features=spec.NAMES)
    fx = fw.FeatureExtractor.from_dict(cfg.to_dict())
    from array import array

    got, ends = [], []
    for off in range(0, n, 50):
        blk = array("i", x[off : off + 50].ravel().tolist())
        k = fx.push(blk, len(blk) // 4)
        got += [list(fx.out[j * fx.width : (j + 1) * fx.width]) for j in range(k)]
        ends += list(fx.ends[:k])
    f_ref, e_ref = compute_features(x, cfg)
    assert ends == e_ref.tolist() and got == f_ref.tolist()
    nf = len(spec.NAMES)
    assert f_ref[0, 4] == 2**23 and f_ref[-1, nf + 1] == 2**24 - 1
    assert f_ref[-1, nf + 5] == spec.SAMPLE_MAX and f_ref[-1, nf + 6] == spec.SAMPLE_MAX  # M2, M4 limbs at their largest
    # AR on a constant rail (R_k ~ R_0: the recursion's largest coefficients, C(4, i)) and
    # on an alternating one (R_k ~ (-1)^k R_0)
    # AR: a full-scale slow sinusoid is nearly singular (R_k ~ R_0 cos(k w)): the
    # recursion's largest coefficients (a_1 ~ -1.9, a_2 ~ +1.8) and products
    ar = f_ref[:, 3 * nf + 7 : 3 * nf + 11]
    assert ar[:, 0].min() < -1.8 * 2**14 and ar[:, 1].max() > 1.7 * 2**14 and ar[:, 3].max() == 2**14 - 1
    assert f_ref[0, 7] < -0.99 * 2**14  # a constant rail: a_1 ~ -1
    cr = f_ref.reshape(len(f_ref), 4, nf)[:, :, spec.CR1:]
    assert np.abs(cr).max() <= 2**14 and (cr[:, 0, 0] == 0).all()  # the rails' product sums at their largest


def test_cross_correlations_against_float() -> None:
    """CR1..CR3 within 2^-13 of the float correlations; +-1 for equal / opposite channels, 0
    beside a silent one; more than k channels needed; absent from spec_version 3."""
    rng = np.random.default_rng(5)
    n = 1200
    common = rng.normal(size=n)
    scale = np.array([40, 3e3, 2e5, 7e6, 1.5, 900])
    x = np.clip((rng.normal(size=(n, 6)) + np.outer(common, [1, -0.5, 2, 0.3, 1, 0])) * scale, spec.SAMPLE_MIN,
                spec.SAMPLE_MAX).astype(np.int64)
    x[:, 5] = -x[:, 1]  # opposite of ch1 (CR2 of ch5 is with ch1)
    x[:300, 4] = 0  # silent at first
    cfg = FeatureConfig(fs=1000, n_ch=6, window=200, increment=50, features=("CR1", "CR2", "CR3"))
    f, e = compute_features(x, cfg)
    f = f.reshape(len(e), 6, 3)
    for j, end in enumerate(e):
        win = x[end - 199 : end + 1].astype(float)
        for c in range(6):
            for k in (1, 2, 3):
                d = (c + k) % 6
                den = math.sqrt(win[:, c] @ win[:, c] * (win[:, d] @ win[:, d]))
                want = 0.0 if den == 0 else win[:, c] @ win[:, d] / den
                assert abs(f[j, c, k - 1] / 2**14 - want) < 2**-13
    assert (f[:, 5, 1] == -(2**14)).all() and f[0, 3, 0] == 0  # ch5 = -ch1; ch4 silent
    with pytest.raises(ValueError, match="CR3 needs more than 3 channels"):
        FeatureConfig(fs=1000, n_ch=3, window=200, increment=50, features=("CR3",))
    d = cfg.to_dict() | {"spec_version": 3}
    with pytest.raises(ValueError, match="CR1 does not exist in spec_version 3"):
        FeatureConfig.from_dict(d)


if __name__ == "__main__":
    if "--regen" in sys.argv:
        write_golden()
        print("wrote", GOLDEN_PATH)
