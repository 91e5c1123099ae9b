"""Type-checks the MicroPython firmware with mypy against the MicroPython stubs of each port.

- the ``sim`` board's manifest (the core every board runs, ``boot.py``, ``main.py``, the
  sim HAL and ``garmentfw/sim``) against ``micropython-unix-stubs``;
- each other board's own modules (its manifest minus the core) against its port's
  stubs (``garment.firmware_boards.BOARDS``: esp32s3 -> esp32, rp2040 -> rp2, ...).

The Makefile installs each stubs package into its own folder, ``.venv/stubs/<port>``
(they overwrite each other's modules when installed together). mypy does not use the
packages' ``__builtins__.pyi`` (a Pyright convention) and their ``stdlib/`` imports
``_mpy_shed`` from outside it, so for each port this test builds a typeshed: the
package's ``stdlib/`` and ``stubs/``, its own modules merged into ``stdlib/`` (listed in
``VERSIONS``), and the viper types of ``typings/viper_builtins.pyi`` spliced into
``builtins.pyi``. Settings are in ``mypy_firmware.ini``; the exact command is in the
failure message.

Errors present when the check was added are listed in ``KNOWN_ERRORS`` (their modules
belong to others); the test fails on any other error, and on a listed one that is gone.
mypy runs in its default mode (bodies of unannotated functions unchecked): with
``--check-untyped-defs`` the firmware had 27 more errors, mostly attributes set to None
and later used without a check.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from garment.firmware_boards import BOARDS, board_files, read_manifest

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
BOARDS_DIR = FIRMWARE / "lib" / "garmentfw" / "boards"
HERE = Path(__file__).resolve().parent
CONFIG = HERE / "mypy_firmware.ini"
VIPER_BLOCK = HERE / "typings" / "viper_builtins.pyi"
STUBS = REPO / ".venv" / "stubs"

# Type errors in the firmware when this check was added, owned by the modules' authors:
# ``path [code] message``, one line per occurrence, no line numbers. New errors fail the
# test; an entry that no longer occurs fails it too, so that the list only shrinks.
KNOWN_ERRORS = """
# const() fallback for CPython: the ignore names the wrong code (mypy reports [misc]).
firmware/lib/garmentfw/filter_coeffs.py [misc] All conditional function variants must have identical signatures
firmware/lib/garmentfw/filter_coeffs.py [unused-ignore] Unused "type: ignore" comment
# Fallbacks assigned None where the name's type does not allow it.
firmware/lib/garmentfw/model_format.py [assignment] Incompatible types in assignment (expression has type "None", variable has type "Callable[[Any, Any | None], Any]")
# time.ticks_us() values are an opaque tick type in the stubs, stored in int attributes here.
firmware/lib/garmentfw/sim/ads1299_model.py [assignment] Incompatible types in assignment (expression has type "Any | _TicksUs", variable has type "int")
firmware/lib/garmentfw/sim/ads1299_model.py [assignment] Incompatible types in assignment (expression has type "Any | _TicksUs", variable has type "int")
firmware/lib/garmentfw/sim/ads1299_model.py [assignment] Incompatible types in assignment (expression has type "Any | _TicksUs", variable has type "int")
firmware/lib/garmentfw/sim/ads1299_model.py [assignment] Incompatible types in assignment (expression has type "Any | _TicksUs", variable has type "int")
firmware/lib/garmentfw/sim/ads1299_model.py [assignment] Incompatible types in assignment (expression has type "Any | _TicksUs", variable has type "int")
"""

CORE = FIRMWARE / "manifests" / "core.py"


def _resolved(p: Path) -> Path:
    return REPO / p.resolve().relative_to(REPO.resolve())


def unix_files() -> list[Path]:
    """The sim board's image: the core, boot/main, the sim HAL and the simulator."""
    return sorted(_resolved(e.source) for e in board_files("sim", FIRMWARE))


