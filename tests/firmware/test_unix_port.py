"""Runs every firmware unit-test script in ``tests/firmware/mp`` on the real MicroPython unix port.

Each MicroPython test function becomes one pytest item, so a failure names the function.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from garment.paths import firmware_lib, micropython_exe

HERE = Path(__file__).parent / "mp"
SCRIPTS = sorted(HERE.glob("test_*.py"))


def _collect() -> list[tuple[Path, str]]:
    items = []
    for script in SCRIPTS:
        for m in re.finditer(r"^def (test_\w+)\(", script.read_text(), re.M):
            items.append((script, m.group(1)))
    return items


@pytest.mark.parametrize(
    "script,name", _collect(), ids=[f"{s.stem}::{n}" for s, n in _collect()]
)
def test_on_unix_port(script: Path, name: str) -> None:
    proc = subprocess.run(
        [str(micropython_exe()), "-X", "heapsize=8m", str(HERE / "mprunner.py"), str(firmware_lib()), str(script), name],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(HERE),
    )
    out = proc.stdout + proc.stderr
    assert f"PASS {name}" in proc.stdout, out
    assert "DONE passed=1 failed=0" in proc.stdout, out
