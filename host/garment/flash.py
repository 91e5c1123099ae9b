"""``garment flash``: compile the firmware for a board and copy it to the board.

Two steps:

1. :func:`build_image` compiles every module under the firmware's ``lib/`` with
   ``mpy-cross`` for the board's architecture (so ``@micropython.native`` and
   ``@micropython.viper`` code becomes machine code for that CPU), keeps ``boot.py`` and
   ``main.py`` as source (MicroPython runs those two files by name), takes exactly the
   modules the board's manifest (``firmware/manifests/<board>.py``) lists, and writes
   ``garment-manifest.json`` (every file with its sha256, the firmware version, the board
   and the architecture).
2. :func:`copy_image` copies the image with ``mpremote``. The board is left safe at every
   moment of the copy: ``main.py`` is removed first and written last, only after every
   other file has been read back and its sha256 checked on the board, so an interrupted
   flash boots into the REPL, never into half-updated firmware. Then a soft reset.

Only ``lib/garmentfw``, ``boot.py``, ``main.py`` and the manifest are touched on the
board: other files (calibration, models, keys) stay.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from garment import paths
from garment.firmware_boards import BOARDS as ALL_BOARDS
from garment.firmware_boards import BoardSpec, ManifestError, board_files

__all__ = [
    "BOARDS",
    "MANIFEST_NAME",
    "BoardSpec",
    "FlashError",
    "Image",
    "ImageFile",
    "build_image",
    "copy_image",
    "flash",
    "mpremote_argv",
    "mpremote_commands",
]

MANIFEST_NAME = "garment-manifest.json"
#: Present in the staging folder while an image is being built (never copied).
BUILDING_MARKER = ".garment-image-building"
MANIFEST_FORMAT = 1
PACKAGE = "garmentfw"
#: Scripts MicroPython runs by name at start-up: copied as source, never compiled.
ENTRY_SCRIPTS = ("boot.py", "main.py")
#: Prefix of the lines the on-board verification script prints.
VERIFY_TAG = "GARMENT-VERIFY"
#: Per mpremote run (each copies about 200 kB). mpremote has its own timeouts on real
#: serial ports, but none on a pty (it blocks in read), so this bounds a silent port.
MPREMOTE_TIMEOUT_S = 120.0


class FlashError(Exception):
    """Building or copying the firmware failed; the message is one line for the user."""


#: The boards ``garment flash`` can copy to (the sim runs on the unix port, never flashed).
BOARDS: dict[str, BoardSpec] = {n: b for n, b in ALL_BOARDS.items() if b.flashable}


@dataclass(frozen=True)
class ImageFile:
    """One file of the image, relative to the image root (``lib/garmentfw/dsp.mpy``)."""

    path: str
    source: str
    sha256: str
    size: int
    #: True when the .mpy holds machine code (native/viper): it only runs on ``arch``.
    native: bool = False


@dataclass
class Image:
    """A compiled firmware image in a staging folder, ready to copy to a board."""

    root: Path
    board: BoardSpec
    version: str
    mpy_cross: str
    files: list[ImageFile] = field(default_factory=list)
    #: Source files left out of the image, with the reason.
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def manifest(self) -> dict[str, object]:
        """The manifest written beside the files (deterministic: no time stamps)."""
        return {
            "format": MANIFEST_FORMAT,
            "firmware": PACKAGE,
            "version": self.version,
            "board": self.board.name,
            "arch": self.board.arch,
            "micropython_port": self.board.port,
            "mpy_cross": self.mpy_cross,
            "files": [f.__dict__ for f in self.files],
            "excluded": dict(sorted(self.excluded.items())),
        }


# ---- building ------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def firmware_version(root: Path) -> str:
    """``VERSION`` of ``lib/garmentfw/__init__.py`` (read without importing it)."""
    init = root / "lib" / PACKAGE / "__init__.py"
    try:
        tree = ast.parse(init.read_text(), str(init))
    except (OSError, SyntaxError) as e:
        raise FlashError(f"cannot read the firmware version from {init}: {e}") from None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "VERSION" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise FlashError(f"no VERSION = \"...\" in {init}")


def mpy_cross_version(exe: Path) -> str:
    """``mpy-cross --version``, e.g. ``MicroPython v1.29.0 ...; mpy-cross emitting mpy v6.3``."""
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        raise FlashError(f"cannot run mpy-cross ({exe}): {e}") from None
    return (out.stdout or out.stderr).strip()


def _compile_error(rel: str, arch: str, stderr: str) -> FlashError:
    lines = [s.strip() for s in stderr.strip().splitlines() if s.strip()]
    where = ""
    for s in lines:
        m = re.search(r"line (\d+)", s)
        if m:
            where = f" line {m.group(1)}"
    what = lines[-1] if lines else "no message"
    return FlashError(f"mpy-cross -march={arch} failed on {rel}{where}: {what}")


def compile_module(exe: Path, src: Path, out: Path, rel: str, arch: str) -> None:
    """Compile one module; ``rel`` (its path on the board) is the file name in tracebacks."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(exe), f"-march={arch}", "-s", rel, "-o", str(out), str(src)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except OSError as e:
        raise FlashError(f"cannot run mpy-cross ({exe}): {e}") from None
    if proc.returncode != 0 or not out.exists():
        raise _compile_error(rel, arch, proc.stderr or proc.stdout)


