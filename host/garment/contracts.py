"""Contracts shared with the firmware, loaded from the firmware tree itself.

The wire protocol, feature spec, model format and filter tables are defined once, as
MicroPython-compatible modules under ``firmware/lib/garmentfw/``. The host imports
those very files (never a copy), so host and device cannot drift apart.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from garment.paths import firmware_lib


def load_contract(name: str) -> ModuleType:
    """Import ``garmentfw/<name>.py`` from the shipped firmware tree as ``garment._fw.<name>``."""
    modname = f"garment._fw.{name}"
    mod = sys.modules.get(modname)
    if mod is not None:
        return mod
    path = firmware_lib() / "garmentfw" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load firmware contract {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod
