#!/usr/bin/env python3
"""Benchmark of the EMG phantom: seconds of compute per second of signal.

Default: the garment's worst case, 8 channels x 2 kHz x 60 s of cycling (target < 5 s on one
core), plus live streaming in 32-sample blocks.  Wall time and process CPU time are both
printed: on a shared machine the CPU time is the better measure.

    .venv/bin/python benchmarks/bench_phantom.py [--seconds 60] [--fs 2000] [--channels 8]
"""
from __future__ import annotations

import argparse
import time

from garment.phantom import PhantomStream, generate


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="cycling")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fs", type=float, default=2000.0)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--stream-seconds", type=float, default=10.0)
    ap.add_argument("--block", type=int, default=32)
    args = ap.parse_args()

    generate(args.scenario, 0.1, args.fs, args.channels, seed=0)  # warm-up (imports, caches)
    res, wall, cpu = _timed(lambda: generate(args.scenario, args.seconds, args.fs, args.channels, seed=1))
    print(
        f"batch  {args.scenario} {args.channels}ch x {args.fs:g} Hz x {args.seconds:g} s: "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU  -> {wall / args.seconds:.4f} s wall / s of signal "
        f"({cpu / args.seconds:.4f} s CPU / s)"
    )
    n_spikes = sum(s.size for trains in res.truth["spikes"].values() for s in trains)
    print(f"       {res.emg_uV.shape[0]} samples, {n_spikes} motor-unit spikes")

    def stream() -> int:
        s = PhantomStream(args.scenario, args.fs, args.channels, seed=1)
        n = int(args.stream_seconds * args.fs)
        done = 0
        while done < n:
            done += s.next_block(min(args.block, n - done)).shape[0]
        return done

    _, wall, cpu = _timed(stream)
    print(
        f"stream {args.block}-sample blocks x {args.stream_seconds:g} s: {wall:.2f} s wall, {cpu:.2f} s CPU "
        f"-> {wall / args.stream_seconds:.4f} s wall / s of signal (real time x{args.stream_seconds / wall:.0f})"
    )


if __name__ == "__main__":
    main()
