"""Connect screen: the simulated garment first when no hardware is plugged in, Enter
connects (starting it in the background) and opens Live; the last device is remembered."""
from __future__ import annotations

from textual.widgets import Input, OptionList
from tui_fakes import FakeDiscovery
from tui_helpers import connected, logged, press, wait_for

from garment.tui import config
from garment.tui.app import GarmentApp
from garment.tui.discovery import DeviceEntry


async def test_enter_starts_the_simulated_garment_and_opens_live() -> None:
    app = GarmentApp(discovery=FakeDiscovery(last=None))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert screen.MODE == "connect"
        assert screen.highlighted_entry is not None and screen.highlighted_entry.spec == "sim"
        await press(pilot, "enter")
        session = await connected(pilot)
        assert session.sim is not None and session.sim.alive()  # started by the app, in a worker
        await wait_for(pilot, lambda: app.screen.MODE == "live" and app.screen.frames > 3, what="the Live screen")
        assert config.last_device() == "sim"
        sim = session.sim
    assert not sim.alive(), "the simulated garment must stop with the app"
    assert app.internal_errors == []


async def test_hardware_and_the_last_device_come_first() -> None:
    port = DeviceEntry("serial:/dev/ttyACM0", "/dev/ttyACM0", "garment, USB 2e8a:000a", "serial", hardware=True)
    app = GarmentApp(discovery=FakeDiscovery(ports=[port], last="serial:/dev/ttyACM0"))
    async with app.run_test(size=(120, 40)):
        screen = app.screen
        assert screen.highlighted_entry == port
        specs = [e.spec for e in screen.entries.values()]
        assert specs.index("serial:/dev/ttyACM0") < specs.index("sim")
        prompts = [str(o.prompt) for o in screen.query_one("#devices", OptionList).options]
        assert any("BLE unavailable" in p for p in prompts)


async def test_ble_scan_lists_garments() -> None:
    app = GarmentApp(discovery=FakeDiscovery(ble=True, last=None))
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "b")
        await wait_for(pilot, lambda: any(e.spec == "ble:C0:FF:EE:00:00:01" for e in app.screen.entries.values()),
                       what="the BLE scan result")


async def test_a_device_that_is_not_there_is_a_notification() -> None:
    app = GarmentApp(discovery=FakeDiscovery(last=None))
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.query_one("#manual", Input).focus()
        await press(pilot, *"serial:/dev/nonexistent-garment", "enter")
        await wait_for(pilot, lambda: logged(app, "could not connect to serial:/dev/nonexistent-garment", "error"),
                       what="the error notification")
        assert app.session is None and app.connecting is None
        assert app.screen.MODE == "connect"
    assert app.internal_errors == []
