"""Connect: pick a garment (simulated, USB serial, BLE, the last one used) and connect.

With no hardware plugged in, the simulated garment comes first and is highlighted, so
Enter alone starts it and opens the Live screen.
"""
from __future__ import annotations

from typing import Iterable

from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from garment.tui.discovery import BLE_SIM_ENTRY, SIM_ENTRY, DeviceEntry, describe_spec
from garment.tui.screens.base import GarmentScreen
from garment.tui.widgets.inputs import SafeInput

BLE_SCAN_ID = "ble-scan"


class ConnectScreen(GarmentScreen):
    MODE = "connect"
    BINDINGS = [
        Binding("r", "refresh", "Refresh ports"),
        Binding("b", "scan_ble", "Scan BLE"),
        Binding("d", "disconnect", "Disconnect"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, DeviceEntry] = {}
        self.ble_found: list[DeviceEntry] = []
        self.ble_state = ""
        self.scanning = False

    def compose_body(self) -> Iterable[Widget]:
        with Vertical(id="connect-body"):
            yield Static("Connect to a garment", classes="screen-title")
            yield Static("Enter connects to the highlighted device.  r refresh ports  b scan BLE  "
                         "d disconnect", classes="hint")
            yield OptionList(id="devices")
            yield Static("Or type a device (serial:/dev/ttyACM0, socket://HOST:PORT, ble:ADDRESS) and press Enter:",
                         classes="hint")
            yield SafeInput(placeholder="device", id="manual")
            yield Static("", id="connect-status")

    def on_mount(self) -> None:
        self.populate()
        self.query_one("#devices", OptionList).focus()

    def populate(self) -> None:
        """(Re)build the list; highlight the sim when there is no hardware, else the last device."""
        disc = self.garment_app.discovery
        try:
            ports = disc.serial_ports()
        except Exception as err:  # noqa: BLE001
            ports = []
            self.garment_app.report_error(err, "listing serial ports")
        ble_ok, ble_text = disc.ble_status()
        last = disc.last_device()
        hardware = any(p.hardware for p in ports)
        self.entries = {}
        options: list[Option | None] = []

        def header(text: str) -> None:
            if options:
                options.append(None)
            options.append(Option(f"[b]{text}[/b]", disabled=True))

        def add(e: DeviceEntry, mark_last: bool = True) -> None:
            oid = f"dev-{len(self.entries)}"
            self.entries[oid] = e
            star = "  [dim](last used)[/dim]" if mark_last and e.spec == last else ""
            detail = f"  [dim]{e.detail}[/dim]" if e.detail else ""
            options.append(Option(f"  {e.title}{detail}{star}", id=oid))

        def sim_section() -> None:
            header("Simulated")
            add(SIM_ENTRY)

        def serial_section() -> None:
            header("USB serial")
            if ports:
                for p in ports:
                    add(p)
            else:
                options.append(Option("  [dim]no serial ports found (r to refresh)[/dim]", disabled=True))

        known = {p.spec for p in ports} | {"sim"}
        if not hardware:
            sim_section()
        if last and last not in known and not last.startswith("ble:"):
            header("Recent")
            add(describe_spec(last))
        serial_section()
        if hardware:
            sim_section()
        header("BLE")
        if ble_ok:
            options.append(Option(f"  {'Scanning...' if self.scanning else ble_text + ' (b)'}", id=BLE_SCAN_ID,
                                  disabled=self.scanning))
            ble = list(self.ble_found)
            if last and last.startswith("ble:") and all(b.spec != last for b in ble) and last != "ble:sim":
                ble.insert(0, describe_spec(last))
            ble.append(BLE_SIM_ENTRY)
            for b in ble:
                add(b)
            if self.ble_state:
                options.append(Option(f"  [dim]{self.ble_state}[/dim]", disabled=True))
        else:
            options.append(Option(f"  [dim]{ble_text}[/dim]", disabled=True))

        ol = self.query_one("#devices", OptionList)
        ol.clear_options()
        ol.add_options(options)
        # highlight: the last device if it is offered (and hardware is present), else the first
        want = None
        for oid, entry in self.entries.items():
            if hardware and entry.spec == last:
                want = oid
                break
        if want is None:
            want = next(iter(self.entries), None)
        if want is not None:
            ol.highlighted = ol.get_option_index(want)

    @property
    def highlighted_entry(self) -> DeviceEntry | None:
        ol = self.query_one("#devices", OptionList)
        if ol.highlighted is None:
            return None
        opt = ol.get_option_at_index(ol.highlighted)
        return self.entries.get(opt.id or "")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == BLE_SCAN_ID:
            self.action_scan_ble()
            return
        entry = self.entries.get(event.option.id or "")
        if entry is not None:
            self.connect(entry.spec)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        spec = event.value.strip()
        if not spec:
            self.garment_app.report("type a device first (e.g. serial:/dev/ttyACM0)", "warning")
            return
        self.connect(spec)

    def connect(self, spec: str) -> None:
        self.query_one("#connect-status", Static).update(
            f"Connecting to {spec}..." + ("  (starting the simulated garment)" if spec == "sim" else ""))
        self.garment_app.connect_to(spec)

    def on_screen_resume(self) -> None:
        self.query_one("#connect-status", Static).update("")

    def action_refresh(self) -> None:
        self.populate()

    def action_scan_ble(self) -> None:
        ok, text = self.garment_app.discovery.ble_status()
        if not ok:
            self.garment_app.report(text, "warning")
            return
        if self.scanning:
            return
        self.scanning = True
        self.ble_state = ""
        self.populate()
        self.garment_app.run_guarded(self._scan(), "BLE scan", group="ble-scan", on_error=self._scan_failed)

    async def _scan(self) -> None:
        try:
            found = await self.garment_app.discovery.ble_scan()
        finally:
            self.scanning = False
        self.ble_found = found
        self.ble_state = f"{len(found)} garment(s) found" if found else "no BLE garments found"
        self.populate()

    def _scan_failed(self, e: BaseException) -> None:
        self.scanning = False
        self.garment_app.report_error(e, "BLE scan failed")
        self.ble_state = "scan failed"
        self.populate()

    def action_disconnect(self) -> None:
        if self.session is None:
            self.garment_app.report("not connected", "warning")
            return
        self.garment_app.run_guarded(self.garment_app.disconnect(), "disconnect")
