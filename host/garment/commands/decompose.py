"""``garment decompose`` (motor units from HD-EMG recordings) and ``garment phantom-hd``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from garment.commands.common import CliError, existing_file, float_range, int_range, output_file


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the subcommands."""
    sp = sub.add_parser("decompose", help="decompose HD-EMG grid recordings into motor-unit discharges")
    sp.add_argument("recordings", nargs="+", type=existing_file, help="BDF/EDF files (grid in the labels R01C01.. or <stem>_grid.json)")
    sp.add_argument("--out", required=True, help="folder for <stem>_motorunits.tsv/.json/.png")
    sp.add_argument("--json", action="store_true", help="print one summary object")
    sp.add_argument("--scheduler", default=None, help="Dask scheduler address (default: a local cluster)")
    sp.add_argument("--no-properties", action="store_true", help="skip the forward-model fit of each unit")
    sp.set_defaults(func=cmd_decompose)

    sp = sub.add_parser("phantom-hd", help="write a simulated HD-EMG grid recording with per-unit truth")
    sp.add_argument("scenario", choices=("trapezoid", "cycling", "multitask"))
    sp.add_argument("--out", required=True, type=output_file(".bdf"), help="BDF+ file to write")
    sp.add_argument("--seconds", type=float_range(0.0, 3600.0, lo_open=True, unit="s"), default=30.0)
    sp.add_argument("--level", type=float_range(0.0, 1.0, lo_open=True), default=0.2,
                    help="trapezoid plateau (fraction of MVC, 0.1..0.5)")
    sp.add_argument("--grid", default="13x5", choices=("13x5", "8x8"))
    sp.add_argument("--fs", type=float_range(1000.0, 10000.0, unit="Hz"), default=2048.0)
    sp.add_argument("--seed", type=int_range(0), default=0)
    sp.set_defaults(func=cmd_phantom_hd)


def cmd_decompose(args: argparse.Namespace) -> int:
    """Decompose every recording (on Dask) and report."""
    import time

    from garment.decomposition.batch import decompose_file, decompose_many
    from garment.decomposition.io import load_grid_recording
    from garment.decomposition.preprocess import DecompositionInputError, check_input

    missing = [p for p in args.recordings if not Path(p).is_file()]
    if missing:
        raise CliError(f"{missing[0]}: no such file")
    # Check every input before any work starts, so a bad file costs nothing.
    for p in args.recordings:
        try:
            rec = load_grid_recording(p)
            check_input(rec.emg, rec.fs, rec.labels)
        except DecompositionInputError as e:
            raise CliError(f"{p}: {e}") from e
    t0 = time.perf_counter()
    if len(args.recordings) == 1 and not args.scheduler:
        summaries = [decompose_file(args.recordings[0], args.out, properties=not args.no_properties)]
    else:
        summaries = decompose_many(args.recordings, args.out, args.scheduler, progress=True,
                                   properties=not args.no_properties)
    wall = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"units": sum(s["units"] for s in summaries), "seconds": round(wall, 3),
                          "sil": [x for s in summaries for x in s["sil"]], "recordings": summaries}))
    else:
        for s in summaries:
            print(f"{s['recording']}: {s['units']} motor units in {s['seconds']:.1f} s -> "
                  f"{Path(args.out) / (Path(s['recording']).stem + '_motorunits.tsv')}")
    return 0


def cmd_phantom_hd(args: argparse.Namespace) -> int:
    """Write an HD phantom recording (BDF+, grid sidecar, per-unit truth)."""
    from garment.phantom.hd_phantom import generate_hd

    out = Path(args.out)
    if out.suffix.lower() != ".bdf":
        raise CliError(f"{out}: the output must be a .bdf file")
    if args.seconds <= 0:
        raise CliError("--seconds must be positive")
    if not 0.0 < args.level <= 1.0:
        raise CliError(f"--level {args.level}: must be in (0, 1] (fraction of MVC)")
    try:
        res = generate_hd(args.scenario, args.seconds, args.fs, args.grid, args.seed, level=args.level,
                          ramp_s=min(5.0, args.seconds / 5))
    except ValueError as e:
        raise CliError(str(e)) from e
    res.save(out)
    print(out)
    return 0
