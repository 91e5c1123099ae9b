"""Closed-loop latency: EMG onset -> first stimulation pulse, on the simulated garment.

The rig steps the drive of a muscle in the EMG phantom (PhantomStream.inject_onset) at a
known feeder sample; the AFE model converts it at a known conversion index; the firmware
filters it, computes the envelope features, runs the int8 decoder (garment.models.presets.
envelope_model: 100 ms MAV windows every 20 ms) and its proportional policy, and the
stimulation engine fires its first pulse, which the sim reports with the AFE index at
that moment (RIG_PULSE). Latency = (pulse index - onset index) / fs: everything in the
AFE's own sample clock, no host timing involved. Between trials the muscle rests
(0.4 s) and the loop must stop by itself.

Target (DESIGN.md): median <= 75 ms, p99 <= 100 ms.

Usage: python benchmarks/bench_latency.py [--trials 100] [--json]
(the same measurement as ``garment bench latency --device sim``: garment.latency)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from garment.latency import latency_garment, measure_latency

MEDIAN_TARGET_MS = 75.0
P99_TARGET_MS = 100.0


async def main(trials: int, as_json: bool) -> int:
    async with latency_garment("sim") as (g, sim):
        res = await measure_latency(g, sim, trials,
                                    progress=None if as_json else (lambda s: print(s, file=sys.stderr, flush=True)))
    out = res.summary()
    lat = sorted(res.latencies_ms)
    out.update(failed=res.failed, min_ms=round(lat[0], 1) if lat else None, max_ms=round(lat[-1], 1) if lat else None,
               target_median_ms=MEDIAN_TARGET_MS, target_p99_ms=P99_TARGET_MS,
               meets_target=bool(lat) and out["median_ms"] <= MEDIAN_TARGET_MS and out["p99_ms"] <= P99_TARGET_MS)
    if as_json:
        print(json.dumps(out))
    else:
        print(f"EMG onset -> stimulation, {out['trials']} trials ({res.failed} failed): median {out['median_ms']} ms, "
              f"p99 {out['p99_ms']} ms, min {out['min_ms']} ms, max {out['max_ms']} ms "
              f"(target: median <= {MEDIAN_TARGET_MS:g}, p99 <= {P99_TARGET_MS:g}: "
              f"{'met' if out['meets_target'] else 'NOT met'})")
        for note in res.notes[:10]:
            print("  note:", note)
    return 0 if res.latencies_ms else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.trials, a.json)))
