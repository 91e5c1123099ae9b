"""HIL suite: checks a whole garment. ``--device sim`` (default) starts the simulated
garment (real firmware on the MicroPython unix port); ``--device serial:/dev/ttyACM0``
runs the same tests on hardware. Tests that need the rig (signal injection, fault
injection) skip on hardware without a rig, saying so. Devices are opened the way the
CLI and the TUI open them (:func:`garment.devices.open_device`)."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, AsyncIterator, Iterator

import pytest

from garment.auth import ensure_authenticated
from garment.client import GarmentClient, StreamConfig
from garment.devices import open_device
from garment.sim import SimGarment

if TYPE_CHECKING:
    from rig import StimBench


def pytest_configure(config: pytest.Config) -> None:
    """A device that is not there is one line (``ERROR: ...``), not an error per test."""
    from garment.devices import absent_device

    why = absent_device(str(config.getoption("--device")))
    if why:
        raise pytest.UsageError(f"{why}; nothing was tested (--device sim runs the simulated garment)")


@pytest.fixture(scope="session")
def device_spec(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--device"))


@pytest.fixture(scope="session")
def sim(device_spec: str) -> Iterator[SimGarment | None]:
    """The simulated garment for the whole session (None on hardware). With ``ble:sim`` it
    is provisioned over its "USB" socket first, then restarted behind the virtual radio."""
    if device_spec not in ("sim", "ble:sim"):
        yield None
        return
    s = SimGarment()
    s.start()
    if device_spec == "ble:sim":
        asyncio.run(_provision_over_usb(s.url))
        s.wired = False
        s.restart()
    yield s
    s.stop()


async def _provision_over_usb(url: str) -> None:
    from garment.auth import ensure_authenticated

    async with open_device(url, timeout=3.0) as conn:
        await ensure_authenticated(conn.client)


#: (test, dry spells) for the tests during which the rig's AFE input ran dry
_DRY_SPELLS: list[tuple[str, int]] = []


@pytest.fixture(autouse=True)
def _rig_kept_up(request: pytest.FixtureRequest, sim: SimGarment | None) -> Iterator[None]:
    """Says which tests ran while the rig's feeder fell behind (a stalled host lets the
    AFE convert samples with no electrode signal): a failure there may be the rig's."""
    def dry() -> int:
        f = sim.feeder if sim is not None else None
        return f.dry_reports if f is not None else 0

    d0 = dry()
    yield
    n = dry() - d0
    if n > 0:
        _DRY_SPELLS.append((request.node.nodeid, n))
        request.node.add_report_section("teardown", "rig", f"the AFE's input ran dry {n} times (the host fell behind)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _DRY_SPELLS:
        terminalreporter.write_sep("-", "rig: the AFE's input ran dry during")
        for nodeid, n in _DRY_SPELLS:
            terminalreporter.write_line(f"{nodeid}: {n}")


@pytest.fixture
def url(device_spec: str, sim: SimGarment | None) -> str:
    if sim is not None:
        assert sim.alive(), "simulated garment died: " + " | ".join(sim.output)
        return sim.url
    return device_spec


@pytest.fixture
async def garment(url: str, device_spec: str, sim: SimGarment | None) -> AsyncIterator[GarmentClient]:
    """A connected client (over the virtual radio with ``ble:sim``); the garment is returned
    to its default configuration after."""
    # ``url`` asserts that the session's simulated garment is alive: open_device would
    # start a stopped one anew, and a test that killed it must not get a fresh garment.
    async with open_device(device_spec, timeout=3.0, sim=sim) as conn:
        g = conn.client
        await ensure_authenticated(g)  # the acquisition settings (T_SET_CONFIG) are privileged
        try:
            yield g
        finally:
            await g.stop_stream()
            await ensure_authenticated(g)  # the configuration is privileged
            await g.set_config(StreamConfig())


@pytest.fixture
def rig(sim: SimGarment | None) -> SimGarment:
    if sim is None:
        pytest.skip("needs the HIL rig (signal/fault injection); this device has none")
    return sim


# ---- stimulation safety suite (hil_tests/test_safety_*.py) ---------------------------------
@pytest.fixture
async def bench(garment: GarmentClient, sim: SimGarment | None) -> AsyncIterator["StimBench"]:
    """An authenticated garment, disarmed, without faults or calibrations, its closed loop
    silent, with its pulse log and (on the sim) the rig; put back as it was afterwards."""
    from rig import StimBench

    b = await StimBench.open(garment, sim)
    try:
        yield b
    finally:
        await b.restore()
