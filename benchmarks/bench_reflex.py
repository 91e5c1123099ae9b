"""The withdrawal reflex (the firmware's network, here its bit-exact host twin) on EMG
without discomfort: false stops per minute on normal phantom cycling and on the real UCI
gait recordings (subjects 1-7, `mar` = walking, both groups); and its detections of
injected co-contraction bursts on the phantom, with their latency.

    python benchmarks/bench_reflex.py [--minutes 5] [--uci ../shared/data/uci-lower-limb]

Activations are the envelope decoder's (MAV of 100 ms windows every 20 ms, high-passed
at 20 Hz, 1.0 = 10000 AFE codes = 224 uV at gain 24), computed here in floating point from
microvolts (the reflex itself is integer and bit-exact).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

from garment.phantom import PhantomStream
from garment.rider.reflex_reference import ReflexReference

LSB_UV = 2 * 4.5 / 24 / 2**24 * 1e6
FULL_SCALE_UV = 10000 * LSB_UV
WIN_MS, INC_MS = 100, 20


def activations(x_uv: np.ndarray, fs: float) -> np.ndarray:
    """(n_windows, channels) Q12 activations of (n, channels) microvolts."""
    sos = butter(4, 20.0, "highpass", fs=fs, output="sos")
    y = np.abs(sosfilt(sos, x_uv, axis=0))
    w, inc = int(fs * WIN_MS / 1000), int(fs * INC_MS / 1000)
    c = np.cumsum(np.vstack([np.zeros((1, y.shape[1])), y]), axis=0)
    ends = np.arange(w, y.shape[0] + 1, inc)
    mav = (c[ends] - c[ends - w]) / w
    return np.clip(np.rint(mav / FULL_SCALE_UV * 4096), 0, 4096).astype(np.int64)


def run_reflex(acts4: np.ndarray) -> tuple[int, list[int]]:
    """Withdrawals over windows of 4 activations (L quad, L ham, R quad, R ham); their
    window indices."""
    r = ReflexReference()
    fired = []
    for i, a in enumerate(acts4):
        if r.run(int(a[0]), int(a[1]), int(a[2]), int(a[3]), INC_MS):
            fired.append(i)
    return r.withdrawals, fired


def phantom_cycling(minutes: float, rpm: float, seed: int) -> tuple[float, float]:
    s = PhantomStream("cycling", fs=1000, channels=8, seed=seed, cadence_rpm=rpm)
    x = s.next_block(int(minutes * 60 * 1000))
    a = activations(np.asarray(x, float), 1000)
    n, _ = run_reflex(a[:, [1, 2, 5, 6]])
    return n / minutes, float(np.percentile(np.minimum(a[:, 1], a[:, 2]), 99) / 4096)


def phantom_bursts(n_bursts: int, level: float, seed: int = 7) -> tuple[int, list[float]]:
    """Co-contraction bursts (left vastus + biceps at ``level`` for 0.6 s) every 8 s of
    60 rpm cycling: how many the reflex stops, and how fast (ms after onset)."""
    s = PhantomStream("cycling", fs=1000, channels=8, seed=seed, cadence_rpm=60)
    onsets = [4.0 + 8.0 * k for k in range(n_bursts)]
    for t in onsets:
        for m in ("L_VL", "L_BF"):
            s.set_drive(m, level, t)
            s.set_drive(m, None, t + 0.6)
    x = s.next_block(int((onsets[-1] + 4.0) * 1000))
    a = activations(np.asarray(x, float), 1000)
    _, fired = run_reflex(a[:, [1, 2, 5, 6]])
    # window i ends (the decoder has it) at WIN + i * INC ms; the reflex runs until the next
    t_end = [(WIN_MS + (i + 1) * INC_MS) / 1000.0 for i in fired]
    lat = []
    for t in onsets:
        hit = [f for f in t_end if t < f <= t + 0.6 + WIN_MS / 1000.0]
        if hit:
            lat.append((hit[0] - t) * 1000.0)
    return len(lat), lat


def uci_gait(root: Path) -> tuple[float, float, list[str]]:
    from garment.recordings.uci import load_uci

    minutes = 0.0
    stops = 0
    used = []
    for group in ("N", "A"):
        for subj in range(1, 8):  # subjects 1-7 only
            p = root / f"{group}_TXT" / f"{subj}{group}mar.txt"
            if not p.exists():
                continue
            rec = load_uci(p)
            names = list(rec.channel_names)
            x = rec.samples[:, [names.index(c) for c in ("VM", "BF")]] * 1000.0  # mV -> uV
            a = activations(x, rec.fs)
            quiet = np.full(len(a), 0, np.int64)
            n, _ = run_reflex(np.stack([a[:, 0], a[:, 1], quiet, quiet], axis=1))  # one leg recorded
            stops += n
            minutes += len(rec.samples) / rec.fs / 60.0
            used.append(p.name)
    return stops / max(minutes, 1e-9), minutes, used


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--uci", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "uci-lower-limb"))
    args = ap.parse_args(argv)
    print("| EMG | minutes | false stops per minute | note |")
    print("| --- | --- | --- | --- |")
    for rpm in (60, 80):
        rate, p99 = phantom_cycling(args.minutes, rpm, seed=rpm)
        print(f"| phantom cycling {rpm} rpm | {args.minutes:g} | {rate:.2f} | p99 co-contraction {p99:.2f} |", flush=True)
    root = Path(args.uci)
    if root.is_dir():
        rate, minutes, used = uci_gait(root)
        print(f"| UCI gait (mar), {len(used)} recordings of subjects 1-7 | {minutes:.1f} | {rate:.2f} | one leg (VM, BF) |", flush=True)
    for level in (0.5, 0.8):
        n_hit, lat = phantom_bursts(8, level)
        med = f"{np.median(lat):.0f}" if lat else "-"
        print(f"| injected co-contraction, drive {level:g}, 0.6 s | - | detected {n_hit}/8 | median latency {med} ms after onset |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
