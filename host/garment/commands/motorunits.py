"""``garment motorunits``: calibrate on a baseline, then track motor units on the live HD stream."""
from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from garment.commands.common import CliError, float_range, int_range

#: Devices that give an HD (64-channel grid) stream today, and what they play: the simulated HD
#: garment (its stream over the link) and the HD phantom played directly.
HD_SOURCES = {"sim-hd": "isometric", "sim-hd:cycling": "cycling", "phantom-hd": "isometric", "phantom-hd:cycling": "cycling",
              "ble:sim-hd": "isometric", "ble:sim-hd:cycling": "cycling"}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    sp = sub.add_parser("motorunits", help="live motor units: calibrate on a baseline, then track them on the HD stream")
    sp.add_argument("--device", required=True,
                    help="HD stream: sim-hd (the simulated HD garment; sim-hd:cycling) or phantom-hd "
                         "(the HD phantom played directly; phantom-hd:cycling); with --on-garment also "
                         "ble:sim-hd (the simulated HD garment over BLE; ble:sim-hd:cycling)")
    sp.add_argument("--calibrate-seconds", type=float_range(3.0, 120.0, unit="s"), default=12.0,
                    help="baseline to decompose: isometric, guided (rest, ramp, hold at 20 %% MVC); "
                         ":cycling, the ride's first seconds (30 s finds more units than 12)")
    sp.add_argument("--seconds", type=float_range(0.0, 3600.0, lo_open=True, unit="s"), default=20.0,
                    help="how long to track after calibration")
    sp.add_argument("--seed", type=int_range(0), default=1, help="phantom seed (the simulated person)")
    sp.add_argument("--no-adapt", action="store_true", help="keep the calibration's filters fixed")
    sp.add_argument("--drive", default=None, metavar="GARMENT",
                    help="stream the muscle's neural drive to this garment as its activation (T_ACTIVATION): "
                         "sim (a simulated garment started here, given a model and a calibration of channel 0 "
                         "for the session) or a calibrated garment with a model (socket://..., serial:..., ble:...)")
    sp.add_argument("--drive-output", type=int_range(0, 63), default=0, metavar="K",
                    help="the stimulation policy's input the drive goes to (default 0)")
    sp.add_argument("--batch-ms", type=float_range(1.0, 100.0, unit="ms"), default=None,
                    help="batch length (default 100 ms; 25 ms with --drive)")
    sp.add_argument("--on-garment", action="store_true",
                    help="decode on the garment: after the baseline (recorded over USB) the host uploads int16 "
                         "filters of a channel subset and reads the garment's discharges (R_MU_ACTIVITY)")
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
        raise CliError(f"{args.device}: live motor units need a 64-channel HD grid stream with the phantom's "
                       "truth: use --device sim-hd (the simulated HD garment), sim-hd:cycling, phantom-hd "
                       "or phantom-hd:cycling")
    ble = args.device.startswith("ble:")
    if ble and not args.on_garment:
        raise CliError(f"{args.device}: over BLE the HD garment sends motor-unit activity, not its 64 raw channels: "
                       "add --on-garment")
    if args.on_garment and not args.device.startswith(("sim-hd", "ble:sim-hd")):
        raise CliError("--on-garment needs the simulated HD garment: --device ble:sim-hd (or sim-hd, over USB)")
    if args.on_garment and (args.drive or args.no_adapt or args.batch_ms):
        raise CliError("--on-garment: the garment's filters are fixed and it has no stimulator "
                       "(--drive, --no-adapt and --batch-ms do not apply)")
    src = PhantomHDSource(task, args.seconds, args.calibrate_seconds, seed=args.seed)
    if args.on_garment:
        return _on_garment(args, src, task, "ble" if ble else "usb")
    batch_s = (args.batch_ms or (25.0 if args.drive else 100.0)) / 1000.0
    garment = args.device.startswith("sim-hd")
    if garment and args.drive:
        raise CliError("--drive streams the drive tracked on --device phantom-hd (the simulated HD garment "
                       "has no stimulation channels here)")
    try:
        if garment:
            from garment.motorunits.garment_session import garment_session

            out = asyncio.run(garment_session(src, batch_s=batch_s, adapt=not args.no_adapt))
        elif args.drive:
            out = asyncio.run(_drive(args, src, batch_s))
        else:
            out = run_session(src, batch_s=batch_s, adapt=not args.no_adapt)
    except (CalibrationError, DecompositionInputError) as e:
        raise CliError(f"calibration: {e}") from e
    if _printed_json(out, args, task):
        return 0
    print(f"{len(out['units'])} units calibrated ({out['calibration']['seconds']:.1f} s), "
          f"{out['kept']} kept after {args.seconds:g} s of {task}; batch {out['batch_ms']['median']:.2f} ms median, "
          f"{out['batch_ms']['p99']:.2f} ms p99 per {1000 * out['batch_samples'] / out['fs']:.0f} ms")
    for u in out["units"]:
        roa = "-" if u["roa"] is None else f"{100 * u['roa']:.1f} %"
        print(f"  unit {u['unit']:2d}  SIL {u['sil']:.2f}  {u['discharges']:5d} discharges  RoA {roa}"
              f"{'' if u['kept'] else '  (lost)'}")
    for e in out["events"]:
        print(f"  {e['t_s']:8.2f} s  unit {e['unit']} {e['kind']}" + (f" ({e['reason']})" if e['reason'] else ""))
    if "drive" in out:
        d = out["drive"]
        print(f"neural drive to {args.drive}: {d['frames']} activation frames, peak {d['activation_max']:.2f}, "
              f"mean {d['activation_mean']:.2f}; {d['pulses']} pulses, peak {d['peak_ua'] / 1000:g} mA")
    return 0