def mpy_is_native(path: Path) -> bool:
    """True when a .mpy holds machine code: byte 2 of the header carries an architecture."""
    head = path.read_bytes()[:4]
    return len(head) == 4 and head[2] >> 2 != 0


def _source_files(root: Path) -> list[Path]:
    lib = root / "lib"
    out = []
    for p in sorted(lib.rglob("*")):
        rel = p.relative_to(lib)
        if not p.is_file() or any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if p.suffix in (".pyc", ".mpy"):
            continue  # build products left in the source tree never go to a board
        out.append(p)
    return out


def _prepare_out_dir(out: Path) -> None:
    """Empty ``out`` for a new image; refuse a non-empty folder that holds no image.

    A folder is ours when it holds a manifest (a finished image) or the marker left
    while a build runs (a build that failed half-way).
    """
    if out.exists():
        if not out.is_dir():
            raise FlashError(f"--out {out} exists and is not a folder")
        if any(out.iterdir()):
            if not ((out / MANIFEST_NAME).exists() or (out / BUILDING_MARKER).exists()):
                raise FlashError(f"--out {out} is not empty and holds no firmware image: refusing to overwrite it")
            for p in out.iterdir():
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / BUILDING_MARKER).write_text("garment flash: image being built\n")


def build_image(board: str, out_dir: Path | str, *, firmware: Path | None = None) -> Image:
    """Compile the firmware for ``board`` into ``out_dir`` (emptied first) and write the manifest.

    ``firmware`` is the firmware tree (``boot.py``, ``main.py``, ``lib/``); default: the
    one shipped with this package. Raises :class:`FlashError`.
    """
    spec = board_spec(board)
    try:
        root = Path(firmware) if firmware is not None else paths.firmware_root()
        exe = paths.mpy_cross_exe()
    except FileNotFoundError as e:
        raise FlashError(str(e)) from None
    for name in ENTRY_SCRIPTS:
        if not (root / name).is_file():
            raise FlashError(f"{root / name} is missing")
    if not (root / "lib" / PACKAGE).is_dir():
        raise FlashError(f"{root / 'lib' / PACKAGE} is missing")
    version = firmware_version(root)
    try:
        entries = board_files(spec.name, root)
    except ManifestError as e:
        raise FlashError(str(e)) from None
    hal = f"{PACKAGE}/boards/{spec.hal}.py"
    if not any(e.target == hal for e in entries):
        raise FlashError(f"the {spec.name} manifest lists no HAL module ({hal})")
    listed = {e.target: e for e in entries}
    missing = [n for n in ENTRY_SCRIPTS if n not in listed]
    if missing:
        raise FlashError(f"the {spec.name} manifest lists no {', '.join(missing)}")

    out = Path(out_dir)
    _prepare_out_dir(out)
    image = Image(root=out, board=spec, version=version, mpy_cross=mpy_cross_version(exe))
    scratch = out / ".check"
    # boot.py and main.py stay source, but a syntax error there must stop the flash too.
    for name in ENTRY_SCRIPTS:
        compile_module(exe, root / name, scratch / (name + ".mpy"), name, spec.arch)
        shutil.copyfile(root / name, out / name)
        image.files.append(ImageFile(name, name, _sha256(out / name), (out / name).stat().st_size))
    shutil.rmtree(scratch)

    jobs: list[tuple[PurePosixPath, Path, PurePosixPath]] = []
    for e in entries:
        if e.target in ENTRY_SCRIPTS:
            continue
        rel = PurePosixPath("lib", e.target)
        jobs.append((rel, e.source, rel.with_suffix(".mpy")))
    # Everything else in the tree is left out, and the image says so.
    wanted = {e.source.resolve() for e in entries}
    for src in _source_files(root):
        if src.resolve() not in wanted:
            image.excluded[src.relative_to(root).as_posix()] = f"not in the {spec.name} manifest"

    def make(job: tuple[PurePosixPath, Path, PurePosixPath]) -> ImageFile:
        rel, src, dest_rel = job
        dest = out / dest_rel
        if src.suffix == ".py":
            compile_module(exe, src, dest, str(rel), spec.arch)
        else:  # data shipped with the package: copied as is
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        native = src.suffix == ".py" and mpy_is_native(dest)
        return ImageFile(str(dest_rel), str(rel), _sha256(dest), dest.stat().st_size, native)

    # mpy-cross is a process per module: a few in parallel. Results in source order, so
    # the first broken module (in that order) is the one reported.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        image.files.extend(pool.map(make, jobs))

    image.files.sort(key=lambda f: f.path)
    image.manifest_path.write_text(json.dumps(image.manifest(), indent=1, sort_keys=True) + "\n")
    (out / BUILDING_MARKER).unlink()
    return image


