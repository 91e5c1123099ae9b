"""Every instruction count the firmware's budget refuses configurations with
(``garmentfw/budget.py``) is pinned to the ``benchmarks/bench_mcu.py`` row that measures it:
a count added to the budget without a bench row, or a row renamed, fails here."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from garment.contracts import load_contract

REPO = Path(__file__).resolve().parents[2]


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_mcu", REPO / "benchmarks" / "bench_mcu.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_budget_count_has_its_bench_row() -> None:
    budget = load_contract("budget")
    bench = _bench()
    counts = {n for n in vars(budget) if n.startswith("INSTR_")}
    assert counts == set(bench.PINS), counts ^ set(bench.PINS)
    # each row is measured by the guest script or derived from measured rows in measure()
    measured = set(re.findall(r'out\("(\w+)"', bench.GUEST))
    for kinds in re.findall(r"for kind in \(([^)]*)\):", bench.GUEST):  # out("window_" + kind, ...)
        measured |= {"window_" + k.strip(" '\"") for k in kinds.split(",")}
    derived = set(re.findall(r'res\["(\w+)"\] =', Path(bench.__file__).read_text()))
    for name, row in bench.PINS.items():
        assert row in measured | derived, (name, row)
        assert getattr(budget, name) > 0, name
