"""Turn a ``--device`` string into a connected :class:`~garment.client.GarmentClient`.

Accepted: ``sim`` (starts a simulated garment for the duration), ``socket://HOST:PORT``,
``serial:/dev/ttyACM0`` or a bare path, ``ble:ADDRESS`` / ``ble:sim`` (BLE issue).
"""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from garment.client import GarmentClient
from garment.sim import SimGarment
from garment.transports import SerialTransport, Transport, TransportError


def make_transport(spec: str) -> Transport:
    """A transport for a device spec (not opened)."""
    if spec.startswith("serial:"):
        return SerialTransport(spec[len("serial:") :])
    if "://" in spec or spec.startswith("/"):
        return SerialTransport(spec)
    if spec.startswith("ble:"):
        raise TransportError(f"{spec}: BLE transport is not available in this build")
    raise TransportError(f"unknown device '{spec}': use sim, serial:PATH, socket://HOST:PORT or ble:ADDRESS")


@contextlib.asynccontextmanager
async def connect(spec: str, timeout: float = 2.0) -> AsyncIterator[GarmentClient]:
    """Connect to a garment; ``sim`` starts (and afterwards stops) a simulated one."""
    sim: SimGarment | None = None
    try:
        if spec == "sim":
            sim = SimGarment()
            spec = sim.start()
        client = GarmentClient(make_transport(spec), timeout=timeout)
        await client.connect()
        try:
            yield client
        finally:
            await client.close()
    finally:
        if sim is not None:
            sim.stop()
