"""Build MicroPython's qemu port with the garment firmware frozen in, cached.

The source is MicroPython v1.28.0 (the port the qemu boards need; the unix port and
mpy-cross the rest of the project uses are 1.29 builds): the pinned subset in
``../shared/vendor/micropython-1.28.0-qemu-src.tar.gz`` when present, else the GitHub
release archive of that tag. A build is keyed on the source archive, the board and its
options, and the bytes of every frozen module (read from the ``qemu`` board manifest),
so an edit to any firmware module rebuilds and nothing else does. Builds live under
``build/qemu/`` in a checkout (ignored by git), else in the user's cache folder.

Boards (``QEMU_BOARDS``): ``MPS2_AN500`` (Cortex-M7 with FPU: the reference emulated
core), ``MPS2_AN385`` (Cortex-M3, no FPU, the port's default 140 kB heap) and
``VIRT_RV32`` (RISC-V rv32imac, the rv32imc boards' instruction set).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from garment import paths
from garment.firmware_boards import ManifestEntry, board_files

__all__ = ["QEMU_BOARDS", "QemuBoard", "QemuBuildError", "build", "firmware_path", "source_archive"]

VERSION = "1.28.0"
VENDORED_NAME = f"micropython-{VERSION}-qemu-src.tar.gz"
RELEASE_URL = f"https://github.com/micropython/micropython/releases/download/v{VERSION}/micropython-{VERSION}.tar.xz"
USERMOD = Path(__file__).resolve().parent / "usermod"
#: Parallel make jobs (CI machines here have two cores).
JOBS = 2


class QemuBuildError(Exception):
    """The toolchain or source is missing, or the build failed; one line (plus a log path)."""


@dataclass(frozen=True)
class QemuBoard:
    """A board of the qemu port and how the garment builds and runs it."""

    name: str
    #: ``qemu-system-<arch>``
    qemu_arch: str
    machine: str
    cpu: str
    #: ``None``: the port's default heap.
    heap: int | None
    #: The cross compiler the build needs (checked with ``command -v``).
    cc: str
    extra_qemu_args: tuple[str, ...] = ()
    #: Extra ``make`` variables for the port.
    make_args: tuple[str, ...] = ()


QEMU_BOARDS: dict[str, QemuBoard] = {
    b.name: b
    for b in (
        # 3 MB of the board's 4 MB RAM (the rest holds the code): the tests' golden vectors,
        # the RAM filesystem and the chip models of the power-loss test's 192 boots live in
        # the heap (a real board keeps its files in flash).
        QemuBoard("MPS2_AN500", "arm", "mps2-an500", "Cortex-M7", 3 * 1024 * 1024, "arm-none-eabi-gcc"),
        QemuBoard("MPS2_AN385", "arm", "mps2-an385", "Cortex-M3", None, "arm-none-eabi-gcc"),
        # 1.5 MB: the virt board has 2 MB of RAM. Debian's GCC 12 picks no rv32 multilib
        # (libgcc) for the port's default "rv32imac_zicsr": the 2.2 ISA spec spells the
        # same instructions without the suffix.
        QemuBoard("VIRT_RV32", "riscv32", "virt", "RV32IMAC", 1536 * 1024, "riscv64-unknown-elf-gcc",
                  ("-bios", "none"), ("RV32_ARCH=rv32imac -misa-spec=2.2",)),
    )
}
DEFAULT_BOARD = "MPS2_AN500"


def _repo_build_root() -> Path:
    repo = paths.repo_root()
    if repo is not None:
        return repo / "build" / "qemu"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("garment")) / "qemu"


def source_archive() -> Path:
    """The MicroPython source archive: vendored copy if present, else the release (downloaded once)."""
    env = os.environ.get("GARMENT_MICROPYTHON_SRC")
    cands = [Path(env)] if env else []
    repo = paths.repo_root()
    if repo is not None:
        cands.append(repo.parent / "shared" / "vendor" / VENDORED_NAME)
    cands.append(Path("/work/shared/vendor") / VENDORED_NAME)
    for c in cands:
        if c.is_file():
            return c
    dest = _repo_build_root() / f"micropython-{VERSION}.tar.xz"
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".part")
        try:
            with urllib.request.urlopen(RELEASE_URL, timeout=120) as r, tmp.open("wb") as f:
                shutil.copyfileobj(r, f)
        except OSError as e:
            raise QemuBuildError(f"no vendored MicroPython source and the release archive could not be fetched: {e}") from None
        tmp.replace(dest)
    return dest


def _sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def frozen_entries() -> list[ManifestEntry]:
    """The modules the qemu board freezes (its manifest; boot.py/main.py are not frozen)."""
    return [e for e in board_files("qemu") if e.target not in ("boot.py", "main.py")]


def frozen_manifest_text(entries: list[ManifestEntry]) -> str:
    """A MicroPython frozen manifest naming each module with its absolute source folder."""
    lines = ["# Generated by garment.qemu.build from firmware/manifests/qemu.py: do not edit."]
    for e in entries:
        base = str(e.source)[: -len(e.target)].rstrip("/")
        lines.append(f"module({e.target!r}, base_path={base!r})")
    return "\n".join(lines) + "\n"


def build_key(board: QemuBoard, archive: Path, manifest_text: str, entries: list[ManifestEntry]) -> str:
    h = hashlib.sha256()
    h.update(_sha256_file(archive).encode())
    h.update(repr(board).encode() + b"urandom")
    h.update(manifest_text.encode())
    for e in entries:
        h.update(e.target.encode() + b"\0" + e.source.read_bytes())
    for p in sorted(USERMOD.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


def check_toolchain(board: QemuBoard) -> None:
    """Clear error naming the Debian packages when a tool is missing."""
    need = {board.cc: "gcc-arm-none-eabi libnewlib-arm-none-eabi" if board.qemu_arch == "arm" else "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf",
            f"qemu-system-{board.qemu_arch}": "qemu-system-arm" if board.qemu_arch == "arm" else "qemu-system-misc",
            "make": "make"}
    missing = [pkg for tool, pkg in need.items() if shutil.which(tool) is None]
    if missing:
        raise QemuBuildError(f"{board.name} needs {' '.join(missing)} (apt-get install; `make test` installs them)")


def _source_tree(archive: Path, root: Path) -> Path:
    """The extracted source with mpy-cross built (once per archive)."""
    tree = root / f"src-{_sha256_file(archive)[:12]}"
    top = tree / f"micropython-{VERSION}"
    if (top / "mpy-cross" / "build" / "mpy-cross").is_file():
        return top
    if tree.exists():
        shutil.rmtree(tree)
    tmp = root / (tree.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    with tarfile.open(archive) as tf:
        tf.extractall(tmp, filter="data")
    _make(["make", f"-j{JOBS}", "-C", str(tmp / f"micropython-{VERSION}" / "mpy-cross")], root / "mpy-cross.log")
    tmp.rename(tree)
    return top


def _make(cmd: list[str], log: Path) -> None:
    # mpy-cross must not see a FROZEN_MANIFEST in its environment (it would freeze into it).
    env = {k: v for k, v in os.environ.items() if k not in ("FROZEN_MANIFEST", "BOARD", "BUILD", "MAKEFLAGS", "MFLAGS")}
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise QemuBuildError(f"{' '.join(cmd[:4])} ... failed ({' | '.join(tail)}); full log: {log}")


def firmware_path(board_name: str = DEFAULT_BOARD) -> Path:
    """Where the current build of ``board_name`` is (or would be)."""
    board = QEMU_BOARDS[board_name]
    entries = frozen_entries()
    key = build_key(board, source_archive(), frozen_manifest_text(entries), entries)
    return _repo_build_root() / f"{board.name}-{key}" / "firmware.elf"


def build(board_name: str = DEFAULT_BOARD, *, echo=None) -> Path:
    """The firmware.elf of ``board_name`` with the current firmware frozen in (built if needed)."""
    if board_name not in QEMU_BOARDS:
        raise QemuBuildError(f"unknown qemu board '{board_name}' (known: {', '.join(QEMU_BOARDS)})")
    board = QEMU_BOARDS[board_name]
    check_toolchain(board)
    root = _repo_build_root()
    root.mkdir(parents=True, exist_ok=True)
    archive = source_archive()
    entries = frozen_entries()
    text = frozen_manifest_text(entries)
    out = root / f"{board.name}-{build_key(board, archive, text, entries)}"
    elf = out / "firmware.elf"
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time (tests and benchmarks share it)
        if elf.is_file():
            return elf
        if echo:
            echo(f"building MicroPython {VERSION} qemu port for {board.name} with the firmware frozen in ...")
        top = _source_tree(archive, root)
        # A fresh build folder per key: make's dependency tracking misses frozen-code
        # qstrs that a changed C module made redundant.
        work = out / "work"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        manifest = work / "frozen_manifest.py"
        manifest.write_text(text)
        cmd = [
            "make", f"-j{JOBS}", "-C", str(top / "ports" / "qemu"),
            f"BOARD={board.name}", f"BUILD={work / 'build'}",
            f"FROZEN_MANIFEST={manifest}", f"USER_C_MODULES={USERMOD}",
            "MICROPY_VFS_LFS2=1",
            # os.urandom as on the ESP32/RP2 ports (auth nonces). The emulator has no
            # entropy source: the port's LCG fills it, fresh per call, not secret.
            "CFLAGS_EXTRA=-DMICROPY_PY_OS_URANDOM=1",
        ]
        if board.heap is not None:
            cmd.append(f"MICROPY_HEAP_SIZE={board.heap}")
        cmd.extend(board.make_args)
        _make(cmd, work / "build.log")
        shutil.copyfile(work / "build" / "firmware.elf", elf)
        shutil.rmtree(work / "build", ignore_errors=True)
        # Older builds of this board are stale: keep only this one.
        for old in root.glob(f"{board.name}-*"):
            if old != out and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    return elf


def main(argv: list[str] | None = None) -> int:
    """``python -m garment.qemu.build [BOARD ...]``: build (or find cached) and print the paths."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m garment.qemu.build", description=main.__doc__)
    ap.add_argument("boards", nargs="*", default=[DEFAULT_BOARD], help="qemu boards: " + ", ".join(QEMU_BOARDS))
    args = ap.parse_args(argv)
    rc = 0
    for b in args.boards:
        try:
            print(build(b, echo=print))
        except QemuBuildError as e:
            print(f"{b}: {e}")
            rc = 1
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
