"""A model upload and the on-device decode over ``--device qemu``, with the qemu board's
UART read by its receive interrupt into a ring (``uartrx``, what the board uses) beside
the port's polled one-byte register (the link before it; ``qemu._uartrx = None``).

For each link, two clocks: the live garment's (``-icount shift=2``: 250 M instructions/s,
8 ch x 250 Hz, the boot default the board's budget allows, the golden LDA set for 250 Hz) and a quarter of it (``shift=4``, 4 ch x
250 Hz, the golden ridge set for 250 Hz), where the host outruns the core whatever its
load, as a quiet host does at the real clock. Reported: the upload's host seconds, the
largest time a privileged request spent between its stamp and the garment's reply by
the garment's clock (``age_max_ms``: an upper bound of the age the garment checks
against ``wire.REQUEST_MAX_AGE_MS``), how many were refused E_STALE, and on-device
decoder outputs per host second (20 per second of the garment's clock by design).

Usage: ``python benchmarks/bench_qemu_upload.py [--json] [--windows N]``.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import garment.qemu.garment as qemu_garment
from garment.auth import GarmentAuth, ensure_authenticated
from garment.client import DeviceError, GarmentClient
from garment.models.modelfile import retimed
from garment.protocol import wire
from garment.qemu.garment import ICOUNT_SHIFT, QemuGarment
from garment.transports import SerialTransport

GOLDEN = Path(__file__).resolve().parents[1] / "models" / "golden"
LINKS = ("ring", "polled")
POLLED = "from garmentfw.boards import qemu\nqemu._uartrx = None\n"
#: (clock's -icount shift, fs, channels, golden model)
CLOCKS = {"real_clock": (ICOUNT_SHIFT, 250, 8, "int8_lda.gmdl"),
          "quarter_clock": (ICOUNT_SHIFT + 2, 250, 4, "int8_ridge.gmdl")}


def _watch(auth: GarmentAuth, ages: list[int]) -> None:
    """Record, for every sealed reply, the garment's clock minus the request's stamp."""
    opened = auth.open_reply

    def open_reply(trailer: bytes, rtype: int, body: bytes) -> bytes:
        out = opened(trailer, rtype, body)
        g = struct.unpack_from("<I", body, len(body) - wire.REPLY_TAG_LEN)[0]
        ages.append(g - struct.unpack_from("<I", trailer, 4)[0])
        return out

    auth.open_reply = open_reply  # type: ignore[method-assign]


async def _session(url: str, fs: int, n_ch: int, model: bytes, windows: int) -> dict[str, Any]:
    res: dict[str, Any] = {"model_bytes": len(model)}
    ages: list[int] = []
    async with GarmentClient(SerialTransport(url), timeout=30) as g:
        auth = await ensure_authenticated(g)
        _watch(auth, ages)
        cfg = await g.get_config()
        try:
            if (cfg.fs, cfg.channels) != (fs, n_ch):
                await g.set_config(dataclasses.replace(cfg, fs=fs, channels=n_ch))
            t0 = time.monotonic()
            await g.upload_model(model)
            res["upload_s"] = round(time.monotonic() - t0, 3)
            await g.start_stream()
            await asyncio.wait_for(g.decoder_outputs.get(), 30)
            t0 = time.monotonic()
            for _ in range(windows):
                await asyncio.wait_for(g.decoder_outputs.get(), 30)
            res["decoder_outputs_per_host_s"] = round(windows / (time.monotonic() - t0), 1)
            await g.stop_stream()
        except DeviceError as e:
            res["refused"] = str(e)
    res["age_max_ms"] = max(ages) if ages else None
    res["ages_ms"] = ages
    res["stale_refusals"] = sum(1 for a in ages if a > wire.REQUEST_MAX_AGE_MS or a < -wire.REQUEST_SKEW_MS)
    return res


def _run(link: str, clock: str, windows: int) -> dict[str, Any]:
    shift, fs, n_ch, name = CLOCKS[clock]
    main = qemu_garment._MAIN
    if link == "polled":
        qemu_garment._MAIN = POLLED + main
    garment = QemuGarment(shift=shift)
    try:
        garment.start()
        model = retimed((GOLDEN / name).read_bytes(), fs)
        res = asyncio.run(_session(garment.url, fs, n_ch, model, windows))
    finally:
        qemu_garment._MAIN = main
        garment.stop()
    return {"shift": shift, "config": f"{n_ch} ch x {fs} Hz", **res}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object")
    ap.add_argument("--windows", type=int, default=20, help="decoder outputs to time (default 20)")
    args = ap.parse_args()
    os.environ.setdefault("GARMENT_SECRETS_DIR", tempfile.mkdtemp(prefix="garment-bench-"))
    res: dict[str, Any] = {"load_average": round(os.getloadavg()[0], 1)}
    for link in LINKS:
        for clock in CLOCKS:
            res[f"{link}_{clock}"] = _run(link, clock, args.windows)
    if args.json:
        print(json.dumps(res))
    else:
        print(f"load average {res['load_average']}")
        for k, v in res.items():
            if isinstance(v, dict):
                print(f"{k:22s} " + "  ".join(f"{a}={b}" for a, b in v.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
