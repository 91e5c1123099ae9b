"""The ``garment`` command line."""
from __future__ import annotations

import argparse
import asyncio
import os
import sys

from garment.client import DeviceError
from garment.commands.common import (
    CliError, OneLineParser, arg_json, existing_dir, existing_file, float_range, int_range, output_file,
    positive_seconds, print_err, wants_json,
)
from garment.commands import calibrate as calibrate_cmds
from garment.commands import decompose as decompose_cmds
from garment.commands import motorunits as motorunits_cmds
from garment.commands import ride as ride_cmds
from garment.commands import stim as stim_cmds
from garment.commands.data import cmd_import, cmd_phantom, cmd_plot, cmd_report
from garment.commands.decoder import cmd_evaluate, cmd_train, cmd_upload
from garment.commands.device import cmd_info, cmd_live, cmd_scan, cmd_sim, cmd_stream
from garment.flash import BOARDS
from garment.protocol import wire
from garment.transports import TransportError


def cmd_tui(args: argparse.Namespace) -> int:
    from garment.tui import run

    return run(args.device)


def cmd_flash(args: argparse.Namespace) -> int:
    from garment.flash import FlashError, flash

    try:
        flash(args.port, args.board, dry_run=args.dry_run, out_dir=args.out)
    except FlashError as e:
        raise CliError(str(e)) from None
    return 0


def _max_vote() -> int:
    from garment.contracts import load_contract  # not garment.models: that imports scikit-learn

    return int(load_contract("model_format").MAX_VOTE)