def _printed_json(out: dict[str, Any], args: argparse.Namespace, task: str) -> bool:
    """Tag the result with the device and task; with --json print it as one object (True)."""
    out["device"] = args.device
    out["task"] = task
    if args.json:
        print(json.dumps(out))
    return bool(args.json)


def _on_garment(args: argparse.Namespace, src: Any, task: str, link: str) -> int:
    """``--on-garment``: the garment decodes; report its units against the truth and the host's filters."""
    from garment.client import DeviceError
    from garment.decomposition import DecompositionInputError
    from garment.motorunits import CalibrationError
    from garment.motorunits.onboard_session import on_garment_session
    from garment.wording import device_refusal

    try:
        out = asyncio.run(on_garment_session(src, link=link))
    except (CalibrationError, DecompositionInputError) as e:
        raise CliError(f"calibration: {e}") from e
    except DeviceError as err:
        raise CliError(f"refused by the garment: {device_refusal(err)}") from None
    if _printed_json(out, args, task):
        return 0
    c, st = out["calibration"], out["stream"]
    print(f"{c['units_on_garment']} of {c['units_decomposed']} units decoded on the garment ({c['taps']} taps, "
          f"{c['instructions_per_s'] / 1e6:.1f} M instructions/s); {out['seconds']:g} s of {task} over {st['link']}: "
          f"{st['packets']} activity packets, {st['bytes_per_s']:.0f} B/s (raw 64 ch x 16 bit: "
          f"{st['raw_16bit_bytes_per_s']} B/s)")
    for u in out["units"]:
        def pct(v: Any) -> str:
            return "-" if v is None else f"{100 * v:.1f} %"

        print(f"  unit {u['unit']}  {len(u['channels']):2d} ch  {u['discharges']:4d} discharges  RoA truth "
              f"{pct(u['roa_truth'])}, calibration filters {pct(u['roa_calibration_filters'])}, "
              f"host float {pct(u['roa_host_float'])}")
    return 0


#: What ``--drive sim`` gives the simulated garment it starts, for the session: a decoder (its
#: windows are ignored while the drive streams) whose policy maps input 0 to channel 0, and
#: channel 0's calibration (mA thresholds as the latency benchmark's).
SIM_POLICY = {"preset": "proportional", "params": {"gain": 1.0, "deadband": 0.1, "inputs": [0]}}


async def _drive(args: argparse.Namespace, src: Any, batch_s: float) -> dict[str, Any]:
    """Calibrate, then track the source live and stream the drive to ``--drive``'s garment."""
    from garment.auth import ensure_authenticated
    from garment.client import DeviceError
    from garment.devices import open_device
    from garment.motorunits.run import calibrate_source, drive_session
    from garment.wording import device_refusal

    if args.drive == "sim" and args.drive_output != 0:
        raise CliError("--drive sim: its policy has one input, --drive-output 0")
    cal = await asyncio.to_thread(calibrate_source, src)  # before connecting: decomposing takes seconds
    sim = None
    if args.drive == "sim":
        from garment.phantom import PhantomStream
        from garment.sim import SimGarment

        # The simulated person rests: only the drive asks for stimulation.
        sim = SimGarment(source_factory=lambda fs: PhantomStream("rest", fs=fs, channels=8, seed=7))
    async with open_device(args.drive, timeout=5.0, sim=sim) as conn:
        g = conn.client
        try:
            await ensure_authenticated(g)
            if sim is not None:
                from garment.models.presets import envelope_model
                from garment.stimcontrol import provisional_calibration
                from garment.stimulation import Calibration

                await g.upload_model(envelope_model(outputs=1, stim=SIM_POLICY))
                async with provisional_calibration(g, Calibration(0, 5000, 10000, 20000, 2500, 300, 30)):
                    return await drive_session(g, src, cal, batch_s=batch_s, adapt=not args.no_adapt,
                                               output=args.drive_output, n_outputs=args.drive_output + 1)
            return await drive_session(g, src, cal, batch_s=batch_s, adapt=not args.no_adapt,
                                       output=args.drive_output, n_outputs=args.drive_output + 1)
        except DeviceError as e:
            raise CliError(f"refused by the garment: {device_refusal(e)}") from None
