"""``garment ride``: the simulated garment stimulating the rider-and-crank model."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from garment.commands.common import CliError, float_range, int_range, output_file


def cmd_ride(args: argparse.Namespace) -> int:
    from garment.rider.patterns import CONTROLLERS
    from garment.rider.plot import plot_ride
    from garment.rider.session import ride

    if args.controller not in CONTROLLERS:
        raise CliError(f"unknown controller {args.controller!r} (known: {', '.join(CONTROLLERS)})")

    def progress(s: float) -> None:
        if not args.json:
            print(f"\r{s:6.1f} s of {args.minutes * 60:.0f} s", end="", file=sys.stderr, flush=True)

    try:
        out, rider = ride(args.controller, args.cadence, args.minutes, seed=args.seed, progress=progress, clock=args.clock,
                          reflex=args.reflex)
    except ValueError as e:
        raise CliError(str(e)) from None
    if not args.json:
        print(file=sys.stderr)
    if out.get("clock_handbacks"):
        from garment.protocol import wire

        print(f"garment ride: the garment took its clock back {out['clock_handbacks']} time(s) from a host silent for "
              f"{wire.RIG_CLOCK_GUARD_MS} ms (not lockstep throughout: this ride is not deterministic)", file=sys.stderr)
    if args.plot:
        plot_ride(rider, args.plot, f"{args.controller}, {args.cadence:g} rpm")
        out["plot"] = args.plot
    if args.json:
        print(json.dumps(out))
    else:
        for k in ("power_w", "stim_power_w", "mean_cadence_rpm", "cadence_error_rpm", "charge_per_joule_mc", "fatigue",
                  "pulses", "stim_gaps", "garment_state", "garment_fault"):
            v: Any = out.get(k)
            print(f"{k:22s} {v:.3f}" if isinstance(v, float) else f"{k:22s} {v}")
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``ride`` on the ``garment`` CLI's subparsers."""
    from garment.rider.patterns import CONTROLLERS

    sp = sub.add_parser("ride", help="the simulated garment stimulating the rider model on an ergometer",
                        description="Controllers: " + "; ".join(f"{k}: {v[1]}" for k, v in CONTROLLERS.items()))
    sp.add_argument("--controller", required=True, help="|".join(CONTROLLERS))
    sp.add_argument("--cadence", type=float_range(10.0, 150.0, unit="rpm"), default=60.0, metavar="RPM",
                    help="target cadence, 10..150 (default 60)")
    sp.add_argument("--minutes", type=float_range(0.0, 120.0, lo_open=True, unit="min"), default=1.0,
                    help="ride length, up to 120 (default 1)")
    sp.add_argument("--clock", choices=("virtual", "wall"), default="virtual",
                    help="virtual (default): the garment's clock stepped in lockstep with the rider, deterministic and "
                         "faster than real time; wall: the garment follows the wall clock (a ride takes as long as it lasts)")
    sp.add_argument("--seed", type=int_range(0), default=0)
    sp.add_argument("--reflex", action="store_true",
                    help="the withdrawal reflex on (EMG co-contraction and electrode impedance); its stops count in stim_gaps")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.add_argument("--plot", type=output_file(".png"), default=None, metavar="PNG", help="write the ride's plot")
    sp.set_defaults(func=cmd_ride)
