"""Firmware CPU cost per second of 8 ch x 2 kHz EMG on the MicroPython unix port.

Three figures:
  * hot path alone: the device loop (AFE model -> ring -> filters -> telemetry -> queue)
    driven by a virtual clock, no I/O: CPU seconds per second of EMG;
  * the whole pipeline as app.make_device wires it (artefact stage, EMG guard, filters,
    features + int8 LDA decoder, control stage, stimulation service; disarmed), on the
    shared fake board and virtual clock: CPU seconds per second of EMG and bytes
    allocated per window (gc.mem_alloc);
  * whole simulated garment: the firmware process's CPU time (from /proc) while it
    streams 8 x 2 kHz to a host over its TCP link, including its own AFE model and rig.
The MCU is 20-50x slower than a desktop core: multiply accordingly.

Usage: python benchmarks/bench_firmware_cpu.py [--seconds 20] [--firmware-lib OLD/firmware/lib]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from garment.auth import ensure_authenticated
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


PIPELINE = r"""
import gc, os, sys, time
sys.path.insert(0, "tests/firmware/mp")
import vclock
from fakeboard import Board, Link
from garmentfw.app import make_device
from garmentfw.store import Store

root = sys.argv[2]
store = Store(root)
for n in os.listdir(root):
    os.remove(root + "/" + n)
with open("models/golden/int8_lda.gmdl", "rb") as f:
    store.save("model", f.read())
b = Board(store=store, n_stim=4, link=Link(capture=False))
d = make_device(b)
d.streaming = True
d.streamer.start(d.n_ch, d.kind)
from array import array
nv = array("i", [((i * 7919) % 2001 - 1000) * 50 for i in range(8 * 200)])


def window():
    b.chip.feed(nv, 100)  # 50 ms at 2 kHz: one decoder window
    vclock.advance_us(50000)
    d.step()


for _ in range(10):
    window()
gc.collect()
a0 = gc.mem_alloc()
for _ in range(20):
    window()
per_window = (gc.mem_alloc() - a0) // 20
N = int(sys.argv[1])
c0 = b.afe.count
t0 = time.ticks_us()
for _ in range(N * 20):
    window()
dt = time.ticks_diff(time.ticks_us(), t0) / 1e6
for n in os.listdir(root):
    os.remove(root + "/" + n)
print("%.6f %d %d" % (dt, b.afe.count - c0, per_window))
"""


def _run_script(source: str, seconds: int, lib: Path) -> tuple[list[str], float]:
    """Run ``source`` on the unix port; its output and the CPU seconds (user + system,
    from getrusage: not inflated by other processes on a shared machine) it spent."""
    root = Path(__file__).resolve().parents[1]
    script = root / f".bench_fw_{os.getpid()}.py"
    script.write_text(source)
    store = tempfile.mkdtemp(prefix="garment-bench-")
    try:
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [str(micropython_exe()), "-X", "heapsize=8m", str(script), str(seconds), store],
            capture_output=True, text=True, cwd=root, env={**os.environ, "MICROPYPATH": str(lib)}, check=True,
        ).stdout.split()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        script.unlink()
        shutil.rmtree(store, ignore_errors=True)
    return out, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def _cpu_per_emg_s(source: str, seconds: int, lib: Path) -> tuple[float, int, list[str]]:
    # CPU of a run with the timed loop minus one without it (start-up, imports, warm-up)
    out, cpu = _run_script(source, seconds, lib)
    _, cpu0 = _run_script(source, 0, lib)
    frames = int(out[1])
    return max(cpu - cpu0, 0.0), frames, out


def hot_path(seconds: int, lib: Path) -> tuple[float, int]:
    cpu, frames, _ = _cpu_per_emg_s(HOTPATH, seconds, lib)
    return cpu, frames


def pipeline(seconds: int, lib: Path) -> tuple[float, int, int]:
    cpu, frames, out = _cpu_per_emg_s(PIPELINE, seconds, lib)
    return cpu, frames, int(out[2])


def proc_cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


async def whole(seconds: float) -> tuple[float, float, int, int]:
    with SimGarment() as sim:
        assert sim.proc is not None
        g = GarmentClient(SerialTransport(sim.url))
        await g.connect()
        await ensure_authenticated(g)  # the acquisition settings are privileged
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
    ap.add_argument("--firmware-lib", type=Path, default=None,
                    help="another firmware lib/ to measure (e.g. an older checkout's), same test harness")
    a = ap.parse_args()
    lib = a.firmware_lib or firmware_lib()
    dt, frames = hot_path(int(a.seconds), lib)
    emg_s = frames / 2000
    print(f"hot path (virtual clock): {dt:.3f} CPU s for {emg_s:.1f} s of 8 ch x 2 kHz "
          f"-> {dt / emg_s:.4f} CPU s per s of EMG ({dt / frames * 1e6:.2f} us per 8-ch sample)")
    dt, frames, per_window = pipeline(int(a.seconds), lib)
    emg_s = frames / 2000
    print(f"whole pipeline (stages + decoder + stimulation service, disarmed): {dt:.3f} CPU s for "
          f"{emg_s:.1f} s -> {dt / emg_s:.4f} CPU s per s of EMG ({dt / frames * 1e6:.2f} us per 8-ch sample); "
          f"{per_window} B allocated per window")
    if a.firmware_lib is not None:
        return 0
    cpu, wall, n, dropped = asyncio.run(whole(a.seconds))
    print(f"whole simulated garment: {cpu:.2f} CPU s over {wall:.1f} s streaming {n} samples/ch "
          f"-> {cpu / wall:.4f} CPU s per s of EMG (dropped {dropped})")


if __name__ == "__main__":
    sys.exit(main())
