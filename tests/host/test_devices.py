"""garment.devices.open_device: the one way the host opens a garment (CLI, TUI, HIL)."""
from __future__ import annotations

import pytest

from garment import devices
from garment.devices import open_device
from garment.sim import SimGarment
from garment.transports import SerialTransport, TransportError


async def test_sim_is_started_for_the_block_and_stopped_after() -> None:
    async with open_device("sim") as conn:
        assert conn.sim is not None and conn.sim.alive()
        assert conn.url == conn.sim.url and isinstance(conn.client.transport, SerialTransport)
        assert (await conn.client.info())["board"] == "sim"
        sim = conn.sim
        assert sim in devices._STARTED  # the atexit last resort knows it
    assert not sim.alive() and sim not in devices._STARTED


async def test_a_running_sim_is_used_and_left_running() -> None:
    sim = SimGarment()
    sim.start()
    try:
        async with open_device("sim", sim=sim) as conn:
            assert conn.sim is sim and conn.url == sim.url
            await conn.client.ping()
        assert sim.alive()
        async with open_device(sim.url) as conn:  # the same garment by its URL: no sim of ours
            assert conn.sim is None and conn.spec == conn.url == sim.url
    finally:
        sim.stop()


async def test_a_garment_that_is_not_there_is_one_error_and_nothing_left_running() -> None:
    before = set(devices._STARTED)
    with pytest.raises(TransportError):
        async with open_device("socket://127.0.0.1:1", timeout=1.0):
            pass
    with pytest.raises(TransportError, match="unknown device"):
        async with open_device("usb-stick"):
            pass
    assert devices._STARTED == before
