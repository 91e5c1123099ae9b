"""What the Connect screen can offer: the simulated garment, USB serial ports, BLE
garments (when the BLE transport exists) and the device used last time."""
from __future__ import annotations

import asyncio
import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from garment.tui import config

BLE_MODULE = "garment.transports.ble"


@dataclass(frozen=True)
class DeviceEntry:
    """One thing the user can connect to."""

    spec: str  # what garment.devices understands: sim, serial:PATH, socket://..., ble:ADDR
    title: str
    detail: str = ""
    kind: str = "serial"  # sim | serial | ble | recent
    hardware: bool = False  # a real USB device (has a USB vendor id)


SIM_ENTRY = DeviceEntry("sim", "Simulated garment", "real firmware on the MicroPython unix port", "sim")
BLE_SIM_ENTRY = DeviceEntry("ble:sim", "Simulated garment over BLE", "the BLE transport over a virtual radio", "ble")


class Discovery:
    """Finds devices. Tests substitute a subclass with fixed answers."""

    def serial_ports(self) -> list[DeviceEntry]:
        """USB serial ports (pyserial's ``list_ports``), real USB devices flagged."""
        try:
            from serial.tools import list_ports
        except ImportError:
            return []
        out = []
        for p in sorted(list_ports.comports(), key=lambda p: p.device):
            bits = [p.description if p.description and p.description != "n/a" else "",
                    p.manufacturer or "",
                    f"USB {p.vid:04x}:{p.pid:04x}" if p.vid is not None and p.pid is not None else ""]
            out.append(DeviceEntry(f"serial:{p.device}", p.device, ", ".join(b for b in bits if b), "serial",
                                   hardware=p.vid is not None))
        return out

    def ble_module(self) -> Any | None:
        """The BLE transport module, or None when this build has none."""
        try:
            mod = importlib.import_module(BLE_MODULE)
        except ModuleNotFoundError as e:
            if e.name in (BLE_MODULE, "garment.transports"):
                return None
            raise
        return mod if hasattr(mod, "scan") else None

    def ble_status(self) -> tuple[bool, str]:
        """(available, explanation) for the BLE section."""
        try:
            mod = self.ble_module()
        except Exception as e:  # noqa: BLE001 - a broken optional module is reported, not raised
            return False, f"BLE unavailable: the BLE transport failed to load ({type(e).__name__}: {e})"
        if mod is None:
            return False, "BLE unavailable: this build has no BLE transport"
        return True, "Scan for BLE garments"

    async def ble_scan(self, timeout: float = 5.0) -> list[DeviceEntry]:
        """Garments advertising over BLE (``garment.transports.ble.scan()``)."""
        mod = self.ble_module()
        if mod is None:
            return []
        fn = mod.scan
        params = inspect.signature(fn).parameters
        kw = {"timeout": timeout} if "timeout" in params else {}
        if inspect.iscoroutinefunction(fn):
            found = await fn(**kw)
        else:
            found = await asyncio.to_thread(fn, **kw)
            if inspect.isawaitable(found):
                found = await found
        return [ble_entry(x) for x in found or []]

    def last_device(self) -> str | None:
        return config.last_device()


def ble_entry(item: Any) -> DeviceEntry:
    """A scan result (an object with address/name/rssi, a tuple, a dict or a string)."""
    if isinstance(item, DeviceEntry):
        return item
    if isinstance(item, str):
        addr, name, rssi = item, "", None
    elif isinstance(item, dict):
        addr, name, rssi = item.get("address", ""), item.get("name", ""), item.get("rssi")
    elif isinstance(item, (tuple, list)):
        addr = item[0]
        name = item[1] if len(item) > 1 else ""
        rssi = item[2] if len(item) > 2 else None
    else:
        addr = getattr(item, "address", str(item))
        name = getattr(item, "name", "") or ""
        rssi = getattr(item, "rssi", None)
    addr = str(addr)
    spec = addr if addr.startswith("ble:") else f"ble:{addr}"
    detail = f"RSSI {rssi} dBm" if rssi is not None else ""
    return DeviceEntry(spec, f"{name or 'garment'} {addr}".strip(), detail, "ble")


def describe_spec(spec: str) -> DeviceEntry:
    """An entry for a spec typed by the user or remembered from last time."""
    if spec == "sim":
        return SIM_ENTRY
    if spec == "ble:sim":
        return BLE_SIM_ENTRY
    kind = "ble" if spec.startswith("ble:") else "recent"
    return DeviceEntry(spec, spec, "used last time", kind)
