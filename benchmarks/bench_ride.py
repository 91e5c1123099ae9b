"""Every cycling controller on the same rider, through the simulated garment (the real
firmware on the unix port), beside voluntary pedalling without stimulation.

    nice -n 10 python benchmarks/bench_ride.py [--minutes 10] [--cadence 60 80] [--jobs 3] [--json out.json]

Rides run on the garment's virtual clock in lockstep with the rider (``garment.sim.lockstep``):
deterministic, and faster than real time (``wall_s`` beside ``garment_s`` in each row says by
how much); ``--clock wall`` rides in real time instead. ``--jobs`` rides at once (each ride is
one firmware process and one host process, and mostly waits on the other). Published anchors
printed beside the table: cadence tracking error 5.27 +- 2.14 rpm under FES (Bellman et al.
2016, IEEE TNSRE 24:1373, switched sliding-mode control), typical FES cycling power 8-35 W
(see the README).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from garment.rider.patterns import CONTROLLERS
from garment.rider.session import CLOCKS, ride

COLUMNS = ("power_w", "stim_power_w", "mean_cadence_rpm", "cadence_error_rpm", "charge_per_joule_mc", "fatigue")


def one(name: str, rpm: float, minutes: float, clock: str) -> dict[str, Any]:
    """One ride's row; a ride that fails is a row that says why (the others go on)."""
    t0 = time.monotonic()
    try:
        out, _ = ride(name, rpm, minutes, clock=clock)
    except Exception as e:  # noqa: BLE001 - reported in the table, by name
        return {"controller": name, "target_rpm": rpm, "error": f"{type(e).__name__}: {e}", "wall_s": time.monotonic() - t0}
    out.pop("policy", None)
    out["wall_s"] = time.monotonic() - t0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--cadence", type=float, nargs="+", default=[60.0, 80.0])
    ap.add_argument("--controllers", nargs="+", default=list(CONTROLLERS))
    ap.add_argument("--clock", choices=CLOCKS, default="virtual")
    ap.add_argument("--jobs", type=int, default=1, help="rides at once (default 1)")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    jobs = [(name, rpm) for rpm in args.cadence for name in args.controllers]
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futs = [ex.submit(one, name, rpm, args.minutes, args.clock) for name, rpm in jobs]
        for f in futs:
            out = f.result()
            rows.append(out)
            print(json.dumps({k: out.get(k) for k in ("controller", "target_rpm", *COLUMNS, "pulses", "garment_fault",
                                                      "afe_underruns", "garment_seconds", "wall_s", "error")}),
                  file=sys.stderr, flush=True)
            if args.json:
                with open(args.json, "w") as fh:
                    json.dump(rows, fh, indent=1)
    print(f"\n{args.minutes:g}-minute rides ({args.clock} clock), same rider (strength 0.08), ergometer 1.0 N m + 0.35 N m s/rad\n")
    print("| controller | target rpm | power W (stimulated) | mean rpm | cadence error rpm (rms) | charge per joule mC/J | "
          "fatigue | pulses | garment at the end | ride s / wall s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "error" in r:
            print(f"| {r['controller']} | {r['target_rpm']:g} | failed: {r['error']} |")
            continue
        speed = r.get("garment_seconds", r["duration_s"]) / max(r["wall_s"], 1e-9)
        print(f"| {r['controller']} | {r['target_rpm']:g} | {r['power_w']:.1f} ({r['stim_power_w']:.1f}) | "
              f"{r['mean_cadence_rpm']:.1f} | {r['cadence_error_rpm']:.1f} | {r['charge_per_joule_mc']:.3f} | "
              f"{r['fatigue']:.2f} | {r['pulses']} | {r.get('garment_fault')} | {speed:.1f} |")
    print("\nanchors: FES cadence error 5.27 +- 2.14 rpm (Bellman et al. 2016); FES power 8-35 W")
    return 0


if __name__ == "__main__":
    sys.exit(main())
