"""``garment motorunits``: calibrate on a baseline, then track motor units on the live HD stream."""
from __future__ import annotations

import argparse
import json

from garment.commands.common import CliError, float_range, int_range

#: Devices that give an HD (64-channel grid) stream today, and what they play.
HD_SOURCES = {"sim-hd": "isometric", "phantom-hd": "isometric", "phantom-hd:cycling": "cycling"}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    sp = sub.add_parser("motorunits", help="live motor units: calibrate on a baseline, then track them on the HD stream")
    sp.add_argument("--device", required=True,
                    help="HD garment: sim-hd / phantom-hd (the HD phantom, isometric) or phantom-hd:cycling")
    sp.add_argument("--calibrate-seconds", type=float_range(3.0, 120.0, unit="s"), default=12.0,
                    help="baseline to decompose (guided: rest, ramp, hold at 20 %% MVC)")
    sp.add_argument("--seconds", type=float_range(0.0, 3600.0, lo_open=True, unit="s"), default=20.0,
                    help="how long to track after calibration")
    sp.add_argument("--seed", type=int_range(0), default=1, help="phantom seed (the simulated person)")
    sp.add_argument("--no-adapt", action="store_true", help="keep the calibration's filters fixed")
    sp.add_argument("--json", action="store_true", help="print one object: units, batch_ms, roa")
    sp.set_defaults(func=cmd_motorunits)


def cmd_motorunits(args: argparse.Namespace) -> int:
    """Run one live session and report units, batch times and (simulated garment) RoA per unit."""
    from garment.decomposition import DecompositionInputError
    from garment.motorunits import CalibrationError
    from garment.motorunits.run import run_session
    from garment.motorunits.source import PhantomHDSource

    task = HD_SOURCES.get(args.device)
    if task is None:
        raise CliError(f"{args.device}: live motor units need a 64-channel HD grid stream; "
                       "the garments' HD stream is not there yet, use --device sim-hd (the HD phantom) "
                       "or phantom-hd:cycling")
    src = PhantomHDSource(task, args.seconds, args.calibrate_seconds, seed=args.seed)
    try:
        out = run_session(src, adapt=not args.no_adapt)
    except (CalibrationError, DecompositionInputError) as e:
        raise CliError(f"calibration: {e}") from e
    out["device"] = args.device
    out["task"] = task
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{len(out['units'])} units calibrated ({out['calibration']['seconds']:.1f} s), "
          f"{out['kept']} kept after {args.seconds:g} s of {task}; batch {out['batch_ms']['median']:.2f} ms median, "
          f"{out['batch_ms']['p99']:.2f} ms p99 per {1000 * out['batch_samples'] / out['fs']:.0f} ms")
    for u in out["units"]:
        roa = "-" if u["roa"] is None else f"{100 * u['roa']:.1f} %"
        print(f"  unit {u['unit']:2d}  SIL {u['sil']:.2f}  {u['discharges']:5d} discharges  RoA {roa}"
              f"{'' if u['kept'] else '  (lost)'}")
    for e in out["events"]:
        print(f"  {e['t_s']:8.2f} s  unit {e['unit']} {e['kind']}")
    return 0
