"""BLE streaming: 8 channels x 1 kHz x 16-bit from the simulated garment through the
virtual radio (bumble ATT/GATT, MTU 247) into the host's own BleTransport + client.

Reports samples/s, lost samples and packets, on-air payload throughput (kB/s of
notification payload), notifications/s, the device's AFE overruns and dropped
telemetry packets, and the host process's CPU time. ``--conn-interval-ms`` with
``--per-event`` caps the link like a real connection (notifications per connection
event); without them the radio moves PDUs as fast as the CPU allows.

Usage: python benchmarks/bench_ble.py [--seconds 60] [--kind 16|24] [--fs 1000]
       [--conn-interval-ms 15 --per-event 6] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from typing import Any

from garment.auth import ensure_authenticated
from garment.client import DeviceError, GarmentClient, StreamConfig
from garment.devices import make_transport
from garment.protocol import wire
from garment.sim import SimGarment
from garment.sim.ble_radio import sim_ble
from garment.transports.ble import BleTransport

FILTERED16 = wire.STREAM_FILTERED16


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run(a: argparse.Namespace) -> dict[str, Any]:
    sim = SimGarment()
    sim.start()
    # provisioned over the wire first (BLE refuses provisioning; the acquisition settings
    # are privileged), then restarted with the firmware's link on BLE, as on the garment
    g0 = GarmentClient(make_transport(sim.url), timeout=5.0)
    await g0.connect()
    await ensure_authenticated(g0)
    await g0.close()
    sim.wired = False
    sim.restart()
    try:
        budget = {}
        if a.conn_interval_ms and a.per_event:
            budget = {"conn_interval_ms": a.conn_interval_ms, "notifications_per_event": a.per_event}
        async with sim_ble(sim.port, **budget) as (radio, garment):
            t = BleTransport(garment.address, radio.client_backend, radio.scanner_backend)
            g = GarmentClient(t, timeout=5.0)
            await g.connect()
            await ensure_authenticated(g)
            kind = FILTERED16 if a.kind == 16 else wire.STREAM_FILTERED
            try:
                await g.set_config(StreamConfig(fs=a.fs, channels=8, kind=kind))
            except DeviceError as e:
                raise SystemExit(f"bench_ble: the garment refuses {a.kind}-bit streaming: {e}") from None
            await g.start_stream()
            first = await g.next_block(timeout=5)  # the stream runs: measure from here
            n0, rx0, notif0 = g.stats.samples, t.rx_bytes, t.notifications
            cpu0, t0 = _cpu(), time.monotonic()
            while time.monotonic() - t0 < a.seconds:
                await g.next_block(timeout=5)
            dt = time.monotonic() - t0
            cpu = _cpu() - cpu0
            n, rx, notif = g.stats.samples - n0, t.rx_bytes - rx0, t.notifications - notif0
            # A link slower than the stream leaves a backlog queued ahead of the reply: wait for it.
            await g.request(wire.T_STREAM_STOP, timeout=60)
            status = await g.status()
            st = g.stats
            out = {
                "channels": 8, "fs": a.fs, "bits": a.kind, "seconds": round(dt, 2),
                "samples_per_s": round(n / dt, 1), "samples": n,
                "lost_samples": st.dropped, "gaps": st.gaps, "lost_packets": st.packets_lost,
                "crc_errors": st.crc_errors, "malformed": st.malformed,
                "throughput_kB_s": round(rx / dt / 1000, 2), "notifications_per_s": round(notif / dt, 1),
                "mtu": t.mtu, "max_notification": garment.stats.max_notification,
                "afe_overruns": status.afe_overruns, "tx_dropped": status.tx_dropped,
                "host_cpu_s_per_s": round(cpu / dt, 3), "first_index": first.first_index,
                "credit_waits": garment.stats.credit_waits, "budget_waits": garment.stats.budget_waits,
                "link_budget": budget or None,
            }
            await g.close()
            return out
    finally:
        sim.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fs", type=int, default=1000)
    ap.add_argument("--kind", type=int, choices=(16, 24), default=16)
    ap.add_argument("--conn-interval-ms", type=float, default=None)
    ap.add_argument("--per-event", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = asyncio.run(run(a))
    if a.json:
        print(json.dumps(r))
        return
    lost = r["lost_samples"] + r["lost_packets"] + r["crc_errors"] + r["malformed"] + r["tx_dropped"]
    cap = ""
    if r["link_budget"]:
        b = r["link_budget"]
        cap = (f", link capped at {b['notifications_per_event']} notifications per {b['conn_interval_ms']} ms "
               f"({b['notifications_per_event'] * (r['mtu'] - 3) / b['conn_interval_ms']:.1f} kB/s)")
    print(f"BLE 8 ch x {r['fs']} Hz x {r['bits']}-bit for {r['seconds']} s over the virtual radio (MTU {r['mtu']}{cap}):")
    print(f"  {r['samples_per_s']:.1f} samples/s, lost samples {r['lost_samples']} (gaps {r['gaps']}), lost packets "
          f"{r['lost_packets']}, CRC errors {r['crc_errors']}, device tx dropped {r['tx_dropped']}, "
          f"AFE overruns {r['afe_overruns']}")
    print(f"  {r['throughput_kB_s']:.2f} kB/s notification payload, {r['notifications_per_s']:.1f} notifications/s "
          f"(largest {r['max_notification']} B), host CPU {r['host_cpu_s_per_s']:.3f} s/s")
    print("  zero loss" if lost == 0 else f"  LOSS: {lost}")


if __name__ == "__main__":
    main()
