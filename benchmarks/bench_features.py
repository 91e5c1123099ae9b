"""Benchmark of the windowed EMG features.

    .venv/bin/python benchmarks/bench_features.py [--seconds 10]

Runs the firmware's garmentfw.features on the MicroPython unix port (this very file,
re-executed by `micropython`) for 8 channels x 2 kHz, 200 ms / 50 ms windows, and
prints microseconds per window and per sample-channel, and the CPU time per second
of EMG (an MCU is 20-50x slower than a desktop core). Then times the host's numpy
reference on 10 minutes of 8 x 2 kHz.
"""
import sys

FS = 2000
N_CH = 8
WINDOW = 400
INCREMENT = 100
BLOCK = 16  # samples per push (8 ms at 2 kHz)


def _device(lib, seconds):
    # MicroPython side.
    sys.path.insert(0, lib)
    import gc
    import time
    from array import array

    from garmentfw import features as F

    n_blocks_src = 64
    src = []
    seed = 1
    for _ in range(n_blocks_src):  # pseudo-random EMG-ish blocks, bursts of +-2^20
        b = array("i", bytes(4 * BLOCK * N_CH))
        for i in range(BLOCK * N_CH):
            seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
            b[i] = (seed >> 9) - (1 << 20)
        src.append(b)
    print("device (unix port): MicroPython %d.%d.%d, %d ch x %d Hz, window %d / increment %d, block %d"
          % (sys.implementation.version[:3] + (N_CH, FS, WINDOW, INCREMENT, BLOCK)))
    all11 = ("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4", "AR1", "AR2", "AR3", "AR4")
    for feats in (all11, all11[:7], ("MAV", "WL", "ZC", "SSC", "RMS"),
                  ("MAV", "WL", "ZC", "SSC"), ("RMS",), ("M2", "M4"), all11[7:]):
        fx = F.FeatureExtractor(N_CH, WINDOW, INCREMENT, features=feats)
        n_push = seconds * FS // BLOCK
        for i in range(n_blocks_src):
            fx.push(src[i], BLOCK)
        gc.collect()
        a0 = gc.mem_alloc()
        t0 = time.ticks_us()
        wins = 0
        for i in range(n_push):
            wins += fx.push(src[i & (n_blocks_src - 1)], BLOCK)
        dt = time.ticks_diff(time.ticks_us(), t0)
        alloc = gc.mem_alloc() - a0
        # the per-window part alone
        st, out = fx._st, fx.out
        emit = F._emit
        lev = F._levinson if fx._use_ar else None  # AR's per-window recursion
        reps = 2000
        t0 = time.ticks_us()
        for _ in range(reps):
            if lev:
                lev(st)
            emit(st, out, 0)
        t_emit = time.ticks_diff(time.ticks_us(), t0) / reps
        n_sc = n_push * BLOCK * N_CH
        t_win = (dt - wins * t_emit) / n_sc  # ingest per sample-channel
        print("  %-22s %7.1f ms CPU per s of EMG | %6.3f us per sample-channel (ingest) | "
              "%6.1f us per window (emit), %6.1f us per window all-in | heap alloc %d B over %d windows"
              % ("+".join(feats), dt / 1000 / seconds, t_win, t_emit, dt / wins, alloc, wins))


def _host(seconds):
    import os
    import subprocess
    import time

    import numpy as np

    from garment.features.reference import FeatureConfig, compute_features
    from garment.paths import firmware_lib, micropython_exe

    here = os.path.abspath(__file__)
    subprocess.run([str(micropython_exe()), "-X", "heapsize=16m", here, "--device", str(firmware_lib()),
                    str(seconds)], check=True)
    cfg = FeatureConfig(fs=FS, n_ch=N_CH, window=WINDOW, increment=INCREMENT,
                        features=("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4", "AR1", "AR2", "AR3", "AR4"))
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((10 * 60 * FS, N_CH)) * 2e4).astype(np.int32)
    compute_features(x[:10000], cfg)
    best = 1e9
    for _ in range(3):
        t0 = time.perf_counter()
        f, e = compute_features(x, cfg)
        best = min(best, time.perf_counter() - t0)
    print("host reference, all 11 features: 10 min x %d ch x %d Hz -> %d windows in %.0f ms (best of 3)"
          % (N_CH, FS, len(e), best * 1000))


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        if len(sys.argv) > 2 and sys.argv[1] == "--device":
            _device(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 10)
        else:
            base = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
            _device(base + "/../firmware/lib", 10)
    else:
        secs = 10
        if "--seconds" in sys.argv:
            secs = int(sys.argv[sys.argv.index("--seconds") + 1])
        _host(secs)
