"""The boards' watchdog fits the heartbeat budget: a loop that hangs with the output on is
reset (outputs off at boot) no later than a missing heartbeat would stop it (500 ms), not
seconds after. Read from the HAL sources: every ``machine.WDT(timeout=...)`` uses
``limits.WATCHDOG_MS``, which is within the budget."""
from __future__ import annotations

import ast

from garment.contracts import load_contract
from garment.paths import firmware_lib

L = load_contract("limits")


def _wdt_timeouts(src: str) -> list[ast.expr]:
    out = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "WDT":
            out.extend(k.value for k in node.keywords if k.arg == "timeout")
    return out


def test_every_board_watchdog_fits_the_heartbeat_budget() -> None:
    boards = sorted((firmware_lib() / "garmentfw" / "boards").glob("*.py"))
    found = 0
    for path in boards:
        for t in _wdt_timeouts(path.read_text()):
            found += 1
            assert isinstance(t, ast.Attribute) and t.attr == "WATCHDOG_MS", f"{path.name}: WDT timeout {ast.unparse(t)}"
    assert found >= 2, "no board watchdog found"
    assert 0 < L.WATCHDOG_MS <= L.HARD_MAX_HEARTBEAT_MS, L.WATCHDOG_MS
