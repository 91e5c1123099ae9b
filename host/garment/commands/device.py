"""Subcommands that talk to a garment: sim, info, stream, live."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path

from garment.acquire import LslSink, RecordingSink, Sink, run_stream
from garment.client import StreamConfig
from garment.commands.common import CliError, print_err
from garment.devices import connect
from garment.protocol import wire


async def cmd_info(args: argparse.Namespace) -> int:
    async with connect(args.device) as g:
        info = await g.info()
    if args.json:
        print(json.dumps(info))
    else:
        for k in ("board", "version", "protocol", "afe", "channels", "fs", "state", "uid"):
            print(f"{k:10s} {info.get(k)}")
    return 0


async def cmd_stream(args: argparse.Namespace) -> int:
    sinks: list[Sink] = []
    if args.out:
        sinks.append(RecordingSink(Path(args.out)))
    if args.lsl:
        sinks.append(LslSink())
    async with connect(args.device) as g:
        cfg = await g.get_config()
        if args.raw:
            kind = wire.STREAM_RAW
        elif args.bits:
            kind = wire.STREAM_FILTERED16 if args.bits == 16 else wire.STREAM_FILTERED
        else:  # keep what the link is set up for (16-bit on BLE, 24-bit on USB)
            kind = cfg.kind if cfg.kind != wire.STREAM_RAW else wire.STREAM_FILTERED
        want = StreamConfig(
            fs=args.fs or cfg.fs, channels=args.channels or cfg.channels, mains=args.mains, kind=kind, highpass=cfg.highpass, notch=cfg.notch,
        )
        if want != cfg:
            from garment.auth import ensure_authenticated

            await ensure_authenticated(g)  # the acquisition settings are privileged
            await g.set_config(want)
        # Ctrl-C or SIGTERM ends the recording early, as its end: saved and reported
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            report = await run_stream(g, args.seconds, sinks, device=args.device, stop=stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    r = report.as_json()
    if args.json:
        print(json.dumps(r))
    else:
        print(
            f"{r['samples']} samples/channel x {r['channels']} ch at {r['fs']} Hz in "
            f"{r['duration_s']} s; dropped {r['dropped']}, CRC errors {r['crc_errors']}"
            + (f"; saved {args.out}" if args.out else "")
        )
    if report.error is not None:
        kept = f"; kept {r['samples']} samples" + (f" in {args.out}" if args.out else "")
        print_err(f"garment stopped answering mid-stream ({report.error}){kept}")
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
            ms = (block.data.astype(float) ** 2).mean(axis=0) ** 0.5
            rms = ms if rms is None else 0.9 * rms + 0.1 * ms
            now = time.monotonic()
            if now - last >= 1.0:
                st = g.stats
                rate = (st.samples - n_last) / (now - last)
                n_last, last = st.samples, now
                uv = rms * float(info.get("lsb_fv", 0)) / 1e9
                bars = " ".join(f"{v:6.1f}" for v in uv)
                print(f"{rate:7.0f} S/s  dropped {st.dropped}  crc {st.crc_errors}  rms[uV] {bars}", flush=True)


async def cmd_scan(args: argparse.Namespace) -> int:
    """BLE garments in range (advertising the Nordic UART Service)."""
    from garment.transports.ble import scan

    found = await scan(timeout=args.timeout)
    if args.json:
        print(json.dumps([{"name": r.name, "address": r.address, "rssi": r.rssi} for r in found]))
    else:
        for r in found:
            print(f"{r.address}  {r.name or '?':20s} {r.rssi} dBm")
        if not found:
            print("no garments found")
    return 0


class _Stop(Exception):
    """SIGTERM/SIGHUP asked ``garment sim`` to stop (as Ctrl-C does)."""


def cmd_sim(args: argparse.Namespace) -> int:
    """Run the simulated garment until Ctrl-C, SIGTERM or SIGHUP (exit 0, its firmware
    stopped with it), or until its firmware dies (exit 1, with the firmware's last line)."""
    from garment.sim import SimGarment, SimStartError

    def stop(signum: int, frame: object) -> None:
        raise _Stop(signal.Signals(signum).name)

    # Before the firmware starts: a stop that arrives while it boots still takes it down.
    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    sim = SimGarment(pty=args.pty, port=args.port, rig_port=args.rig_port, hd=args.hd)
    try:
        try:
            url = sim.start()
        except SimStartError as e:
            raise CliError(str(e)) from None
        print(url, flush=True)
        print(f"rig port: 127.0.0.1:{sim.rig_port} (Ctrl-C stops the simulated garment)", file=sys.stderr, flush=True)
        while sim.alive():
            time.sleep(0.2)
        status = sim.exit_status or 0
        how = f"was killed by {signal.Signals(-status).name}" if status < 0 else f"exited with status {status}"
        last = next((line for line in reversed(sim.output) if line.strip()), "")
        said = f": {last}" if last and not last.startswith(SimGarment.READY) else ""
        print_err(f"the simulated garment's firmware {how}{said}")
        return 1
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        sim.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