# ---- parser --------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="garment", description="Companion for the EMG + stimulation garment.")
    sub = p.add_subparsers(dest="cmd")

    def device(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--device", default="sim",
                        help="sim | sim-hd | serial:PATH | socket://HOST:PORT | ble:ADDRESS | ble:sim (default: sim)")

    sp = sub.add_parser("sim", help="start the simulated garment and print the URL to connect to")
    sp.add_argument("--pty", action="store_true", help="serve the link on a pseudo-terminal (/dev/pts/N)")
    sp.add_argument("--port", type=int_range(1, 65535), default=None,
                    help="serve the link on this TCP port of 127.0.0.1 (default: a free one)")
    sp.add_argument("--rig-port", type=int_range(1, 65535), default=None,
                    help="the HIL rig's TCP port (default: a free one)")
    sp.add_argument("--hd", action="store_true",
                    help="the HD garment: 8 daisy-chained ADS1299s, a 64-electrode grid at 2048 Hz fed by the HD phantom")
    sp.set_defaults(func=cmd_sim, until_stopped=True)

    sp = sub.add_parser("info", help="firmware version, board, channels, sampling rate, state")
    device(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("stream", help="stream EMG and report what arrived")
    device(sp)
    sp.add_argument("--seconds", type=positive_seconds, default=10.0)
    sp.add_argument("--channels", type=int_range(1, wire.MAX_EMG_CHANNELS), default=None,
                    help="channels to stream (default: the garment's setting; 8, the HD garment's 64)")
    sp.add_argument("--fs", type=int, default=None, choices=wire.ALLOWED_FS + wire.HD_FS,
                    help="sampling rate (default: the garment's setting; the garment refuses a rate it has not)")
    sp.add_argument("--mains", type=int, default=50, choices=(50, 60))
    sp.add_argument("--raw", action="store_true", help="stream AFE codes before filtering")
    sp.add_argument("--bits", type=int, choices=(16, 24), default=None,
                    help="filtered sample width (default: the link's, 16 on BLE, 24 on USB)")
    sp.add_argument("--out", type=output_file(".bdf"), help="record to this BDF+ file (with BIDS-EMG sidecars)")
    sp.add_argument("--lsl", action="store_true", help="publish EMG and events on Lab Streaming Layer")
    sp.add_argument("--json", action="store_true", help="print exactly one JSON object")
    sp.set_defaults(func=cmd_stream)

    sp = sub.add_parser("scan", help="list BLE garments in range")
    sp.add_argument("--timeout", type=positive_seconds, default=5.0)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_scan)

    sp = sub.add_parser("tui", help="the companion app (also: garment with no arguments)")
    device(sp)
    sp.set_defaults(func=cmd_tui)

    sp = sub.add_parser("live", help="live streaming statistics in the terminal (until Ctrl-C)")
    device(sp)
    sp.set_defaults(func=cmd_live, until_stopped=True)

    sp = sub.add_parser("import", help="convert a published dataset into BDF+ recordings")
    sp.add_argument("dataset", choices=("uci-lower-limb", "3dc-gestures"))
    sp.add_argument("src", type=existing_dir, help="folder as published (e.g. shared/data/uci-lower-limb)")
    sp.add_argument("out", help="output folder (BIDS-style tree)")
    sp.add_argument("--keep-duplicates", action="store_true",
                    help="also import source files whose samples repeat an earlier file's (marked duplicate_of)")
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("phantom", help="write a simulated EMG recording with its ground truth")
    sp.add_argument("scenario", choices=("cycling", "rest", "mvc", "gestures"))
    sp.add_argument("--seconds", type=float_range(0.0, 3600.0, lo_open=True, unit="s"), default=60.0)
    sp.add_argument("--out", required=True, type=output_file(".bdf"), help="BDF+ file to write")
    sp.add_argument("--seed", type=int_range(0, 2**63 - 1), default=0)
    sp.add_argument("--channels", type=int_range(1, 8), default=8)
    sp.add_argument("--fs", type=float_range(250.0, 20000.0, unit="Hz"), default=2000.0)
    sp.set_defaults(func=cmd_phantom)

    sp = sub.add_parser("plot", help="a recording as a PNG: traces, spectrogram, annotations, ground truth")
    sp.add_argument("recording", type=existing_file, help="a BDF+/EDF+ recording")
    sp.add_argument("--out", type=output_file(".png"), default=None, help="PNG to write (default: beside the recording)")
    sp.add_argument("--spectrogram", type=int_range(0, 255), default=None, metavar="CH",
                    help="channel index of the spectrogram (default: the strongest EMG channel)")
    sp.set_defaults(func=cmd_plot)

    sp = sub.add_parser("report", help="write the phantom validation report (PNG)")
    sp.add_argument("--out", type=output_file(".png"), default="phantom_validation.png")
    sp.add_argument("--uci", type=existing_dir, default=None, help="UCI lower-limb folder to plot beside the phantom")
    sp.set_defaults(func=cmd_report)

    def windows(sp: argparse.ArgumentParser, mains: int | None = 50, what: str = "") -> None:
        sp.add_argument("--channels", nargs="+", default=None, help="EMG channel names (default: all in volts)" + what)
        sp.add_argument("--mains", type=int, default=mains, choices=(50, 60), help="mains frequency, Hz" + what)

    from garment.features.reference import spec as _fspec
    from garment.models.cv import SCHEMES as _CV
    from garment.models.train import CLASSIFIERS as _KINDS, DEFAULT_CONTEXT as _CTX, DEFAULT_FEATURES as _FEATS, \
        HOST_ONLY as _HOST_ONLY

    sp = sub.add_parser("train", help="train an int8 decoder on labelled BDF+ recordings")
    sp.add_argument("recordings", nargs="+", type=existing_file)
    sp.add_argument("--out", default=None, type=output_file(".gmdl"), help="model file to write")
    sp.add_argument("--kind", default="lda", choices=_KINDS + ("ridge",) + _HOST_ONLY,
                    help="garment decoders: lda logreg mlp (ridge, mlp for --target); host-side comparison "
                    "only, not runnable on the garment: " + " ".join(_HOST_ONLY))
    sp.add_argument("--features", nargs="+", default=list(_FEATS), choices=_fspec.NAMES,
                    help="the garment's integer features per channel (default: all but AR1..AR4, whose "
                    "lag sums need a CPU that 8 ch x 2 kHz on the ESP32-S3 does not leave: add them at 1 kHz)")
    sp.add_argument("--context", type=int_range(1, 8), default=_CTX[0],
                    help="temporal context: windows the decoder sees at once (1 = this window only)")
    sp.add_argument("--context-step", type=int_range(1, 8), default=_CTX[1], help="windows between context windows")
    sp.add_argument("--hidden", type=int_range(1, 256), default=32, help="MLP hidden units")
    sp.add_argument("--reject-margin", type=float_range(0.0, 1000.0), default=0.0,
                    help="reject a window whose top-two logit margin is below this (0 = never)")
    sp.add_argument("--cv", default="auto", choices=_CV,
                    help="cross-validation groups: by recording, or by time blocks within each recording "
                    "(auto: by recording when that can score every class)")
    sp.add_argument("--cv-blocks", type=int_range(2, 20), default=5, help="time blocks per recording for --cv blocks")
    sp.add_argument("--target", default=None, help="regression: channel to predict (e.g. FX, the knee angle)")
    sp.add_argument("--window-ms", type=float_range(0.0, 10000.0, lo_open=True, unit="ms"), default=200.0)
    sp.add_argument("--increment-ms", type=float_range(0.0, 10000.0, lo_open=True, unit="ms"), default=50.0)
    sp.add_argument("--vote", type=int_range(1, _max_vote()), default=1, help="majority vote over the last N decisions")
    sp.add_argument("--policy", default="proportional", choices=("off", "proportional", "threshold", "cycling"))
    sp.add_argument("--json", action="store_true")
    windows(sp)
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("evaluate", help="score a model file on labelled recordings (and on a garment)")
    sp.add_argument("recordings", nargs="+", type=existing_file)
    sp.add_argument("--model", required=True, type=existing_file)
    sp.add_argument("--device", default=None, help="also run the recordings through this garment")
    sp.add_argument("--plot", type=output_file(".png"), default=None, metavar="PNG",
                    help="also draw the confusion matrix into this PNG")
    sp.add_argument("--null-class", default=None, help="the no-motion class for the active error (default: rest)")
    sp.add_argument("--json", action="store_true")
    windows(sp, None, " (default: the model's)")
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("upload", help="upload a model file to a garment (verified, atomic, old one kept)")
    sp.add_argument("model", type=existing_file)
    sp.add_argument("--device", default="sim", help="sim | serial:PATH | socket://HOST:PORT")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_upload)

    sp = sub.add_parser("flash", help="compile the firmware with mpy-cross and copy it to a board with mpremote")
    sp.add_argument("--port", required=True, help="serial port of the board (e.g. /dev/ttyACM0)")
    sp.add_argument("--board", default="esp32s3", choices=sorted(BOARDS))
    sp.add_argument("--out", default=None, help="keep the compiled tree in this folder")
    sp.add_argument("--dry-run", action="store_true", help="compile only, copy nothing")
    sp.set_defaults(func=cmd_flash)
    stim_cmds.add_parsers(sub)
    ride_cmds.add_parsers(sub)
    calibrate_cmds.add_parser(sub)
    decompose_cmds.add_parsers(sub)
    motorunits_cmds.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``garment`` command: exit 0 on success; on bad input or a failure,
    one line on stderr (and ``{"error": ...}`` on stdout for ``--json`` commands) and a
    non-zero exit: 2 refused or failed, 3 a garment that stopped answering, 130 Ctrl-C."""
    argv = sys.argv[1:] if argv is None else list(argv)
    OneLineParser.json_errors = wants_json(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmd is None:  # no subcommand: the companion app
        from garment.tui import run

        return run(None)
    as_json = arg_json(args)
    try:
        result = args.func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except KeyboardInterrupt:  # Ctrl-C: how a command that runs until stopped is meant to end
        return 0 if getattr(args, "until_stopped", False) else 130
    except (CliError, TransportError, DeviceError, OSError, RuntimeError) as e:
        print_err(str(e) or type(e).__name__, as_json)
        return 2
    except Exception as e:  # a defect, not the user's input: still one line, never a traceback
        if os.environ.get("GARMENT_DEBUG"):
            raise
        print_err(f"internal error: {type(e).__name__}: {e} (GARMENT_DEBUG=1 shows where)", as_json)
        return 1


if __name__ == "__main__":
    sys.exit(main())
