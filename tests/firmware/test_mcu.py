"""The firmware unit tests of ``tests/firmware/mp`` on an emulated Cortex-M7 (``pytest -m mcu``).

The same scripts as ``test_unix_port.py``, run by the same ``mprunner.py``, but on
MicroPython's qemu port (``MPS2_AN500``) with the firmware frozen in through the ``qemu``
board manifest: 32-bit machine words (small ints end at 2**30), viper and native code
as real Thumb-2, ticks that wrap at 2**30. The build is cached (``build/qemu/``); the
first run builds it (``garment.qemu.build``, about 1-3 minutes on two cores).

The guest reads the tests and golden vectors from the host's checkout through
semihosting (read-only at "/") and writes to a littlefs in RAM at "/tmp" (the store
tests' filesystem). One guest runs every script in turn, with a fresh module table
each time; a script that hangs or kills the guest fails and the next one gets a new guest.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from garment.qemu.build import DEFAULT_BOARD, QemuBuildError, build
from garment.qemu.machine import QemuError, QemuMachine

pytestmark = pytest.mark.mcu

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent / "mp"
#: Scripts that test modules the qemu board's image does not hold.
NOT_ON_CORE = {
    "test_ads1299_chain.py": "tests the HD sim board's daisy-chained chip model (sim/ads1299_chain.py), not in the qemu image",
    "test_device_hd.py": "tests the HD sim board on the daisy-chained chip model (sim/ads1299_chain.py), not in the qemu image",
    "test_ble_link.py": "tests the ESP32-S3 board's BLE link (boards/ble_link.py), not in the qemu image",
    "test_dual_link.py": "tests the ESP32-S3 board's USB+BLE link (boards/dual_link.py), not in the qemu image",
    "test_esp32s3_capture.py": "tests the ESP32-S3 board's DRDY capture (boards/esp32s3_capture.py), not in the qemu image",
    "test_esp32s3_stim.py": "tests the ESP32-S3 board's RMT stimulator (boards/esp32s3_stim.py), not in the qemu image",
    "test_rp2_capture.py": "tests the RP2 boards' PIO + DMA capture (boards/rp2_capture.py), not in the qemu image",
    "test_rp2350_stim.py": "tests the RP2350 board's PIO stimulator (boards/rp2350_stim.py), not in the qemu image",
    "test_rig_clock.py": "tests the sim board's rig-driven clock (sim/rig_clock.py, its rig reached over the unix port's TCP socket), not in the qemu image",
    "test_sim_clock.py": "tests the unix sim's clock model (sim/clock.py, which stands in for the unix port's time module; the core's own ticks wrap at 2**30 natively), not in the qemu image",
}
SCRIPTS = [s for s in sorted(HERE.glob("test_*.py")) if s.name not in NOT_ON_CORE]
SCRIPT_TIMEOUT_S = 600.0

# Each script starts from an empty module table (frozen firmware modules re-import fresh)
# with the frozen firmware first on sys.path, as on a board.
_RUN = """\
import os, sys, gc
for _k in list(sys.modules):
    del sys.modules[_k]
gc.collect()
os.chdir({here!r})
sys.path[:] = ['.frozen', '']
sys.argv[:] = ['mprunner.py', '.frozen', {script!r}]
exec(open('mprunner.py').read(), {{'__name__': 'mprunner'}})
"""


def _collect() -> list[tuple[Path, str]]:
    return [(s, m.group(1)) for s in SCRIPTS for m in re.finditer(r"^def (test_\w+)\(", s.read_text(), re.M)]


class Core:
    """One emulated board that runs whole scripts and keeps their output."""

    def __init__(self, elf: Path):
        self.elf = elf
        self.machine: QemuMachine | None = None
        self.results: dict[str, str] = {}

    def _boot(self) -> QemuMachine:
        if self.machine is None:
            m = QemuMachine(DEFAULT_BOARD, elf=self.elf).start()
            m.mount_host(REPO, tmp_kb=512)
            self.machine = m
        return self.machine

    def output(self, script: Path) -> str:
        if script.name not in self.results:
            here = "/" + HERE.resolve().relative_to(REPO.resolve()).as_posix()
            try:
                out, err = self._boot().run(_RUN.format(here=here, script=script.name), timeout=SCRIPT_TIMEOUT_S)
                text = out + err
            except QemuError as e:
                text = f"the guest failed running {script.name}: {e}"
                self.close()
            self.results[script.name] = text
        return self.results[script.name]

    def close(self) -> None:
        if self.machine is not None:
            self.machine.close()
            self.machine = None


@pytest.fixture(scope="module")
def core() -> Core:
    try:
        elf = build(DEFAULT_BOARD)
    except QemuBuildError as e:
        pytest.fail(f"cannot build the qemu port: {e}")
    c = Core(elf)
    yield c
    c.close()


@pytest.mark.parametrize("script,name", _collect(), ids=[f"{s.stem}::{n}" for s, n in _collect()])
def test_on_emulated_core(core: Core, script: Path, name: str) -> None:
    out = core.output(script)
    assert re.search(rf"^PASS {name}\r?$", out, re.M), f"{script.name}::{name} on {DEFAULT_BOARD}:\n{out[-6000:]}"


def test_scripts_not_on_the_core_are_listed_with_a_reason() -> None:
    """Every mp script runs on the core unless this table says why not."""
    names = {s.name for s in HERE.glob("test_*.py")}
    assert set(NOT_ON_CORE) <= names, f"stale entries: {set(NOT_ON_CORE) - names}"
    assert len(SCRIPTS) + len(NOT_ON_CORE) == len(names)


def test_host_files_stream_without_one_block_the_size_of_the_file(core: Core) -> None:
    """Reading a golden vector file needs no heap block as large as the file.

    After many scripts in one guest the 3 MB heap is fragmented; a whole-file read of the
    557 kB feature vectors once found no free block that large (MemoryError in CI).
    """
    golden = REPO / "models" / "golden" / "features.json"
    size = golden.stat().st_size
    assert size > 200_000, "the check needs a large file"
    out = core._boot().check(
        "import gc, json\n"
        "gc.collect()\n"
        "a = gc.mem_alloc()\n"
        "f = open('/models/golden/features.json')\n"
        "head = f.read(64)\n"
        "b = gc.mem_alloc()\n"
        "f.close()\n"
        "f = open('/models/golden/features.json')\n"
        "g = json.load(f)\n"
        "f.close()\n"
        "print('OPENED', b - a, len(g['cases']), head[:1])\n"
    )
    m = re.search(r"^OPENED (\d+) (\d+) (\S+)", out, re.M)
    assert m, out
    assert int(m.group(1)) < 8_192, f"opening and reading 64 bytes allocated {m.group(1)} B of a {size} B file"
    assert int(m.group(2)) >= 1 and m.group(3) == "{"