def board_own_files(board: str) -> list[Path]:
    """A board's modules beyond those checked with the sim (the core, the simulator)."""
    done = {e.source for e in board_files("sim", FIRMWARE)}
    return sorted(_resolved(e.source) for e in board_files(board, FIRMWARE) if e.source not in done)


#: Board -> the stubs port its own modules are checked against (the sim is checked whole).
BOARD_STUBS = {b.name: b.stubs for b in BOARDS.values() if b.name != "sim"}


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def mypy_command(typeshed: Path, files: list[Path], cache_dir: Path) -> list[str]:
    """The mypy command line, run from the repository's root."""
    return [
        sys.executable, "-m", "mypy",
        "--config-file", str(CONFIG),
        "--custom-typeshed-dir", str(typeshed),
        "--cache-dir", str(cache_dir),
        *map(_rel, files),
    ]


def _splice_viper_types(builtins_pyi: Path) -> None:
    """Replace the stubs' viper block (``uint`` ... ``class ptr32``) with ours."""
    lines = builtins_pyi.read_text().splitlines(keepends=True)
    try:
        start = next(i for i, s in enumerate(lines) if s.startswith("uint: TypeAlias"))
        end = next(i for i in range(start, len(lines)) if lines[i].startswith("def const("))
    except StopIteration:
        raise AssertionError(f"viper block (uint ... def const) not found in {builtins_pyi}: stubs changed?") from None
    while start > 0 and lines[start - 1].startswith("#:"):
        start -= 1
    old = "".join(lines[start:end])
    assert "class ptr32(" in old, f"unexpected viper block in {builtins_pyi}:\n{old}"
    lines[start:end] = [VIPER_BLOCK.read_text(), "\n"]
    builtins_pyi.write_text("".join(lines))


def build_typeshed(port: str, dest: Path) -> Path:
    """A custom typeshed for mypy from the ``micropython-<port>-stubs`` installed in ``.venv/stubs/<port>``."""
    src = STUBS / port
    if not (src / "stdlib" / "VERSIONS").exists():
        pytest.fail(f"MicroPython stubs for '{port}' missing in {src}: run `make test` (it installs them)")
    shutil.copytree(src / "stdlib", dest / "stdlib")
    shutil.copytree(src / "stubs", dest / "stubs")
    versions = dest / "stdlib" / "VERSIONS"
    listed = set(re.findall(r"^([\w.]+):", versions.read_text(), re.M))
    extra = []
    for entry in sorted(src.iterdir()):
        if entry.name in ("stdlib", "stubs") or entry.name.startswith("__builtins__"):
            continue
        if entry.is_file() and entry.suffix == ".pyi":
            name = entry.stem
            shutil.copy2(entry, dest / "stdlib" / entry.name)
        elif entry.is_dir() and (entry / "__init__.pyi").exists():
            name = entry.name
            shutil.copytree(entry, dest / "stdlib" / entry.name)
        else:
            continue
        if name not in listed:
            extra.append(f"{name}: 3.0-\n")
    with versions.open("a") as f:
        f.write("# MicroPython port modules, merged by tests/firmware/test_typecheck.py\n")
        f.writelines(extra)
    _splice_viper_types(dest / "stdlib" / "builtins.pyi")
    return dest


@pytest.fixture(scope="session")
def typesheds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mp-typeshed")
    return {port: build_typeshed(port, root / port) for port in sorted({b.stubs for b in BOARDS.values()})}


def run_mypy(typeshed: Path, files: list[Path], cache_dir: Path) -> tuple[int, str, list[str]]:
    cmd = mypy_command(typeshed, files, cache_dir)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, "MYPYPATH": ""})
    return proc.returncode, proc.stdout + proc.stderr, cmd


_ERROR = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?:\d+:)? error: (?P<msg>.*?)(?:  \[(?P<code>[\w-]+)\])?$", re.M)


