"""Reward-modulated STDP of the pattern generator's crank synapses on the rider model,
for several numbers of independent synaptic bundles (crank phase bins).

    python benchmarks/bench_cpg_learning.py [--bundles 2 4 8 16] [--episodes 16] [--seeds 2]

Each learner starts from zero weights (an unentrained oscillator); every episode is a
3 s host-only ride (no garment: the bit-exact oscillator twin and the rider model, about
real time on a loaded core). Reported per bundle count: the reward (stimulated crank work
per charge, J/mC, scaled by cadence tracking) of the learned weights ridden without
exploration noise, beside the untrained and the hand-set default weights.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from garment.rider.cpg_reference import default_weights
from garment.rider.learning import Learner, ride_episode

SECONDS = 3.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundles", type=int, nargs="+", default=[2, 4, 8, 16])
    ap.add_argument("--episodes", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--cadence", type=float, default=60.0)
    args = ap.parse_args(argv)
    untrained = ride_episode(np.zeros((8, 2)), SECONDS, args.cadence).reward
    hand = ride_episode(np.array(default_weights(8)), SECONDS, args.cadence).reward
    rows = []
    for bins in args.bundles:
        finals = []
        for seed in range(args.seeds):
            learner = Learner(bins=bins, seed=seed, eta=300.0, noise=800.0)
            for _ in range(args.episodes):
                learner.episode(SECONDS, args.cadence)
            finals.append(ride_episode(learner.weights, SECONDS, args.cadence).reward)
        row = {"bundles": bins, "learned_reward": finals, "mean": float(np.mean(finals))}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"\nR-STDP, {args.episodes} episodes of {SECONDS:g} s at {args.cadence:g} rpm, {args.seeds} seeds; "
          f"reward J/mC (untrained {untrained:.1f}, hand-set 8-bin weights {hand:.1f})\n")
    print("| bundles | learned reward per seed | mean |")
    print("| --- | --- | --- |")
    for r in rows:
        print(f"| {r['bundles']} | {', '.join(f'{x:.1f}' for x in r['learned_reward'])} | {r['mean']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
