"""The one way the host opens a garment: :func:`open_device` turns a ``--device`` string
into a connected :class:`~garment.client.GarmentClient` for the duration of a block.

Accepted: ``sim`` (starts a simulated garment for the duration), ``sim-hd`` (the simulated
HD garment: 64 monopolar channels at 2048 Hz from the HD phantom's grid, whose truth is known),
``ble:sim`` (one behind the virtual BLE radio: the host's real BLE code over ATT/GATT),
``ble:sim-hd`` (the simulated HD garment behind the virtual radio),
``qemu`` / ``qemu:BOARD`` (the firmware on an emulated MCU core, its UART on a pty:
:mod:`garment.qemu.garment`), ``socket://HOST:PORT``,
``serial:/dev/ttyACM0`` or a bare path, ``ble:ADDRESS`` / ``ble:NAME``.

The CLI (:func:`connect`), the TUI session (``GarmentSession.open``) and the HIL suite's
fixtures all open devices here, so every way in does the same: start (and stop) the
simulated garment, bring up its radio, open the transport, shake hands.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator

from garment.client import GarmentClient
from garment.sim import SimGarment
from garment.transports import SerialTransport, Transport, TransportError

__all__ = ["SIMULATED", "Connection", "absent_device", "connect", "make_transport", "open_device", "stop_started_sims"]

#: the device specs that start a simulated garment
SIMULATED = ("sim", "sim-hd", "ble:sim", "ble:sim-hd")
_BLE_SIMS = ("ble:sim", "ble:sim-hd")
_STARTED: set[Any] = set()  # simulated garments (SimGarment, QemuGarment) started here and not yet stopped


@atexit.register
def stop_started_sims() -> None:
    """Stop every simulated garment :func:`open_device` started (a last resort at exit:
    no micropython process may outlive the host, even after a crash)."""
    for sim in list(_STARTED):
        with contextlib.suppress(Exception):
            _stop(sim)


def _stop(sim: Any) -> None:
    try:
        sim.stop()
    finally:
        _STARTED.discard(sim)


def make_transport(spec: str) -> Transport:
    """A transport for a device spec (not opened); ``sim``, ``sim-hd`` and ``ble:sim`` need :func:`open_device`."""
    if spec in SIMULATED:
        raise TransportError(f"{spec} is opened by garment.devices.open_device(): it starts the simulated garment")
    if spec.startswith("serial:"):
        return SerialTransport(spec[len("serial:") :])
    if "://" in spec or spec.startswith("/"):
        return SerialTransport(spec)
    if spec.startswith("ble:"):
        address = spec[len("ble:") :]
        if address in ("sim", "sim-hd"):
            raise TransportError(f"{spec} is opened by garment.devices.open_device(): it starts the simulated garment and its radio")
        if not address:
            raise TransportError("ble: needs the garment's address or name, e.g. ble:Garment-1A2B or ble:C4:DE:E2:12:34:56")
        from garment.transports.ble import BleTransport

        return BleTransport(address)
    if _is_qemu(spec):
        raise TransportError(f"{spec} is opened by garment.devices.open_device(): it boots the emulated core")
    raise TransportError(f"unknown device '{spec}': use sim, sim-hd, qemu, serial:PATH, socket://HOST:PORT or ble:ADDRESS")


def _is_qemu(spec: str) -> bool:
    return spec == "qemu" or spec.startswith("qemu:")


def absent_device(spec: str, timeout: float = 1.0) -> str | None:
    """Why ``spec`` names no garment that could answer (None if it may be there), checked
    without talking to it: a serial device must exist (opening one can reset a board), a
    socket must accept a connection. BLE addresses are not checked (that needs a scan)."""
    import os
    import socket
    from urllib.parse import urlsplit

    if spec in SIMULATED or spec.startswith("ble:"):
        return None
    if _is_qemu(spec):
        from garment.qemu.build import DEFAULT_BOARD, QEMU_BOARDS, QemuBuildError, check_toolchain

        board = spec[len("qemu:"):] if spec.startswith("qemu:") else DEFAULT_BOARD
        if board not in QEMU_BOARDS:
            return f"unknown qemu board '{board}' (known: {', '.join(QEMU_BOARDS)})"
        try:
            check_toolchain(QEMU_BOARDS[board])
        except QemuBuildError as e:
            return str(e)
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


@dataclass
class Connection:
    """An open garment: the client, what was asked for and what was opened."""

    client: GarmentClient
    spec: str  # as given (``sim``, ``ble:sim``, ``socket://...``)
    url: str  # what the transport opened (e.g. ``socket://127.0.0.1:7300``, ``ble:ADDR (virtual radio)``)
    sim: SimGarment | None  # the simulated garment behind it (None on hardware)


@contextlib.asynccontextmanager
async def open_device(spec: str, timeout: float = 2.0, *, sim: SimGarment | None = None) -> AsyncIterator[Connection]:
    """Connect to a garment for the block; closed (and a simulated garment started here
    stopped) afterwards.

    ``sim`` / ``sim-hd`` / ``ble:sim`` / ``ble:sim-hd`` use ``sim`` when given (a
    :class:`SimGarment` that is running is left running; one that is not is started here
    and stopped after), else start a new one (``sim-hd``: the HD garment,
    ``SimGarment(hd=True)``; ``ble:sim``: without a wired link, behind the virtual radio;
    ``ble:sim-hd``: the HD garment so). ``qemu[:BOARD]`` boots the firmware on the
    emulated core (built first if needed) and opens its UART. Starting and stopping run
    in a thread, so an event loop with an interface keeps running."""
    started: Any = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            qemu_url = None
            if _is_qemu(spec):
                from garment.qemu.build import DEFAULT_BOARD
                from garment.qemu.garment import QemuGarment

                started = QemuGarment(spec[len("qemu:"):] if spec.startswith("qemu:") else DEFAULT_BOARD)
                _STARTED.add(started)
                await asyncio.to_thread(started.start)
                qemu_url = started.url
                # Its UART takes host -> guest bytes one per turn of qemu's main loop, and a
                # loaded host emulates the core slower than its own clock: replies take longer.
                timeout = max(timeout, 10.0)
            if spec in SIMULATED:
                if sim is None:
                    sim = SimGarment(wired=spec not in _BLE_SIMS, hd=spec in ("sim-hd", "ble:sim-hd"))
                if not sim.alive():
                    started = sim
                    _STARTED.add(sim)
                    if spec in _BLE_SIMS:
                        await _start_provisioned(sim)
                    else:
                        await asyncio.to_thread(sim.start)
            if spec in _BLE_SIMS:
                from garment.sim.ble_radio import sim_ble
                from garment.transports.ble import BleTransport

                assert sim is not None
                radio, peripheral = await stack.enter_async_context(sim_ble(sim.port))
                transport: Transport = BleTransport(peripheral.address, radio.client_backend, radio.scanner_backend)
                url = f"ble:{peripheral.address} (virtual radio)"
            else:
                url = qemu_url or (sim.url if spec in ("sim", "sim-hd") and sim is not None else spec)
                transport = make_transport(url)
            client = GarmentClient(transport, timeout=timeout)
            await client.connect()
            try:
                yield Connection(client, spec, url, sim)
            finally:
                await client.close()
    finally:
        if started is not None:
            await asyncio.to_thread(_stop, started)


async def _start_provisioned(sim: SimGarment) -> None:
    """Start a simulated BLE garment as one that was plugged into this computer once:
    provisioned with this user's secret over its wired link (BLE never provisions), then
    restarted without the wired link, behind the virtual radio. So the E-STOP reset and
    every other privileged request work over BLE, as they do on a provisioned garment."""
    from garment.auth import ensure_authenticated

    sim.wired = True
    await asyncio.to_thread(sim.start)
    g = GarmentClient(make_transport(sim.url), timeout=3.0)
    await g.connect()
    try:
        await ensure_authenticated(g)
    finally:
        await g.close()
    sim.wired = False
    await asyncio.to_thread(sim.restart)


@contextlib.asynccontextmanager
async def connect(spec: str, timeout: float = 2.0) -> AsyncIterator[GarmentClient]:
    """:func:`open_device`, for callers that only need the client (the CLI commands)."""
    async with open_device(spec, timeout) as conn:
        yield conn.client
