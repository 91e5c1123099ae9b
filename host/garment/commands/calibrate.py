"""``garment calibrate``: a stimulation channel's calibration on the garment, from the CLI.

With ``--sensory`` and ``--motor`` (thresholds known from an earlier session) the
calibration is written as given; nothing is stimulated. The garment checks it again (it is
the authority) and refuses what its limits do not allow."""
from __future__ import annotations

import argparse
import json
from typing import Any

from garment.client import Calibration, DeviceError
from garment.commands.common import CliError, float_range, int_range
from garment.protocol import wire
from garment.tui.calibration import StimSettings, default_max


def _ua(ma: float | None) -> int | None:
    return None if ma is None else int(round(ma * 1000))


def calibration_from_args(args: argparse.Namespace) -> Calibration:
    """The calibration record the arguments ask for (refused with the reason if inconsistent)."""
    s = StimSettings()
    sensory, motor, mx = _ua(args.sensory), _ua(args.motor), _ua(args.max)
    if sensory is None or motor is None:
        raise CliError("give both --sensory and --motor (the thresholds in mA)")
    if sensory > motor:
        raise CliError(f"--sensory {args.sensory:g} mA is above --motor {args.motor:g} mA")
    if mx is None:
        mx = default_max(motor, s.ceiling_ua)
    elif mx < motor:
        raise CliError(f"--max {args.max:g} mA is below --motor {args.motor:g} mA")
    width = args.width if args.width is not None else s.width_us
    freq = args.freq if args.freq is not None else s.freq_hz
    area = int(round(args.area * 100)) if args.area is not None else s.area_mm2
    return Calibration(args.channel, sensory, motor, mx, area, width, freq)


def describe(cal: Calibration) -> dict[str, Any]:
    """A calibration in the user's units (mA, us, Hz, cm^2)."""
    return {"channel": cal.channel, "sensory_ma": cal.sensory_ua / 1000, "motor_ma": cal.motor_ua / 1000,
            "max_ma": cal.max_ua / 1000, "width_us": cal.width_us, "freq_hz": cal.freq_hz,
            "area_cm2": cal.area_mm2 / 100}


def refusal(e: DeviceError) -> str:
    """The garment's refusal, without the wire's error name."""
    return str(e).split(": ", 1)[-1]


async def cmd_calibrate(args: argparse.Namespace) -> int:
    """``garment calibrate``: write one stimulation channel's calibration to the garment."""
    from garment.auth import ensure_authenticated
    from garment.devices import connect

    from garment.commands.stim import TrainRequest, check_train

    cal = calibration_from_args(args)
    async with connect(args.device) as g:
        # stimulation at the calibrated maximum must be within the garment's limits
        bad = check_train(TrainRequest(cal.channel, cal.max_ua, cal.width_us, cal.freq_hz, 1000), cal,
                          await g.get_limits())
        if bad:
            raise CliError(f"refused: at --max {cal.max_ua / 1000:g} mA: {bad}")
        await ensure_authenticated(g)
        try:
            saved = await g.set_calibration(cal)
        except DeviceError as e:
            raise CliError(f"refused by the garment: {refusal(e)}") from None
    d = describe(saved)
    if args.json:
        print(json.dumps(d))
    else:
        print(f"channel {d['channel']} calibrated: sensory {d['sensory_ma']:g} mA, motor {d['motor_ma']:g} mA, "
              f"max {d['max_ma']:g} mA; {d['width_us']} us at {d['freq_hz']} Hz on {d['area_cm2']:g} cm^2 electrodes")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``calibrate`` on the ``garment`` CLI's subparsers."""
    ma = float_range(0.0, lo_open=True, unit="mA")
    sp = sub.add_parser("calibrate", help="calibrate a stimulation channel on the garment (thresholds in mA)")
    sp.add_argument("--device", default="sim", help="sim | serial:PATH | socket://HOST:PORT | ble:ADDRESS")
    sp.add_argument("--channel", type=int_range(0, wire.MAX_CHANNELS - 1), required=True, help="stimulation channel")
    sp.add_argument("--sensory", type=ma, metavar="MA", help="sensory threshold (felt)")
    sp.add_argument("--motor", type=ma, metavar="MA", help="motor threshold (visible contraction)")
    sp.add_argument("--max", type=ma, metavar="MA", help="maximum comfortable current (default 1.5 x motor)")
    sp.add_argument("--width", type=int_range(1, None, unit="us"), metavar="US", help="phase width (default 300)")
    sp.add_argument("--freq", type=int_range(1, None, unit="Hz"), metavar="HZ", help="pulse rate (default 30)")
    sp.add_argument("--area", type=float_range(0.0, 655.35, lo_open=True, unit="cm^2"), metavar="CM2",
                    help="electrode area (default 25 cm^2)")
    sp.add_argument("--json", action="store_true", help="print the saved calibration as one JSON object")
    sp.set_defaults(func=cmd_calibrate)
