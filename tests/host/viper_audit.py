"""Firmware viper code run by CPython with every value a checked 32-bit word.

The unix port computes in 64-bit words, so it cannot show a 32-bit overflow. These
helpers execute the very same firmware source under CPython with ints that raise on
leaving the signed 32-bit range, and pointer views that load as the MCUs do."""
from __future__ import annotations

import builtins
import sys
import types
from typing import Any

import pytest

from garment.paths import firmware_lib

_LIM = 2**31


class _I32Meta(type):
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, builtins.int)


class I32(builtins.int, metaclass=_I32Meta):
    """An int that must stay in [-2^31, 2^31): viper's machine word on the MCUs."""

    def __new__(cls, v: int = 0) -> "I32":
        v = builtins.int(v)
        if not -_LIM <= v < _LIM:
            raise OverflowError(f"32-bit overflow: {v}")
        return super().__new__(cls, v)


def _wrap(name: str) -> None:
    op = getattr(builtins.int, name)
    setattr(I32, name, lambda a, *b: I32(op(a, *b)))


for _name in ("add radd sub rsub mul rmul lshift rlshift rshift rrshift and rand or ror xor rxor "
              "floordiv rfloordiv mod rmod neg").split():
    _wrap(f"__{_name}__")


class ptr8:  # noqa: N801 - the viper annotation names
    """ptr8 view: loads 0..255 as I32, stores the low byte (as viper does)."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf

    def __getitem__(self, i: int) -> I32:
        return I32(self.buf[i])

    def __setitem__(self, i: int, v: int) -> None:
        self.buf[i] = builtins.int(v) & 0xFF


class ptr32:  # noqa: N801
    """ptr32 view of an array('i'): loads the signed word (as on a 32-bit MCU)."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf

    def __getitem__(self, i: int) -> I32:
        return I32(self.buf[i])

    def __setitem__(self, i: int, v: int) -> None:
        self.buf[i] = builtins.int(I32(v))


def audited(f: Any) -> Any:
    """Wrap a viper function: arguments become I32 or the pointer view they are annotated as."""
    ann = f.__annotations__

    def call(*args: Any) -> Any:
        names = f.__code__.co_varnames[: f.__code__.co_argcount]
        conv = []
        for nm, a in zip(names, args):
            t = ann.get(nm)
            conv.append(t(a) if t in (ptr8, ptr32) else I32(a))
        return f(*conv)

    return call


def load_firmware_module(monkeypatch: pytest.MonkeyPatch, name: str, contracts: dict[str, types.ModuleType],
                         names: dict[str, Any]) -> types.ModuleType:
    """Execute ``garmentfw/<name>.py`` under CPython: ``micropython`` shimmed (viper is a
    no-op, const the identity), ``garmentfw.<contract>`` from ``contracts``, and ``names``
    (e.g. ``int``, ``ptr32``) injected into the module's globals."""
    mp = types.ModuleType("micropython")
    mp.viper = lambda f: f  # type: ignore[attr-defined]
    mp.const = lambda x: x  # type: ignore[attr-defined]
    pkg = types.ModuleType("garmentfw")
    for k, v in contracts.items():
        setattr(pkg, k, v)
    monkeypatch.setitem(sys.modules, "micropython", mp)
    monkeypatch.setitem(sys.modules, "garmentfw", pkg)
    path = firmware_lib() / "garmentfw" / f"{name}.py"
    mod = types.ModuleType(f"garmentfw_{name}_audit")
    mod.__dict__.update({**names, "__file__": str(path)})
    exec(compile(path.read_text(), str(path), "exec", dont_inherit=True), mod.__dict__)
    return mod
