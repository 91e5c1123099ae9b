"""The emulated board's UART, the link of ``--device qemu``: bytes per second each way.

Boots the qemu port (``MPS2_AN500``, the firmware image) and moves bytes over its UART
(a pty) from guest code in the raw REPL: guest -> host (``sys.stdout.buffer.write`` of
1 kB blocks: the path the firmware's telemetry takes) and host -> guest
(``sys.stdin.buffer.readinto``: the path of commands and model uploads), under
``-icount shift=2`` (the live garment's clock) and without ``-icount`` (the guest's
clock is the host's). Reported per direction: kB/s of host time, and kB/s of guest time
(what the firmware sees). Beside them, what 8 ch x 2 kHz and 8 ch x 1 kHz of 24-bit
telemetry need.

Usage: ``python benchmarks/bench_qemu_link.py [--json] [--kb N]``.
"""
from __future__ import annotations

import argparse
import json
import time

from garment.qemu.machine import QemuMachine
from garment.qemu.garment import ICOUNT_SHIFT

TX = """
import sys, time
b = bytes(range(256)) * 4
w = sys.stdout.buffer.write
t0 = time.ticks_us()
for i in range({n}):
    w(b)
print('GUEST_US', time.ticks_diff(time.ticks_us(), t0))
"""
RX = """
import sys, time
buf = bytearray(256)
r = sys.stdin.buffer.readinto
t0 = None
got = 0
while got < {n}:
    k = r(buf, min(256, {n} - got))
    if t0 is None:
        t0 = time.ticks_us()
    got += k
print('GUEST_US', time.ticks_diff(time.ticks_us(), t0))
"""
#: 24-bit telemetry: 3 bytes per channel-sample plus framing (~4 %).
NEED_KBPS = {"8ch_2khz": 8 * 2000 * 3 * 1.04 / 1000, "8ch_1khz": 8 * 1000 * 3 * 1.04 / 1000}


def _run(direction: str, icount: bool, n_bytes: int) -> dict[str, float]:
    with QemuMachine(icount=icount, shift=ICOUNT_SHIFT) as m:
        assert m.transport is not None
        ser = m.transport.serial
        if direction == "guest_to_host":
            n = n_bytes // 1024
            n_bytes = n * 1024
            m.transport.exec_raw_no_follow(TX.format(n=n))
        else:
            m.transport.exec_raw_no_follow(RX.format(n=n_bytes))
        t0 = time.monotonic()
        if direction == "host_to_guest":
            ser.write((bytes(range(32, 127)) * (n_bytes // 95 + 1))[:n_bytes])
        tail = b""
        while not (b"GUEST_US" in tail and b"\x04" in tail.split(b"GUEST_US")[-1]):
            tail = (tail + ser.read(ser.in_waiting or 1))[-400:]
        wall = time.monotonic() - t0
        guest_us = int(tail.split(b"GUEST_US")[-1].split(b"\r")[0])
    return {"kB_per_s_host": round(n_bytes / wall / 1000, 1),
            "kB_per_s_guest": round(n_bytes / max(guest_us, 1) * 1000, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON object")
    ap.add_argument("--kb", type=int, default=64, help="kB moved per direction and mode")
    args = ap.parse_args()
    res: dict[str, object] = {"board": "MPS2_AN500", "icount_shift": ICOUNT_SHIFT, "need_kB_per_s": NEED_KBPS}
    for icount in (True, False):
        mode = f"icount_shift{ICOUNT_SHIFT}" if icount else "no_icount"
        for d in ("guest_to_host", "host_to_guest"):
            # host -> guest is slow: a quarter of the bytes
            res[f"{mode}_{d}"] = _run(d, icount, args.kb * 1024 // (4 if d == "host_to_guest" else 1))
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
