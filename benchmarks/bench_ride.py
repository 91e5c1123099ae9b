"""Every cycling controller on the same rider, through the simulated garment (the real
firmware on the unix port), beside voluntary pedalling without stimulation.

    python benchmarks/bench_ride.py [--minutes 10] [--cadence 60 80] [--json out.json]

Rides run in real time (the garment's AFE follows the wall clock): 6 controllers x 2
cadences x M minutes. Published anchors printed beside the table: cadence tracking error
5.27 +- 2.14 rpm under FES (Bellman et al. 2016, IEEE TNSRE 24:1373, able-bodied riders,
switched sliding-mode control), typical FES cycling power 8-35 W (reviewed in Kristensen
et al.'s sources: Hunt et al.; see the README).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from garment.rider.patterns import CONTROLLERS
from garment.rider.session import ride

COLUMNS = ("power_w", "stim_power_w", "mean_cadence_rpm", "cadence_error_rpm", "charge_per_joule_mc", "fatigue")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--cadence", type=float, nargs="+", default=[60.0, 80.0])
    ap.add_argument("--controllers", nargs="+", default=list(CONTROLLERS))
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    rows = []
    for rpm in args.cadence:
        for name in args.controllers:
            t0 = time.monotonic()
            out, _ = ride(name, rpm, args.minutes)
            out.pop("policy", None)
            out["wall_s"] = time.monotonic() - t0
            rows.append(out)
            print(json.dumps({k: out.get(k) for k in ("controller", "target_rpm", *COLUMNS, "pulses", "garment_fault", "afe_underruns")}),
                  file=sys.stderr, flush=True)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(rows, f, indent=1)
    print(f"\n{args.minutes:g}-minute rides, same rider (strength 0.08), ergometer 1.0 N m + 0.35 N m s/rad\n")
    print("| controller | target rpm | power W | of it stimulated W | mean rpm | cadence error rpm (rms) | charge per joule mC/J | fatigue | garment |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['controller']} | {r['target_rpm']:g} | {r['power_w']:.1f} | {r['stim_power_w']:.1f} | {r['mean_cadence_rpm']:.1f} | "
              f"{r['cadence_error_rpm']:.1f} | {r['charge_per_joule_mc']:.4f} | {r['fatigue']:.2f} | {r.get('garment_fault')} |")
    print("\nanchors: FES cadence error 5.27 +- 2.14 rpm (Bellman et al. 2016); FES power 8-35 W")
    return 0


if __name__ == "__main__":
    sys.exit(main())
