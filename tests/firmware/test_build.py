"""Every firmware module compiles with mpy-cross for every target architecture.

Viper and native code is only compiled to machine code (and viper's own type checks
only run) when ``mpy-cross`` is given an architecture, so this is where a viper
function that cannot build for a real MCU shows up. The files are every module some
board's manifest (``firmware/manifests/<board>.py``) lists, so every module that can
reach a board builds for every architecture (the flash tests check that every module is
in some manifest).
"""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from garment.firmware_boards import BOARDS, board_files
from garment.paths import firmware_root, mpy_cross_exe

# ESP32-S3 (xtensawin), RP2350 Arm (armv7emsp), RP2040 (armv6m), RP2350 RISC-V / ESP32-C3 (rv32imc).
ARCHS = ("xtensawin", "armv7emsp", "armv6m", "rv32imc")


def firmware_sources() -> list[Path]:
    """Every module some board's manifest lists."""
    return sorted({e.source for board in BOARDS for e in board_files(board)})


def _compile(src: Path, arch: str, out_dir: Path) -> str | None:
    """None when ``src`` compiles for ``arch``; else the file and mpy-cross's message."""
    rel = src.relative_to(firmware_root().resolve()).as_posix()
    out = out_dir / (rel.replace("/", "__") + ".mpy")
    proc = subprocess.run(
        [str(mpy_cross_exe()), f"-march={arch}", "-s", rel, "-o", str(out), str(src)],
        capture_output=True, text=True, timeout=120,
    )
    if proc.returncode == 0 and out.exists():
        return None
    return f"{rel}:\n    " + "\n    ".join((proc.stderr or proc.stdout or "no output").strip().splitlines())


def test_firmware_sources_found() -> None:
    names = {p.name for p in firmware_sources()}
    assert {"boot.py", "main.py", "__init__.py"} <= names


@pytest.mark.parametrize("arch", ARCHS)
def test_firmware_compiles(arch: str, tmp_path: Path) -> None:
    sources = firmware_sources()
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for f in pool.map(lambda s: _compile(s, arch, tmp_path), sources) if f]
    assert not failures, f"mpy-cross -march={arch} failed on {len(failures)} file(s):\n" + "\n".join(failures)
