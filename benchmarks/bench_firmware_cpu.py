"""Firmware CPU cost per second of 8 ch x 2 kHz EMG on the MicroPython unix port.

Two figures:
  * hot path alone: the device loop (AFE model -> ring -> filters -> telemetry -> queue)
    driven by a virtual clock, no I/O: CPU seconds per second of EMG;
  * whole simulated garment: the firmware process's CPU time (from /proc) while it
    streams 8 x 2 kHz to a host over its TCP link, including its own AFE model and rig.
The MCU is 20-50x slower than a desktop core: multiply accordingly.

Usage: python benchmarks/bench_firmware_cpu.py [--seconds 20]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from garment.client import GarmentClient, StreamConfig
from garment.paths import firmware_lib, micropython_exe
from garment.sim import SimGarment
from garment.transports import SerialTransport

HOTPATH = r"""
import sys, time
sys.path.insert(0, "tests/firmware/mp")
exec(open("tests/firmware/mp/test_device_hotpath.py").read())
b, d, nv = _device()
N = int(sys.argv[1])
t0 = time.ticks_us()
for _ in range(N * 20):  # N seconds in 50 ms windows
    _window(b, d, nv)
dt = time.ticks_diff(time.ticks_us(), t0) / 1e6
print("%.6f %d" % (dt, b.afe.count))
"""


def hot_path(seconds: int) -> tuple[float, int]:
    root = Path(__file__).resolve().parents[1]
    script = root / ".bench_hotpath.py"
    script.write_text(HOTPATH)
    try:
        out = subprocess.run(
            [str(micropython_exe()), str(script), str(seconds)], capture_output=True, text=True, cwd=root,
            env={**os.environ, "MICROPYPATH": str(firmware_lib())}, check=True,
        ).stdout.split()
    finally:
        script.unlink()
    return float(out[0]), int(out[1])


def proc_cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


async def whole(seconds: float) -> tuple[float, float, int, int]:
    with SimGarment() as sim:
        assert sim.proc is not None
        g = GarmentClient(SerialTransport(sim.url))
        await g.connect()
        await g.set_config(StreamConfig(fs=2000, channels=8))
        await g.start_stream()
        await g.next_block(timeout=3)
        c0, t0, n = proc_cpu(sim.proc.pid), time.monotonic(), 0
        while time.monotonic() - t0 < seconds:
            n += len((await g.next_block(timeout=3)).data)
        cpu, wall = proc_cpu(sim.proc.pid) - c0, time.monotonic() - t0
        await g.stop_stream()
        await g.close()
        return cpu, wall, n, g.stats.dropped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    a = ap.parse_args()
    dt, frames = hot_path(int(a.seconds))
    emg_s = frames / 2000
    print(f"hot path (virtual clock): {dt:.3f} CPU s for {emg_s:.1f} s of 8 ch x 2 kHz "
          f"-> {dt / emg_s:.4f} CPU s per s of EMG ({dt / frames * 1e6:.2f} us per 8-ch sample)")
    cpu, wall, n, dropped = asyncio.run(whole(a.seconds))
    print(f"whole simulated garment: {cpu:.2f} CPU s over {wall:.1f} s streaming {n} samples/ch "
          f"-> {cpu / wall:.4f} CPU s per s of EMG (dropped {dropped})")


if __name__ == "__main__":
    sys.exit(main())
