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
        address = spec[len("ble:") :]
        if address == "sim":
            raise TransportError("ble:sim is opened by garment.devices.connect(): it starts the simulated garment and its radio")
        if not address:
            raise TransportError("ble: needs the garment's address or name, e.g. ble:Garment-1A2B or ble:C4:DE:E2:12:34:56")
        from garment.transports.ble import BleTransport

        return BleTransport(address)
    raise TransportError(f"unknown device '{spec}': use sim, serial:PATH, socket://HOST:PORT or ble:ADDRESS")


def absent_device(spec: str, timeout: float = 1.0) -> str | None:
    """Why ``spec`` names no garment that could answer (None if it may be there), checked
    without talking to it: a serial device must exist (opening one can reset a board), a
    socket must accept a connection. BLE addresses are not checked (that needs a scan)."""
    import os
    import socket
    from urllib.parse import urlsplit

    if spec in ("sim", "ble:sim") or spec.startswith("ble:"):
        return None
    if spec.startswith("serial:") or spec.startswith("/"):
        path = spec[len("serial:"):] if spec.startswith("serial:") else spec
        return None if os.path.exists(path) else f"no garment at {spec}: {path} does not exist (is it plugged in?)"
    if spec.startswith("socket://"):
        u = urlsplit(spec)
        try:
            with socket.create_connection((u.hostname or "127.0.0.1", u.port or 0), timeout=timeout):
                return None
        except (OSError, ValueError) as e:
            return f"no garment at {spec}: {getattr(e, 'strerror', None) or e}"
    try:
        make_transport(spec)
    except TransportError as e:
        return str(e)
    return None


@contextlib.asynccontextmanager
async def connect(spec: str, timeout: float = 2.0) -> AsyncIterator[GarmentClient]:
    """Connect to a garment; ``sim`` and ``ble:sim`` start (and afterwards stop) a simulated one,
    ``ble:sim`` behind a virtual radio (``garment.sim.ble_radio``)."""
    sim: SimGarment | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            if spec == "sim":
                sim = SimGarment()
                spec = sim.start()
            if spec == "ble:sim":
                # The simulated garment behind a virtual radio: the host's BLE code over real ATT/GATT.
                from garment.sim.ble_radio import sim_ble
                from garment.transports.ble import BleTransport

                sim = SimGarment(wired=False)
                sim.start()
                radio, garment = await stack.enter_async_context(sim_ble(sim.port))
                transport: Transport = BleTransport(garment.address, radio.client_backend, radio.scanner_backend)
            else:
                transport = make_transport(spec)
            client = GarmentClient(transport, timeout=timeout)
            await client.connect()
            try:
                yield client
            finally:
                await client.close()
    finally:
        if sim is not None:
            sim.stop()
