"""Contracts shared with the firmware, loaded from the firmware tree itself.

The wire protocol, feature spec, model format, filter tables, stimulation limits and
calibration rules are defined once, as MicroPython modules under
``firmware/lib/garmentfw/``. The host imports those very files (never a copy), so host
and device cannot drift apart.

:func:`load_contract` is the one shim that makes a firmware module importable by
CPython: while the module executes, ``micropython`` is a host stand-in (``const`` is
the identity, ``native``/``viper`` decorators leave the function as it is) and
``garmentfw`` is a package whose members are the other contracts, so a firmware module
can keep its ``from micropython import const`` and ``from garmentfw import wire, limits``
exactly as it runs on the board. Nothing stays installed afterwards: ``sys.modules``
only keeps the loaded contracts, as ``garment._fw.<name>``.
"""
from __future__ import annotations

import contextlib
import importlib.util
import sys
from types import ModuleType
from typing import Any, Callable, Iterator

from garment.paths import firmware_lib

__all__ = ["load_contract"]


def _identity(f: Callable[..., Any]) -> Callable[..., Any]:
    return f


def _micropython_stand_in() -> ModuleType:
    mp = ModuleType("micropython")
    mp.const = lambda x: x  # type: ignore[attr-defined]
    mp.native = _identity  # type: ignore[attr-defined]
    mp.viper = _identity  # type: ignore[attr-defined]
    return mp


def _garmentfw_stand_in() -> ModuleType:
    pkg = ModuleType("garmentfw")
    pkg.__path__ = []  # a package: ``from garmentfw import x`` asks the module for ``x``

    def __getattr__(name: str) -> ModuleType:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return load_contract(name)
        except FileNotFoundError:
            raise AttributeError(f"garmentfw has no contract module {name!r}") from None

    pkg.__getattr__ = __getattr__  # type: ignore[attr-defined,method-assign]
    return pkg


@contextlib.contextmanager
def _firmware_imports() -> Iterator[None]:
    """``micropython`` and ``garmentfw`` as a firmware module expects them, for its import only."""
    saved = {k: sys.modules.get(k) for k in ("micropython", "garmentfw")}
    sys.modules["micropython"] = _micropython_stand_in()
    sys.modules["garmentfw"] = _garmentfw_stand_in()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def load_contract(name: str) -> ModuleType:
    """Import ``garmentfw/<name>.py`` from the shipped firmware tree as ``garment._fw.<name>``.

    Raises FileNotFoundError when the firmware has no such module."""
    modname = f"garment._fw.{name}"
    mod = sys.modules.get(modname)
    if mod is not None:
        return mod
    path = firmware_lib() / "garmentfw" / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no firmware contract {path}")
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load firmware contract {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    try:
        with _firmware_imports():
            spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return mod
