"""The pattern generator's and the withdrawal reflex's viper code, run by CPython with
every value a checked 32-bit word (tests/host/viper_audit.py): the golden vectors come out
the same, and the extreme corners of the parameter ranges never leave 32 bits."""
from __future__ import annotations

import json
import sys
import types
from array import array
from pathlib import Path

import pytest

from garment.contracts import load_contract
from viper_audit import audited, load_firmware_module, ptr32

GOLDEN = Path(__file__).resolve().parents[2] / "models" / "golden"


def _load(monkeypatch: pytest.MonkeyPatch, name: str, fn: str) -> types.ModuleType:
    contracts = {n: load_contract(n) for n in ("cpg_spec", "reflex_spec", "spec_params", "limits")}
    for n, m in contracts.items():
        monkeypatch.setitem(sys.modules, f"garmentfw.{n}", m)
    mod = load_firmware_module(monkeypatch, name, contracts, {"ptr32": ptr32, "int": int})
    setattr(mod, fn, audited(getattr(mod, fn)))
    return mod


def test_cpg_golden_and_worst_case_in_32_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    cpg = _load(monkeypatch, "cpg", "cpg_run")
    g = json.loads((GOLDEN / "cpg_halfcentre.json").read_text())
    for case in g["cases"]:
        c = cpg.Cpg.from_dict(case["params"])
        for call in case["calls"]:
            c.run(call["angle_cdeg"], call["act"][0], call["act"][1], call["steps"])
            assert list(c.state) == call["state"]
    spec = load_contract("cpg_spec")
    top = {n: hi for n, _, _, hi in spec.LIMITS}
    for corner in (dict(top, thr=top["thr"], leak_sh=12, a_sh=12, syn_sh=12, bins=8),
                   dict(top, thr=256, leak_sh=1, a_sh=12, syn_sh=12, bins=8, w_emg=-(1 << 16))):
        for sign in (1, -1):
            c = cpg.Cpg.from_dict(dict(corner, weights=[sign * spec.W_MAX] * 16))
            for k in range(300):
                c.run((k * 997) % 36000, 4096, 4096 * (k & 1), 20)  # 6 s at the extremes


def test_reflex_golden_and_worst_case_in_32_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    rx = _load(monkeypatch, "reflex", "reflex_run")
    g = json.loads((GOLDEN / "reflex_withdrawal.json").read_text())
    r = rx.Reflex.from_dict({})
    for call in g["calls"]:
        for e in range(4):
            r.z[e] = call["z"][e]
        r.run(*call["act"], call["steps"])
        assert list(r.state) == call["state"]
    spec = load_contract("reflex_spec")
    lo = {n: v for n, _, v, _ in spec.LIMITS}
    hi = {n: v for n, _, _, v in spec.LIMITS}
    for corner in (dict(hi, level=0, leak_sh=10, out_sh=10), dict(lo, leak_sh=10, out_sh=10, thr_leg=1 << 20, thr_out=1 << 20)):
        r = rx.Reflex.from_dict(corner)
        for k in range(200):
            a = 4096 if k % 3 else 0
            for e in range(4):  # impedance from the fault limit to 1 ohm and back
                r.z[e] = 20000 if k % 2 else 1
            r.run(a, a, 4096 - a, 4096, 30)
    assert isinstance(array("i", r.state)[0], int)
