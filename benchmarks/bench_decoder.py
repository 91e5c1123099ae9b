"""Benchmark of the int8 decoder: device decode time, training time, float vs int8 on real data.

    .venv/bin/python benchmarks/bench_decoder.py [--windows 3000] [--no-real]

1. Decode time per window of garmentfw.int8net on the MicroPython unix port (this very
   file, re-executed by `micropython`): the golden models and a typical 8 ch x 5
   features -> 32 ReLU -> 5 classes MLP; heap allocation over all windows (must be 0).
   An MCU is 20-50x slower than a desktop core.
2. Training time for 10 minutes of 8-channel EMG (1 kHz, 200 ms / 50 ms windows, ~12000
   windows of 40 int features from the features reference), each kind with 5-fold group
   cross-validation, int8 quantisation of every fold, and the final fit.
3. Real recordings (../shared/data/uci-lower-limb, 4 thigh channels at 1 kHz): exercise
   classification (mar / pie / sen) and knee-angle regression, leave-subjects-out group
   CV; float and int8 scores on the same held-out windows; the LDA on Hudgins
   time-domain features (MAV, WL, ZC, SSC), linear, is the standard baseline; the
   other rows use the default integer log2 transform of the amplitude features.
"""
import sys

N_REP_ROWS = 64


def _device(lib, n_windows, paths):
    # MicroPython side.
    sys.path.insert(0, lib)
    import gc
    import time
    from array import array

    from garmentfw.int8net import Int8Net

    print("device (unix port): MicroPython %d.%d.%d" % sys.implementation.version[:3])
    for path in paths:
        with open(path, "rb") as f:
            raw = f.read()
        net = Int8Net.load(raw, None, None)
        m = net.model
        rows = []
        seed = 7
        for _ in range(N_REP_ROWS):
            r = array("i", bytes(4 * net.n_in))
            for i in range(net.n_in):
                seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
                r[i] = (seed >> 10) & 0xFFFF
            rows.append(r)
        for r in rows:
            net.run(r)
        gc.collect()
        a0 = gc.mem_alloc()
        t0 = time.ticks_us()
        for k in range(n_windows):
            net.run(rows[k & (N_REP_ROWS - 1)])
        dt = time.ticks_diff(time.ticks_us(), t0)
        alloc = gc.mem_alloc() - a0
        ctx = m.input.context
        shape = "x".join([("%dx%d" % (ctx, m.n_in)) if ctx > 1 else str(m.n_in)] + [str(L.n_out) for L in m.layers])
        macs = sum(L.n_in * L.n_out for L in m.layers)
        print("  %-22s %-12s %5d MACs  %7.2f us per window  (%d B file, heap alloc %d B over %d windows)"
              % (path.rsplit("/", 1)[-1], shape, macs, dt / n_windows, len(raw), alloc, n_windows))


def _synthetic_emg(rng, fs, seconds, n_ch=8, k=5, seg_s=2.0):
    import numpy as np

    pattern = np.vstack([np.full(n_ch, 0.05), rng.uniform(0.1, 1.0, size=(k - 1, n_ch))])
    seg = int(fs * seg_s)
    n_seg = int(seconds / seg_s)
    cls = rng.integers(0, k, n_seg)
    amp = pattern[cls] * rng.uniform(0.6, 1.4, size=(n_seg, n_ch))
    env = np.repeat(amp, seg, axis=0) * 40000.0 + 600.0
    x = np.round(rng.standard_normal(env.shape) * env).astype(np.int32)
    return x, np.repeat(cls, seg)


def _typical_model(tmp):
    """8 ch x 5 features -> 32 -> 5 MLP trained on 2 minutes of synthetic EMG."""
    import numpy as np

    from garment.features.reference import FeatureConfig, compute_features
    from garment.models import train

    rng = np.random.default_rng(3)
    cfg = FeatureConfig.default(2000, 8)
    x, lab = _synthetic_emg(rng, cfg.fs, 120)
    X, ends = compute_features(x, cfg)
    tm = train(X, lab[ends], ends * 6 // len(x), "mlp", hidden=32, feature_config=cfg, cv=False, vote=3,
               reject_margin=0.5)
    p = tmp + "/typical_mlp_40x32x5.gmdl"
    tm.save(p)
    return p


def _fmt(v, metric):
    if v is None:
        return "n/a"
    return "%6.2f%%" % (100 * v) if metric == "accuracy" else "%7.4f" % v


