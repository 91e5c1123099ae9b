"""``garment calibrate``: a stimulation channel's calibration on the garment, from the CLI.

Two ways, one result (the channel's calibration record on the garment):

* the threshold ramp, as on the TUI's Calibrate screen and with the same core
  (:func:`garment.stimcontrol.search_thresholds`: provisional calibration, arm, a slow ramp
  of test trains, disarm, the previous calibration back): press ``f`` when the person
  feels it (sensory threshold), ``c`` when the muscle visibly contracts (motor threshold:
  the ramp stops), ``q``, Esc, space or Ctrl-C to stop. Keys come from the terminal or
  from a pipe (``(sleep 4; printf f; sleep 3; printf c) | garment calibrate ...``); the end
  of a pipe stops the ramp;
* ``--sensory`` and ``--motor`` (thresholds known from an earlier session): written as
  given, nothing is stimulated.

The maximum comfortable current is ``--max`` or 1.5 x the motor threshold. What the
garment's limits do not allow is refused before anything is sent (and again by the
garment, the authority); a ramp that ends without a motor threshold saves nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any, Callable

from garment.client import Calibration, DeviceError, GarmentClient
from garment.commands.common import CliError, float_range, int_range
from garment.protocol import wire
from garment.stimcontrol import Ramp, RampResult, StimRefused, StimSettings, default_max, search_thresholds
from garment.wording import device_refusal, in_user_words

FELT_KEYS = b"fF"
MOTOR_KEYS = b"cC"
STOP_KEYS = b"qQ \x1b\x03"
KEYS_HOW = ("press f when it is felt and c at a visible contraction, at a terminal or through a pipe "
            "(e.g. (sleep 4; printf f; sleep 3; printf c) | garment calibrate ...), "
            "or give --sensory and --motor")


def _ua(ma: float | None) -> int | None:
    return None if ma is None else int(round(ma * 1000))


def settings_from_args(args: argparse.Namespace) -> StimSettings:
    """Pulse parameters and the ramp the arguments ask for."""
    d = StimSettings()
    s = StimSettings(
        width_us=args.width if args.width is not None else d.width_us,
        freq_hz=args.freq if args.freq is not None else d.freq_hz,
        area_mm2=int(round(args.area * 100)) if args.area is not None else d.area_mm2,
        start_ua=_ua(args.start) or d.start_ua,
        step_ua=_ua(args.step) or d.step_ua,
        ceiling_ua=_ua(args.ceiling) or d.ceiling_ua,
        step_s=args.step_seconds if args.step_seconds is not None else d.step_s,
    )
    try:
        s.check()
    except ValueError as e:
        raise CliError(f"ramp settings: {e}") from None
    return s


def calibration_of(channel: int, sensory_ua: int, motor_ua: int, max_ua: int | None,
                   s: StimSettings) -> Calibration:
    """The calibration record for these thresholds (refused with the reason if inconsistent)."""
    if sensory_ua > motor_ua:
        raise CliError(f"the sensory threshold {sensory_ua / 1000:g} mA is above the motor threshold "
                       f"{motor_ua / 1000:g} mA")
    mx = default_max(motor_ua, max(s.ceiling_ua, motor_ua)) if max_ua is None else max_ua
    if mx < motor_ua:
        raise CliError(f"--max {mx / 1000:g} mA is below the motor threshold {motor_ua / 1000:g} mA")
    return Calibration(channel, sensory_ua, motor_ua, mx, s.area_mm2, s.width_us, s.freq_hz)


def describe(cal: Calibration) -> dict[str, Any]:
    """A calibration in the user's units (mA, us, Hz, cm^2)."""
    return {"channel": cal.channel, "sensory_ma": cal.sensory_ua / 1000, "motor_ma": cal.motor_ua / 1000,
            "max_ma": cal.max_ua / 1000, "width_us": cal.width_us, "freq_hz": cal.freq_hz,
            "area_cm2": cal.area_mm2 / 100}


async def _check_limits(g: GarmentClient, cal: Calibration, what: str) -> None:
    """Stimulation at ``cal``'s maximum must be within the garment's limits."""
    from garment.commands.stim import TrainRequest, check_train

    bad = check_train(TrainRequest(cal.channel, cal.max_ua, cal.width_us, cal.freq_hz, 1000), cal,
                      await g.get_limits())
    if bad:
        raise CliError(f"refused: at {what} {cal.max_ua / 1000:g} mA: {in_user_words(bad)}")


