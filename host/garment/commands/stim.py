"""``garment stim`` and ``garment bench latency`` on the command line.

``garment stim``: one ramped test train on one channel for as long as the user holds it
(a key held down in a terminal - the auto-repeat keeps it alive, releasing the key stops
it - or until a pipe on stdin reaches end of file). What the channel's calibration or
the garment's limits do not allow is refused with a one-line error before anything is
sent (:func:`garment.stimulation.check_train`), and the garment refuses it again on its
own (it is the authority). Arming, the heartbeat and the disarm are
:mod:`garment.stimcontrol`'s.

``garment bench latency``: :mod:`garment.latency` (EMG onset -> stimulation change).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import sys
import time
from pathlib import Path
from typing import Any, Callable

from garment.client import DeviceError, GarmentClient
from garment.commands.common import CliError, float_range, int_range, output_file, print_err
from garment.wording import device_refusal, in_user_words
from garment.protocol import Packet, wire
from garment.stimcontrol import armed
from garment.stimulation import MAX_TEST_MS, TrainRequest, check_train

#: the longest one hold of ``garment stim`` may last (one test train, the firmware's longest)
MAX_HOLD_S = MAX_TEST_MS / 1000

__all__ = ["HoldInput", "add_parsers", "cmd_bench_latency", "cmd_stim", "hold_train"]


# ---- the hold-to-stimulate loop ---------------------------------------------------------------
class HoldInput:
    """Tells whether the user still holds the control.

    A terminal (read in cbreak mode): the train starts on the first key press and goes on
    while the key's auto-repeat keeps arriving; ``REPEAT_S`` without a byte (the key was
    released) stops it. A pipe or file: the train starts at once and stops at end of
    file. ``q``, ``Esc`` or ``Ctrl-C`` stop it at once either way."""

    #: a held key's first repeat comes after the keyboard's repeat delay (typically 250-660 ms)
    FIRST_REPEAT_S = 0.8
    REPEAT_S = 0.25
    STOP_KEYS = (b"q", b"\x03", b"\x1b")

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.tty = os.isatty(self.fd)
        self._saved: Any = None
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._was_blocking = True
        self.eof = False

    @staticmethod
    def unusable(fd: int | None = None, how: str | None = None) -> str | None:
        """Why stdin cannot be held (None if it can): it must be a terminal or a pipe. A
        closed stdin, ``/dev/null`` or a file is at its end before anything is held.
        ``how`` says what to do instead (default: ``garment stim``'s way)."""
        import stat

        how = how or "hold a key in a terminal, or pipe the hold (e.g. sleep 2 | garment stim ...)"
        try:
            fd = sys.stdin.fileno() if fd is None else fd
            mode = os.fstat(fd).st_mode
        except (AttributeError, ValueError, OSError):
            return f"stdin is closed: {how}"
        if os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            return None
        what = "/dev/null" if stat.S_ISCHR(mode) else "a file"
        return f"stdin is {what}, which holds nothing: {how}"

    def __enter__(self) -> "HoldInput":
        self._loop = asyncio.get_running_loop()
        if self.tty:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        self._was_blocking = os.get_blocking(self.fd)
        os.set_blocking(self.fd, False)
        self._loop.add_reader(self.fd, self._readable)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.remove_reader(self.fd)
        os.set_blocking(self.fd, self._was_blocking)
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            assert self._loop is not None
            self._loop.remove_reader(self.fd)  # EOF stays EOF
        self._queue.put_nowait(data)

    async def _next(self, timeout: float | None) -> bytes | None:
        """The next bytes (b"" at EOF), or None after ``timeout``."""
        if self.eof:
            return b""
        try:
            data = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None
        if not data:
            self.eof = True
        return data

    async def read(self) -> bytes:
        """The next bytes typed (or piped); b"" at end of file."""
        return await self._next(None) or b""

    async def wait_press(self) -> bool:
        """Terminal: wait for the first key press (False if it is a stop key or EOF).
        Pipe: True unless it is already at end of file."""
        if not self.tty:
            try:
                data = await asyncio.wait_for(self._queue.get(), 0.05)
            except asyncio.TimeoutError:
                return True  # open and quiet: held until EOF
            if not data:
                self.eof = True
                return False
            return not any(k in data for k in self.STOP_KEYS)
        got = await self._next(None)
        return bool(got) and not any(k in got for k in self.STOP_KEYS if got)

    async def held(self, first: bool) -> bool:
        """Wait for the next sign of life; False once the control is released."""
        timeout = None if not self.tty else (self.FIRST_REPEAT_S if first else self.REPEAT_S)
        data = await self._next(timeout)
        if data is None or not data:
            return False  # key released (no auto-repeat), or end of file
        return not any(k in data for k in self.STOP_KEYS)


async def hold_train(
    g: GarmentClient,
    req: TrainRequest,
    held: Callable[[bool], Any],
    say: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Arm, run the train while ``await held(first)`` is True, then disarm. Returns a summary.

    The train is sent with ``req.duration_ms`` (the longest a hold may last); releasing
    stops it at once (T_DISARM: a stop is immediate). The heartbeat runs throughout, so
    a host that dies mid-train leaves the garment to zero the output by itself."""
    pulses: list[tuple[int, int]] = []

    def on_packet(pkt: Packet) -> None:
        if pkt.type == wire.R_PULSES and pkt.body:
            for i in range(pkt.body[0]):
                t, ch, amp, _w, _ip = struct.unpack_from(wire.PULSE_FMT, pkt.body, 1 + i * wire.PULSE_LEN)
                if ch == req.channel:
                    pulses.append((t, amp))

    g.listeners.append(on_packet)
    t0 = time.monotonic()
    try:
        async with armed(g, heartbeat_s=0.1) as a:
            await a.test(req.channel, req.amplitude_ua, req.width_us, req.freq_hz, req.duration_ms)
            say(f"stimulating channel {req.channel}: ramping to {req.amplitude_ua / 1000:g} mA, "
                f"{req.width_us} us, {req.freq_hz} Hz - release to stop")
            first = True
            deadline = t0 + req.duration_ms / 1000
            while time.monotonic() < deadline:
                left = deadline - time.monotonic()
                try:
                    still = await asyncio.wait_for(held(first), max(left, 0.01))
                except asyncio.TimeoutError:
                    break  # the train's own end
                if not still:
                    break
                first = False
    finally:
        g.listeners.remove(on_packet)
    return {
        "channel": req.channel,
        "pulses": len(pulses),
        "peak_ua": max((a for _, a in pulses), default=0),
        "held_s": round(time.monotonic() - t0, 3),
    }


async def cmd_stim(args: argparse.Namespace) -> int:
    """``garment stim``: one ramped test train while the control is held."""
    from garment.auth import ensure_authenticated
    from garment.devices import connect

    bad = HoldInput.unusable()
    if bad:
        raise CliError(f"refused: {bad}; nothing was sent")
    amp = int(round(args.amplitude * 1000))
    if amp <= 0:
        raise CliError("refused: --amplitude must be > 0 mA")
    if not 0 <= args.channel < wire.MAX_CHANNELS:
        raise CliError(f"refused: --channel must be 0..{wire.MAX_CHANNELS - 1}")
    async with connect(args.device) as g:
        try:
            cal = await g.get_calibration(args.channel)
        except DeviceError as e:
            raise CliError(f"refused by the garment: {device_refusal(e)}") from None
        lim = await g.get_limits()
        req = TrainRequest(args.channel, amp, args.width or cal.width_us, args.freq or cal.freq_hz,
                           max(1, int(args.max_seconds * 1000)))  # at most MAX_HOLD_S (argparse)
        bad = check_train(req, cal, lim)
        if bad:
            raise CliError(f"refused: {in_user_words(bad)}")
        await ensure_authenticated(g)
        say = (lambda s: None) if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
        with HoldInput() as hold:
            if hold.tty:
                say(f"hold any key to stimulate channel {req.channel} at {req.amplitude_ua / 1000:g} mA "
                    f"(release to stop, q to quit)")
            if not await hold.wait_press():
                summary: dict[str, Any] = {"channel": req.channel, "pulses": 0, "peak_ua": 0, "held_s": 0.0}
            else:
                try:
                    summary = await hold_train(g, req, hold.held, say=say)
                except DeviceError as e:
                    raise CliError(f"refused by the garment: {device_refusal(e)}") from None
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"stopped: {summary['pulses']} pulses on channel {summary['channel']}, "
              f"peak {summary['peak_ua'] / 1000:g} mA, {summary['held_s']} s")
    return 0


async def cmd_bench_latency(args: argparse.Namespace) -> int:
    """``garment bench latency``: EMG onset -> stimulation change, median and p99."""
    from garment.latency import LatencyError, latency_garment, measure_latency

    if args.trials < 1:
        raise CliError("--trials must be >= 1")
    say = None if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
    try:
        async with latency_garment(args.device) as (g, sim):
            res = await measure_latency(g, sim, args.trials, progress=say)
    except LatencyError as e:
        raise CliError(str(e)) from None
    if not res.latencies_ms:
        raise CliError("no trial produced a stimulation change: " + "; ".join(res.notes[:3]))
    out = res.summary()
    if args.plot:
        from garment.plots import plot_latency

        where = plot_latency(res.latencies_ms, Path(args.plot))
        if not args.json:
            print(f"latency distribution: {where}")
    if args.json:
        print(json.dumps(out))
    else:
        print(f"onset -> stimulation: median {out['median_ms']} ms, p99 {out['p99_ms']} ms "
              f"over {out['trials']} trials" + (f" ({res.failed} failed)" if res.failed else ""))
    if res.failed:
        print_err(f"{res.failed} of {res.trials} trials failed: " + "; ".join(n for n in res.notes if "no pulse" in n
                                                                           or "not timed" in n)[:300])
        return 3
    return 0


# ---- argparse -----------------------------------------------------------------------------------
def add_parsers(sub: Any) -> None:
    """Register ``stim`` and ``bench latency`` on the ``garment`` CLI's subparsers."""
    sp = sub.add_parser("stim", help="one ramped test train on one channel while you hold a key (or until EOF)")
    sp.add_argument("--device", default="sim", help="sim | serial:PATH | socket://HOST:PORT | ble:ADDRESS (default: sim)")
    sp.add_argument("--channel", type=int_range(0, wire.MAX_CHANNELS - 1), required=True, help="stimulation channel")
    sp.add_argument("--amplitude", type=float_range(0.0, lo_open=True, unit="mA"), required=True, metavar="MA",
                    help="current per phase (mA)")
    sp.add_argument("--width", type=int_range(1, None, unit="us"), default=None, metavar="US",
                    help="phase width (default: the calibration's)")
    sp.add_argument("--freq", type=int_range(1, None, unit="Hz"), default=None, metavar="HZ",
                    help="pulse rate (default: the calibration's)")
    sp.add_argument("--max-seconds", type=float_range(0.0, MAX_HOLD_S, lo_open=True, unit="s"), default=30.0,
                    help=f"the longest a hold may last (default 30 s, at most {MAX_HOLD_S:g} s)")
    sp.add_argument("--json", action="store_true", help="print one JSON summary")
    sp.set_defaults(func=cmd_stim)

    bp = sub.add_parser("bench", help="benchmarks against a garment")
    bsub = bp.add_subparsers(dest="bench", required=True)
    lp = bsub.add_parser("latency", help="EMG onset -> stimulation change (needs the rig: --device sim)")
    lp.add_argument("--device", default="sim", help="sim (the simulated garment and its rig)")
    lp.add_argument("--trials", type=int_range(1, None), default=50)
    lp.add_argument("--json", action="store_true", help="print {median_ms, p99_ms, trials}")
    lp.add_argument("--plot", type=output_file(".png"), default=None, metavar="PNG",
                    help="also draw the latency distribution into this PNG")
    lp.set_defaults(func=cmd_bench_latency)