def _errors(out: str) -> Counter[str]:
    """mypy's errors as ``path [code] message`` (no line numbers, so edits elsewhere don't matter)."""
    return Counter(f"{m['path']} [{m['code']}] {m['msg']}" for m in _ERROR.finditer(out))


def _check(port: str, files: list[Path], typesheds: dict[str, Path], tmp_path: Path) -> None:
    rc, out, cmd = run_mypy(typesheds[port], files, tmp_path / "cache")
    how = f"mypy output ({port} stubs):\n{out}\ncommand (run from {REPO}):\n{' '.join(cmd)}"
    assert rc in (0, 1), f"mypy did not run:\n{how}"
    known = Counter(s for s in map(str.strip, KNOWN_ERRORS.splitlines()) if s and not s.startswith("#"))
    checked = set(map(_rel, files))
    known = Counter({k: n for k, n in known.items() if k.split(" ", 1)[0] in checked})
    found = _errors(out)
    assert rc == 0 or found, f"mypy failed but no error line could be parsed:\n{how}"
    new = found - known
    fixed = known - found
    assert not new, "new type errors:\n  " + "\n  ".join(sorted(new.elements())) + "\n\n" + how
    assert not fixed, (
        "fixed, well done: delete these lines from KNOWN_ERRORS in tests/firmware/test_typecheck.py:\n  "
        + "\n  ".join(sorted(fixed.elements()))
    )


def test_common_and_sim_against_unix_stubs(typesheds: dict[str, Path], tmp_path: Path) -> None:
    files = unix_files()
    assert BOARDS_DIR.parent / "sim" / "ads1299_model.py" in files and FIRMWARE / "main.py" in files
    _check("unix", files, typesheds, tmp_path)


@pytest.mark.parametrize("board", sorted(BOARD_STUBS))
def test_board_against_port_stubs(board: str, typesheds: dict[str, Path], tmp_path: Path) -> None:
    files = board_own_files(board)
    assert BOARDS_DIR / f"{BOARDS[board].hal}.py" in files
    _check(BOARD_STUBS[board], files, typesheds, tmp_path)


def test_a_type_error_fails(typesheds: dict[str, Path], tmp_path: Path) -> None:
    """The set-up must catch real errors: a wrong call into a firmware module and a bad stub use."""
    bad = tmp_path / "bad_module.py"
    bad.write_text(
        "import time\n"
        "from garmentfw.ring import SampleRing\n"
        "def f() -> int:\n"
        "    return 'not an int'\n"
        "time.sleep_ms('10')\n"
        "SampleRing(8, 4).reset('8')\n"
    )
    rc, out, _ = run_mypy(typesheds["unix"], [bad], tmp_path / "cache")
    assert rc == 1, out
    assert 'bad_module.py:4:12: error: Incompatible return value type (got "str", expected "int")' in out, out
    assert re.search(r'bad_module.py:5:\d+: error: Argument 1 to "sleep_ms" has incompatible type "str"', out), out
    assert re.search(r'bad_module.py:6:\d+: error: Argument 1 to "reset" of "SampleRing" has incompatible type', out), out


def test_viper_types_are_builtins(typesheds: dict[str, Path], tmp_path: Path) -> None:
    """ptr8/ptr16/ptr32/uint need no import and a ptr parameter takes a buffer."""
    ok = tmp_path / "viper_ok.py"
    ok.write_text(
        "import micropython\n"
        "from array import array\n"
        "@micropython.viper\n"
        "def s(a: ptr8, b: ptr16, c: ptr32, n: int) -> uint:\n"
        "    p = ptr8(a)\n"
        "    return uint(p[0] + b[0] + c[n])\n"
        "s(bytearray(4), memoryview(bytearray(4)), array('i', [1]), 0)\n"
    )
    rc, out, _ = run_mypy(typesheds["unix"], [ok], tmp_path / "cache")
    assert rc == 0, out
