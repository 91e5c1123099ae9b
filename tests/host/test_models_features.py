"""End to end except the link: samples -> features -> int8 decoder, host versus device.

The host computes features with ``garment.features.reference`` and decodes with the
integer reference; the MicroPython unix port runs the firmware's FeatureExtractor and
Int8Net on the same samples. Every logit and every decision must be identical.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from garment.features.reference import FeatureConfig, compute_features
from garment.models import from_bytes, reference, train
from garment.paths import firmware_lib, micropython_exe

DRIVER = r"""
import sys, json
from array import array
sys.path.insert(0, sys.argv[1])
from garmentfw.features import FeatureExtractor
from garmentfw.int8net import Int8Net
cfg = json.loads(sys.argv[2])
fx = FeatureExtractor.from_dict(cfg)
net = Int8Net.load(sys.argv[3], cfg['fs'], cfg['n_ch'])
nch = fx.n_ch
with open(sys.argv[4], 'rb') as f:
    data = array('i', f.read())
n = len(data) // nch
blk = array('i', bytes(4 * 64 * nch))
res = array('i')
off = 0
m = 1
while off < n:
    m = m * 7 % 64 + 1
    if m > n - off:
        m = n - off
    for i in range(m * nch):
        blk[i] = data[off * nch + i]
    k = fx.push(blk, m)
    for j in range(k):
        res.append(net.run(fx.out, j * fx.width))
        res.append(net.margin)
        for v in net.out:
            res.append(v)
    off += m
with open(sys.argv[5], 'wb') as f:
    f.write(res)
"""


def _synthetic_emg(rng: np.random.Generator, fs: int, n_seg: int, seg_s: float) -> tuple[np.ndarray, np.ndarray]:
    """8-channel EMG-like codes: class-specific channel activation, noisy gains."""
    k, n_ch = 4, 8
    pattern = np.array([
        [0.05] * 8,
        [1.0, 0.8, 0.6, 0.1, 0.1, 0.1, 0.5, 0.2],
        [0.1, 0.1, 0.2, 1.0, 0.9, 0.7, 0.1, 0.3],
        [0.6, 0.5, 0.4, 0.6, 0.5, 0.4, 0.8, 0.8],
    ])
    seg = int(fs * seg_s)
    cls = rng.integers(0, k, n_seg)
    amp = pattern[cls] * rng.uniform(0.6, 1.4, size=(n_seg, n_ch))
    env = np.repeat(amp, seg, axis=0) * 40000.0 + 600.0
    x = np.round(rng.standard_normal(env.shape) * env).astype(np.int32)
    return x, np.repeat(cls, seg)


def test_host_and_device_decode_identically(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    cfg = FeatureConfig.default(1000, 8)
    x, lab = _synthetic_emg(rng, cfg.fs, 40, 1.5)
    X, ends = compute_features(x, cfg)
    y = lab[ends]
    groups = ends * 8 // len(x)
    tm = train(X, y, groups, "mlp", hidden=16, feature_config=cfg, reject_margin=3.0, vote=3)
    assert tm.cv_accuracy > 0.7 and tm.cv_agreement > 0.97
    model = tmp_path / "m.gmdl"
    tm.save(model)
    qm = from_bytes(model.read_bytes(), fs=1000, n_ch=8)
    assert qm.features == cfg.to_dict()

    drv, src, dst = tmp_path / "drv.py", tmp_path / "x.bin", tmp_path / "out.bin"
    drv.write_text(DRIVER)
    np.ascontiguousarray(x, dtype="<i4").tofile(src)
    proc = subprocess.run(
        [str(micropython_exe()), "-X", "heapsize=16m", str(drv), str(firmware_lib()), json.dumps(cfg.to_dict()),
         str(model), str(src), str(dst)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = np.fromfile(dst, dtype="<i4").reshape(-1, 2 + qm.n_out).astype(np.int64)
    assert len(res) == len(X)
    logits = reference.forward(qm, X)
    assert np.array_equal(res[:, 2:], logits)
    assert np.array_equal(res[:, 1], reference.argmax_margin(logits)[1])
    assert np.array_equal(res[:, 0], reference.decide(qm, X))
    assert 0 < np.mean(res[:, 0] == -1) < 0.5  # rejection is exercised