async def ramp_with_keys(g: GarmentClient, channel: int, s: StimSettings,
                         say: Callable[[str], None]) -> RampResult:
    """The threshold ramp on ``channel``, steered by the keys on stdin (see the module doc)."""
    from garment.commands.stim import HoldInput

    def step(amp: int) -> None:
        say(f"  {amp / 1000:4.1f} mA")

    ramp = Ramp(s, on_step=step)
    with HoldInput() as keys:
        async def steer() -> None:
            while not ramp.stopped:
                data = await keys.read()
                if not data:
                    ramp.stop("input ended")
                    return
                for b in data:
                    if b in FELT_KEYS and ramp.sensory_ua is None and ramp.amplitude_ua:
                        ramp.felt()
                        say(f"  felt at {ramp.amplitude_ua / 1000:g} mA (sensory threshold)")
                    elif b in MOTOR_KEYS:
                        ramp.contraction()
                    elif b in STOP_KEYS:
                        ramp.stop("stopped")

        steering = asyncio.create_task(steer(), name="calibrate-keys")
        try:
            return await search_thresholds(g, channel, ramp)
        finally:
            steering.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await steering


async def cmd_calibrate(args: argparse.Namespace) -> int:
    """``garment calibrate``: find or write one stimulation channel's calibration."""
    from garment.auth import ensure_authenticated
    from garment.commands.stim import HoldInput
    from garment.devices import connect

    s = settings_from_args(args)
    given = (args.sensory is not None, args.motor is not None)
    if any(given) and not all(given):
        raise CliError("give both --sensory and --motor (the thresholds in mA), or neither for the ramp")
    say = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    explicit = all(given)
    if explicit:
        cal = calibration_of(args.channel, _ua(args.sensory) or 0, _ua(args.motor) or 0, _ua(args.max), s)
    else:
        bad = HoldInput.unusable(how=KEYS_HOW)
        if bad:
            raise CliError(f"refused: {bad}; nothing was sent")
    async with connect(args.device) as g:
        if explicit:
            await _check_limits(g, cal, "--max")
        else:
            # the ramp may reach its ceiling: that, too, must be within the limits
            await _check_limits(g, Calibration(args.channel, 0, 0, s.ceiling_ua, s.area_mm2, s.width_us, s.freq_hz),
                                "the ramp's ceiling")
        await ensure_authenticated(g)
        try:
            if not explicit:
                say(f"ramping channel {args.channel} from {s.start_ua / 1000:g} mA by {s.step_ua / 1000:g} mA "
                    f"every {s.step_s:g} s (up to {s.ceiling_ua / 1000:g} mA): f = felt, c = contraction "
                    f"(stops), q/Esc/space = stop")
                res = await ramp_with_keys(g, args.channel, s, say)
                if res.motor_ua is None:
                    how = {"ceiling": "reached its ceiling", "input ended": "stopped at the end of its input"}.get(
                        res.reason, "was stopped")
                    raise CliError(f"no motor threshold: the ramp {how} at {res.last_ua / 1000:g} mA "
                                   f"(press c at a visible contraction); nothing saved, the previous "
                                   f"calibration is back")
                cal = calibration_of(args.channel, res.sensory_ua or res.motor_ua, res.motor_ua, _ua(args.max), s)
                await _check_limits(g, cal, "--max" if args.max is not None else "the maximum (1.5 x motor)")
            saved = await g.set_calibration(cal)
        except StimRefused as e:
            raise CliError(f"refused: {e}") from None
        except DeviceError as e:
            raise CliError(f"refused by the garment: {device_refusal(e)}") from None
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
    sp = sub.add_parser("calibrate", help="find (ramp, keys f/c) or write a stimulation channel's thresholds")
    sp.add_argument("--device", default="sim", help="sim | serial:PATH | socket://HOST:PORT | ble:ADDRESS")
    sp.add_argument("--channel", type=int_range(0, wire.MAX_CHANNELS - 1), required=True, help="stimulation channel")
    sp.add_argument("--sensory", type=ma, metavar="MA", help="sensory threshold, known (no ramp)")
    sp.add_argument("--motor", type=ma, metavar="MA", help="motor threshold, known (no ramp)")
    sp.add_argument("--max", type=ma, metavar="MA", help="maximum comfortable current (default 1.5 x motor)")
    sp.add_argument("--width", type=int_range(1, None, unit="us"), metavar="US", help="phase width (default 300)")
    sp.add_argument("--freq", type=int_range(1, None, unit="Hz"), metavar="HZ", help="pulse rate (default 30)")
    sp.add_argument("--area", type=float_range(0.0, 655.35, lo_open=True, unit="cm^2"), metavar="CM2",
                    help="electrode area (default 25 cm^2)")
    sp.add_argument("--start", type=ma, metavar="MA", help="ramp: first step (default 1 mA)")
    sp.add_argument("--step", type=ma, metavar="MA", help="ramp: increment (default 0.5 mA)")
    sp.add_argument("--ceiling", type=ma, metavar="MA", help="ramp: highest step (default 40 mA)")
    sp.add_argument("--step-seconds", type=float_range(0.0, 60.0, lo_open=True, unit="s"), metavar="S",
                    help="ramp: hold of each step (default 1 s)")
    sp.add_argument("--json", action="store_true", help="print the saved calibration as one JSON object")
    sp.set_defaults(func=cmd_calibrate)
