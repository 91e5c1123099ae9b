"""The ``garment`` command line."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any, Callable, Coroutine

from garment.client import DeviceError, GarmentClient, StreamConfig
from garment.devices import connect
from garment.transports import TransportClosed, TransportError


class CliError(Exception):
    """An error reported to the user as one line, exit status 2."""


def _print_err(msg: str) -> None:
    print(f"garment: error: {msg}", file=sys.stderr)


# ---- commands ------------------------------------------------------------------------
async def cmd_info(args: argparse.Namespace) -> int:
    async with connect(args.device) as g:
        info = await g.info()
    if args.json:
        print(json.dumps(info))
    else:
        for k in ("board", "version", "protocol", "afe", "channels", "fs", "state", "uid"):
            print(f"{k:10s} {info.get(k)}")
    return 0


async def _stream(g: GarmentClient, seconds: float, on_block: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Stream for ``seconds``; returns the stream report. Keeps what arrived if the link dies."""
    cfg = await g.get_config()
    await g.start_stream()
    t0 = time.monotonic()
    error: str | None = None
    try:
        while time.monotonic() - t0 < seconds:
            block = await g.next_block(timeout=2.0)
            if on_block is not None:
                on_block(block)
    except TransportError as e:
        error = str(e)
    duration = time.monotonic() - t0
    if error is None:
        try:
            await g.stop_stream()
            # drain what was in flight so nothing received is left uncounted
            while True:
                try:
                    block = await g.next_block(timeout=0.3)
                except TransportError:
                    break
                if on_block is not None:
                    on_block(block)
        except TransportError as e:
            error = str(e)
    st = g.stats
    report: dict[str, Any] = {
        "channels": cfg.channels,
        "fs": cfg.fs,
        "samples": st.samples,
        "dropped": st.dropped,
        "crc_errors": st.crc_errors,
        "duration_s": round(duration, 3),
    }
    if error is not None:
        report["error"] = error
    return report


async def cmd_stream(args: argparse.Namespace) -> int:
    async with connect(args.device) as g:
        cfg = await g.get_config()
        want = StreamConfig(
            fs=args.fs, channels=args.channels, mains=args.mains,
            kind=1 if not args.raw else 0, highpass=cfg.highpass, notch=cfg.notch,
        )
        if want != cfg:
            await g.set_config(want)
        report = await _stream(g, args.seconds)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['samples']} samples/channel x {report['channels']} ch at {report['fs']} Hz in "
            f"{report['duration_s']} s; dropped {report['dropped']}, CRC errors {report['crc_errors']}"
        )
    if "error" in report:
        _print_err(f"garment stopped answering mid-stream ({report['error']}); kept {report['samples']} samples")
        return 3
    return 0


async def cmd_live(args: argparse.Namespace) -> int:
    """Live streaming statistics in the terminal (until Ctrl-C)."""
    async with connect(args.device) as g:
        info = await g.info()
        print(f"connected: {info['board']} firmware {info['version']} ({info['afe']}), "
              f"{info['channels']} ch at {info['fs']} Hz. Ctrl-C to stop.")
        await g.start_stream()
        last = time.monotonic()
        n_last = 0
        rms = None
        while True:
            block = await g.next_block(timeout=2.0)
            x = block.data.astype(float)
            rms = (x**2).mean(axis=0) ** 0.5 if rms is None else 0.9 * rms + 0.1 * (x**2).mean(axis=0) ** 0.5
            now = time.monotonic()
            if now - last >= 1.0:
                st = g.stats
                rate = (st.samples - n_last) / (now - last)
                n_last, last = st.samples, now
                bars = " ".join(f"{int(r):6d}" for r in rms)
                print(f"{rate:7.0f} S/s  dropped {st.dropped}  crc {st.crc_errors}  rms[codes] {bars}", flush=True)


def cmd_sim(args: argparse.Namespace) -> int:
    from garment.sim import SimGarment

    sim = SimGarment(pty=args.pty)
    url = sim.start()
    print(url, flush=True)
    print(f"rig port: 127.0.0.1:{sim.rig_port} (Ctrl-C stops the simulated garment)", file=sys.stderr, flush=True)
    try:
        while sim.alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def cmd_flash(args: argparse.Namespace) -> int:
    from garment.flash import FlashError, flash

    try:
        flash(args.port, args.board, dry_run=args.dry_run, out_dir=args.out)
    except FlashError as e:
        raise CliError(str(e)) from None
    return 0


# ---- parser --------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="garment", description="Companion for the EMG + stimulation garment.")
    sub = p.add_subparsers(dest="cmd")

    def device(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--device", default="sim", help="sim | serial:PATH | socket://HOST:PORT (default: sim)")

    sp = sub.add_parser("sim", help="start the simulated garment and print the URL to connect to")
    sp.add_argument("--pty", action="store_true", help="serve the link on a pseudo-terminal (/dev/pts/N)")
    sp.set_defaults(func=cmd_sim)

    sp = sub.add_parser("info", help="firmware version, board, channels, sampling rate, state")
    device(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("stream", help="stream EMG and report what arrived")
    device(sp)
    sp.add_argument("--seconds", type=float, default=10.0)
    sp.add_argument("--channels", type=int, default=8)
    sp.add_argument("--fs", type=int, default=2000)
    sp.add_argument("--mains", type=int, default=50, choices=(50, 60))
    sp.add_argument("--raw", action="store_true", help="stream AFE codes before filtering")
    sp.add_argument("--json", action="store_true", help="print exactly one JSON object")
    sp.set_defaults(func=cmd_stream)

    sp = sub.add_parser("live", help="live streaming statistics in the terminal")
    device(sp)
    sp.set_defaults(func=cmd_live)

    sp = sub.add_parser("flash", help="compile the firmware with mpy-cross and copy it to a board with mpremote")
    sp.add_argument("--port", required=True, help="serial port of the board (e.g. /dev/ttyACM0)")
    sp.add_argument("--board", default="esp32s3", choices=("esp32s3", "rp2040", "rp2350"))
    sp.add_argument("--out", default=None, help="keep the compiled tree in this folder")
    sp.add_argument("--dry-run", action="store_true", help="compile only, copy nothing")
    sp.set_defaults(func=cmd_flash)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``garment`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmd is None:
        args = parser.parse_args(["live", *(argv or [])])
    try:
        result = args.func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except KeyboardInterrupt:
        return 130
    except (CliError, TransportError, DeviceError, OSError, RuntimeError) as e:
        _print_err(str(e))
        return 2


if __name__ == "__main__":
    sys.exit(main())
