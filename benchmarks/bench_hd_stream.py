"""HD-EMG over USB: 64 channels x 2048 Hz (24-bit) from the simulated HD garment into the
host, through pyserial (the garment's link as a pseudo-terminal, ``--pty``, or the sim's TCP
socket), with zero loss as the goal.

The simulated garment runs as ``garment sim --hd`` in its own process (the firmware on the
MicroPython unix port: 8 daisy-chained ADS1299 models, DRDY capture, filters, telemetry;
the rig's HD phantom feeder in the launcher). Reported per configuration: samples/channel
received against the AFE's own count over the same span, samples lost (counter gaps),
CRC errors and malformed frames, the garment's AFE overruns and dropped telemetry packets
(R_STATUS), link payload kB/s, and CPU seconds per second of signal of the firmware
process, of the sim's feeder (the rig, not the garment) and of this host process (pyserial
transport, deframing, the client's 24-bit decode). Side by side in the same run: the
8-channel garment (``garment sim``, 8 x 2000 Hz), the cost a 64-channel stream is compared
with, per channel-sample.

The first figure is the firmware alone on a virtual clock (no sockets, no scheduler): the
HD device as ``app.make_device`` wires it on the daisy-chain model (DRDY capture of every
conversion, filters, 24-bit telemetry framed into the queue), CPU seconds per second of
64 x 2048 Hz (getrusage of the run minus a run without the timed loop): whether one core
keeps up at all. On a loaded shared machine the streamed figures then show what the
process gets from the scheduler.

Usage: python benchmarks/bench_hd_stream.py [--seconds 60] [--pty] [--no-8ch] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from garment.client import GarmentClient
from garment.devices import make_transport
from garment.paths import firmware_lib, micropython_exe
from garment.sim.tether import popen_tethered

# The HD device streaming on the daisy-chain model, on the virtual clock (the firmware
# tests' HD board, tests/firmware/mp/test_device_hd.py), for argv[1] seconds of signal.
VIRTUAL = r"""
import sys
sys.path.insert(0, "tests/firmware/mp")
exec(open("tests/firmware/mp/test_device_hd.py").read())
from garmentfw.app import make_device
b, d, nv = _streaming(Link(capture=False), make_device)
c0 = b.afe.count
for _ in range(int(sys.argv[1]) * 16):  # 62.5 ms steps
    _feed_window(b, d, nv)
print(b.afe.count - c0, b.afe.overruns, d.txq.dropped, d.streamer.packets)
"""

_TICK = os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _proc_cpu(pid: int) -> float:
    """utime + stime of one process (all its threads), seconds."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / _TICK


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for t in Path(f"/proc/{pid}/task").iterdir():
        kids = (t / "children").read_text().split()
        out += [int(k) for k in kids]
    return out