def _training(seconds=600):
    import time

    import numpy as np

    from garment.features.reference import FeatureConfig, compute_features
    from garment.models import train

    rng = np.random.default_rng(1)
    cfg = FeatureConfig.default(1000, 8)
    x, lab = _synthetic_emg(rng, cfg.fs, seconds)
    t0 = time.perf_counter()
    X, ends = compute_features(x, cfg)
    t_feat = time.perf_counter() - t0
    y = lab[ends]
    groups = ends * 10 // len(x)  # one group per minute
    print("\ntraining on %d min of 8-channel EMG: %d windows x %d features (features: %.2f s, not included)"
          % (seconds // 60, X.shape[0], X.shape[1], t_feat))
    angle = 20.0 * np.log1p(X[:, 0] / 1000.0) + 5.0 * np.log1p(X[:, 5] / 1000.0)
    for kind, task, hidden in (("lda", "classification", 0), ("logreg", "classification", 0),
                               ("mlp", "classification", 16), ("mlp", "classification", 32),
                               ("ridge", "regression", 0), ("mlp", "regression", 32)):
        target = y if task == "classification" else angle
        tm = train(X, target, groups, kind, task=task, hidden=hidden or 32, feature_config=cfg)
        name = kind + ("-%d" % hidden if kind == "mlp" else "") + (" (regr)" if task == "regression" else "")
        print("  %-16s %6.2f s  (5-fold group CV + final fit)  CV %s float %s int8 %s  agreement %s  %5d B"
              % (name, tm.train_seconds, tm.metric, _fmt(tm.cv_accuracy, tm.metric),
                 _fmt(tm.cv_int8_accuracy, tm.metric), _fmt(tm.cv_agreement, tm.metric), tm.model_size_bytes))


def _real():
    from pathlib import Path

    import numpy as np
    from scipy.signal import butter, sosfilt

    from garment.features.reference import FeatureConfig, compute_features
    from garment.models import train
    from garment.paths import repo_root
    from garment.recordings import load_uci

    root = (repo_root() or Path.cwd()).parent / "shared" / "data" / "uci-lower-limb"
    files = sorted(root.glob("*_TXT/*.txt"))
    if not files:
        print("\nreal data: %s not found, skipped" % root)
        return
    cfg = FeatureConfig(fs=1000, n_ch=4, window=200, increment=50, features=("MAV", "WL", "ZC", "SSC"))
    sos = butter(4, 20.0, btype="highpass", fs=1000, output="sos")
    lsb_mv = 2 * 4.5 / 24 / 2**24 * 1e3  # ADS1299 code at gain 24, in mV
    Xs, ex, ang, subj = [], [], [], []
    seen = set()
    for f in files:
        rec = load_uci(f)
        if rec.meta["content_sha256"] in seen:  # 2Npie/2Nsen duplicate 1Npie/1Nsen
            continue
        seen.add(rec.meta["content_sha256"])
        emg = sosfilt(sos, rec.samples[:, :4], axis=0)
        codes = np.clip(np.round(emg / lsb_mv), -(2**23), 2**23 - 1).astype(np.int32)
        X, ends = compute_features(codes, cfg)
        Xs.append(X)
        ex += [rec.meta["exercise"]] * len(X)
        ang.append(rec.samples[ends, 4])
        subj += [rec.meta["group"] + rec.meta["subject"]] * len(X)
    X = np.vstack(Xs)
    ang = np.concatenate(ang)
    subj = np.array(subj)
    print("\nreal data: UCI lower limb, %d recordings, %d subjects, %d windows (4 ch x MAV WL ZC SSC, 200/50 ms)"
          % (len(seen), len(set(subj)), len(X)))
    print("  exercise classification (mar/pie/sen), 5-fold group CV by subject:")
    for kind, hidden, log in (("lda", 0, False), ("lda", 0, "auto"), ("logreg", 0, "auto"), ("mlp", 16, "auto"),
                              ("mlp", 32, "auto")):
        tm = train(X, np.array(ex), subj, kind, hidden=hidden or 32, feature_config=cfg, log_features=log)
        name = kind + ("-%d" % hidden if kind == "mlp" else "") + (" linear (Hudgins baseline)" if not log else "")
        print("    %-32s CV accuracy float %s  int8 %s  (int8 - float %+.2f pp)  agreement %s  %.2f s  %d B"
              % (name, _fmt(tm.cv_accuracy, "accuracy"), _fmt(tm.cv_int8_accuracy, "accuracy"),
                 100 * (tm.cv_int8_accuracy - tm.cv_accuracy), _fmt(tm.cv_agreement, "accuracy"),
                 tm.train_seconds, tm.model_size_bytes))
    print("  knee angle regression (deg), 5-fold group CV by subject:")
    for kind in ("ridge", "mlp"):
        tm = train(X, ang, subj, kind, task="regression", hidden=32, feature_config=cfg, units="deg",
                   target_name="knee_angle")
        print("    %-32s CV R^2 float %s  int8 %s  R^2(int8 vs float) %s  %.2f s"
              % (kind, _fmt(tm.cv_accuracy, "r2"), _fmt(tm.cv_int8_accuracy, "r2"), _fmt(tm.cv_agreement, "r2"),
                 tm.train_seconds))


def _host(argv):
    import os
    import subprocess
    import tempfile

    from garment.paths import firmware_lib, micropython_exe, repo_root

    n = 3000
    if "--windows" in argv:
        n = int(argv[argv.index("--windows") + 1])
    here = os.path.abspath(__file__)
    golden = (repo_root() or os.getcwd()) / "models" / "golden"
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(golden / g) for g in ("int8_lda.gmdl", "int8_ridge.gmdl", "int8_mlp.gmdl", "int8_ctx.gmdl")]
        paths.append(_typical_model(tmp))
        subprocess.run([str(micropython_exe()), "-X", "heapsize=16m", here, "--device", str(firmware_lib()),
                        str(n)] + paths, check=True)
    _training()
    if "--no-real" not in argv:
        _real()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--device"]:
        _device(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    else:
        _host(sys.argv[1:])