def board_spec(board: str) -> BoardSpec:
    """The :class:`BoardSpec` of a board name; :class:`FlashError` for an unknown one."""
    try:
        return BOARDS[board]
    except KeyError:
        raise FlashError(f"unknown board '{board}' (known: {', '.join(BOARDS)})") from None


# ---- copying -------------------------------------------------------------------------
# Runs on the board (relative paths: after mpremote's soft reset the working directory is
# the flash root "/"). Removes main.py first, so that the board boots into the REPL until
# the new firmware is complete, then the old manifest and the packages the image brings
# (a stale foo.py would shadow the new foo.mpy; a module since deleted would linger).
_PREPARE = """\
import os
def _rm(p):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for e in list(os.ilistdir(p)):
            _rm(p + "/" + e[0])
        os.rmdir(p)
    else:
        os.remove(p)
for p in {paths!r}:
    _rm(p)
try:
    os.mkdir("lib")
except OSError:
    pass
"""

# Reads files back on the board: size and sha256 (size only where hashlib lacks sha256).
_VERIFY = """\
try:
    from hashlib import sha256
    from binascii import hexlify
except ImportError:
    sha256 = None
for p in {paths!r}:
    try:
        f = open(p, "rb")
    except OSError:
        print("{tag}", p, "missing")
        continue
    n = 0
    h = sha256() if sha256 else None
    while True:
        b = f.read(1024)
        if not b:
            break
        n += len(b)
        if h:
            h.update(b)
    f.close()
    print("{tag}", p, n, hexlify(h.digest()).decode() if h else "-")
"""