def _start_sim(hd: bool, pty: bool) -> tuple[subprocess.Popen[str], str, int]:
    cmd = [sys.executable, "-c", "import sys; from garment.cli import main; sys.exit(main())", "sim"]
    cmd += (["--hd"] if hd else []) + (["--pty"] if pty else [])
    proc = popen_tethered(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # dies with the bench
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url:
        raise SystemExit(f"`{' '.join(cmd)}` did not start")
    fw = [k for k in _children(proc.pid) if "micropython" in Path(f"/proc/{k}/cmdline").read_text()]
    if len(fw) != 1:
        raise SystemExit(f"firmware process of `{' '.join(cmd)}` not found: {fw}")
    return proc, url, fw[0]


async def _stream(url: str, seconds: float) -> dict[str, Any]:
    g = GarmentClient(make_transport(url), timeout=30.0)  # a starved sim answers late
    await g.connect()
    try:
        info = await g.info()
        cfg = await g.get_config()
        await g.status()
        blocks = 0
        first = last = None
        await g.start_stream()
        b0 = await g.next_block(timeout=30.0)  # the stream is flowing: the measured span starts here
        first = b0.first_index
        samples = 0  # consumed after b0 (the client's stats also count what is still queued)
        t0 = time.monotonic()
        c_host0 = _self_cpu()
        while time.monotonic() - t0 < seconds:
            b = await g.next_block(timeout=30.0)
            blocks += 1
            samples += len(b.data)
            last = b.first_index + len(b.data)
        wall = time.monotonic() - t0
        c_host = _self_cpu() - c_host0
        await g.stop_stream()
        while True:
            try:
                await g.next_block(timeout=0.3)
            except Exception:
                break
        st = await g.status()
        stats = g.stats
    finally:
        await g.close()
    span = (last - first - len(b0.data)) if last is not None and first is not None else 0
    return {
        "board": info["board"], "channels": cfg.channels, "fs": cfg.fs, "seconds": round(wall, 2),
        "samples_per_channel": samples, "afe_span": span, "lost": stats.dropped, "gaps": stats.gaps,
        "packets_lost": stats.packets_lost, "crc_errors": stats.crc_errors, "malformed": stats.malformed,
        "afe_overruns": st.afe_overruns, "tx_dropped": st.tx_dropped,
        "rate_hz": round(samples / wall, 1),
        "payload_kB_s": round(samples * cfg.channels * 3 / wall / 1000, 1),
        "host_cpu_s_per_s": round(c_host / wall, 3),
    }


def virtual_clock(seconds: int = 20) -> dict[str, Any]:
    """CPU seconds per second of 64 x 2048 Hz of the firmware alone (virtual clock)."""
    root = Path(__file__).resolve().parents[1]
    script = root / f".bench_hd_{os.getpid()}.py"
    script.write_text(VIRTUAL)
    try:
        cpu = []
        outs = []
        for n in (seconds, 0):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            outs.append(subprocess.run([str(micropython_exe()), "-X", "heapsize=8m", str(script), str(n)],
                                       capture_output=True, text=True, cwd=root, check=True,
                                       env={**os.environ, "MICROPYPATH": str(firmware_lib())}).stdout.split())
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    finally:
        script.unlink()
    conv, overruns, dropped, packets = (int(v) for v in outs[0])
    per_s = (cpu[0] - cpu[1]) / seconds
    return {"what": "firmware alone, virtual clock", "channels": 64, "fs": 2048, "seconds": seconds,
            "conversions": conv, "afe_overruns": overruns, "tx_dropped": dropped, "packets": packets,
            "firmware_cpu_s_per_s": round(per_s, 3),
            "firmware_us_per_channel_sample": round(per_s / (64 * 2048) * 1e6, 3)}


def run_one(hd: bool, seconds: float, pty: bool) -> dict[str, Any]:
    proc, url, fw = _start_sim(hd, pty)
    try:
        time.sleep(1.0)  # boot settles (the feeder fills the AFE's input)
        c_fw0, c_sim0 = _proc_cpu(fw), _proc_cpu(proc.pid)
        r = asyncio.run(_stream(url, seconds))
        # CPU over the streamed span (plus the stop), per second of signal
        r["firmware_cpu_s_per_s"] = round((_proc_cpu(fw) - c_fw0) / r["seconds"], 3)
        r["feeder_cpu_s_per_s"] = round((_proc_cpu(proc.pid) - c_sim0) / r["seconds"], 3)
        r["link"] = "pty (pyserial)" if pty else "socket (pyserial socket://)"
        ch_s = r["channels"] * r["fs"]
        r["firmware_us_per_channel_sample"] = round(r["firmware_cpu_s_per_s"] / ch_s * 1e6, 3)
        r["host_us_per_channel_sample"] = round(r["host_cpu_s_per_s"] / ch_s * 1e6, 3)
        return r
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--pty", action="store_true", help="the garment's link on a pseudo-terminal (default: TCP socket)")
    ap.add_argument("--no-8ch", action="store_true", help="skip the 8-channel garment beside it")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    v = virtual_clock()
    rows = [run_one(True, a.seconds, a.pty)]
    if not a.no_8ch:
        rows.append(run_one(False, a.seconds, a.pty))
    if a.json:
        print(json.dumps([v] + rows))
    else:
        print(f"firmware alone (virtual clock, {v['seconds']} s of 64 x 2048 Hz): {v['conversions']} conversions, "
              f"AFE overruns {v['afe_overruns']}, tx dropped {v['tx_dropped']}; {v['firmware_cpu_s_per_s']} CPU s "
              f"per s of signal ({v['firmware_us_per_channel_sample']} us/ch-sample)")
        for r in rows:
            print(f"{r['board']}: {r['channels']} ch x {r['fs']} Hz over {r['link']}, {r['seconds']} s: "
                  f"{r['samples_per_channel']} samples/ch (AFE span {r['afe_span']}, {r['rate_hz']} Hz), "
                  f"lost {r['lost']}, CRC errors {r['crc_errors']}, AFE overruns {r['afe_overruns']}, "
                  f"tx dropped {r['tx_dropped']}; {r['payload_kB_s']} kB/s; CPU s per s of signal: firmware "
                  f"{r['firmware_cpu_s_per_s']} ({r['firmware_us_per_channel_sample']} us/ch-sample), host "
                  f"{r['host_cpu_s_per_s']} ({r['host_us_per_channel_sample']} us/ch-sample), "
                  f"rig feeder {r['feeder_cpu_s_per_s']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