def mpremote_argv() -> list[str]:
    """How to run mpremote: the one installed beside this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "mpremote"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mpremote")
    if found:
        return [found]
    raise FlashError("mpremote not found: install the garment package's dependencies (pip install mpremote)")


def mpremote_commands(port: str, image: Image) -> list[list[str]]:
    """The mpremote command lines (without the program) that copy ``image`` to ``port``.

    First run: clean up, copy everything but ``main.py``, read it all back. Second run,
    only when the first one verified: copy ``main.py``, read it back, soft reset.
    """
    root = image.root
    rest = [f.path for f in image.files if f.path != "main.py"] + [MANIFEST_NAME]
    packages = sorted(p.name for p in (root / "lib").iterdir())
    old = ["main.py", MANIFEST_NAME, *(f"lib/{name}" for name in packages)]
    first = ["connect", port, "exec", _PREPARE.format(paths=old)]
    for name in packages:
        first += ["+", "fs", "cp", "-r", str(root / "lib" / name), ":lib/"]
    for name in [f.path for f in image.files if "/" not in f.path and f.path != "main.py"] + [MANIFEST_NAME]:
        first += ["+", "fs", "cp", str(root / name), ":" + name]
    first += ["+", "exec", _VERIFY.format(paths=rest, tag=VERIFY_TAG)]
    second = ["connect", port, "fs", "cp", str(root / "main.py"), ":main.py"]
    second += ["+", "exec", _VERIFY.format(paths=["main.py"], tag=VERIFY_TAG), "+", "soft-reset"]
    return [first, second]


def _mpremote_failure(port: str, out: str) -> FlashError:
    lines = [s.strip() for s in out.strip().splitlines() if s.strip()]
    text = "\n".join(lines)
    if "failed to access" in text or "could not open port" in text:
        return FlashError(f"cannot open {port}: no such port, or it is in use by another program")
    if "could not enter raw repl" in text or "TransportError" in text:
        return FlashError(
            f"the board on {port} does not answer MicroPython's raw REPL "
            "(not a MicroPython board, or running firmware that ignores Ctrl-C: reset it and retry)"
        )
    return FlashError(f"mpremote failed on {port}: {lines[-1] if lines else 'no output'}")


def _run_mpremote(argv: list[str], args: list[str], port: str, timeout: float) -> str:
    try:
        proc = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise FlashError(f"mpremote not found ({argv[0]})") from None
    except subprocess.TimeoutExpired:
        raise FlashError(f"mpremote timed out after {timeout:.0f} s talking to {port}") from None
    if proc.returncode != 0:
        raise _mpremote_failure(port, proc.stderr + "\n" + proc.stdout)
    return proc.stdout


def _check_verify(out: str, image: Image, paths_: list[str], port: str) -> None:
    want = {f.path: f for f in image.files}
    man = image.manifest_path
    seen: dict[str, tuple[str, str]] = {}
    for m in re.finditer(rf"^{VERIFY_TAG} (\S+) (\S+)(?: (\S+))?\s*$", out, re.M):
        seen[m.group(1)] = (m.group(2), m.group(3) or "")
    for p in paths_:
        size, digest = seen.get(p, ("missing", ""))
        if p == MANIFEST_NAME:
            exp_size, exp_hash = man.stat().st_size, _sha256(man)
        else:
            exp_size, exp_hash = want[p].size, want[p].sha256
        if size == "missing":
            raise FlashError(f"verification failed on {port}: {p} is missing on the board after the copy")
        if int(size) != exp_size or (digest != "-" and digest != exp_hash):
            raise FlashError(f"verification failed on {port}: {p} differs on the board (copy corrupted); flash again")


def _check_port(port: str) -> None:
    """Fail early on a device path that does not exist (mpremote's own message is vaguer)."""
    if "://" not in port and port.startswith("/") and not os.path.exists(port):
        raise FlashError(f"serial port {port} not found")


def copy_image(image: Image, port: str, *, mpremote: list[str] | None = None,
               timeout: float = MPREMOTE_TIMEOUT_S) -> None:
    """Copy a built image to the board on ``port`` with mpremote, verify it, soft-reset.

    ``mpremote`` is the command to run (default: :func:`mpremote_argv`). Raises
    :class:`FlashError` with a one-line message.
    """
    _check_port(port)
    argv = mpremote if mpremote is not None else mpremote_argv()
    first, second = mpremote_commands(port, image)
    rest = [f.path for f in image.files if f.path != "main.py"] + [MANIFEST_NAME]
    _check_verify(_run_mpremote(argv, first, port, timeout), image, rest, port)
    _check_verify(_run_mpremote(argv, second, port, timeout), image, ["main.py"], port)


# ---- the command -----------------------------------------------------------------------
def flash(port: str, board: str, dry_run: bool = False, out_dir: str | None = None, *,
          firmware: Path | None = None, mpremote: list[str] | None = None,
          echo: Callable[[str], None] = print) -> Image:
    """Compile the firmware for ``board`` and, unless ``dry_run``, copy it to ``port``.

    The image is built in ``out_dir`` (kept) or in a temporary folder (removed
    afterwards). Returns the :class:`Image`; raises :class:`FlashError` with a one-line
    message.
    """
    spec = board_spec(board)
    if not dry_run:
        _check_port(port)
        mpremote = mpremote if mpremote is not None else mpremote_argv()
    with tempfile.TemporaryDirectory(prefix="garment-flash-") as tmp:
        root = Path(out_dir) if out_dir else Path(tmp) / "image"
        image = build_image(spec.name, root, firmware=firmware)
        n_native = sum(f.native for f in image.files)
        echo(
            f"garmentfw {image.version} for {spec.name} ({spec.arch}): {len(image.files)} files, "
            f"{n_native} with native code; left out: {', '.join(sorted(image.excluded)) or 'nothing'}"
        )
        if out_dir:
            echo(f"image in {root}")
        if dry_run:
            echo("dry run: nothing copied")
            return image
        echo(f"copying to {port} with mpremote ...")
        copy_image(image, port, mpremote=mpremote)
        echo(f"flashed and verified on {port}; soft reset done. Reset or power-cycle the board to start the firmware.")
    return image
