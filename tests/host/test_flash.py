"""``garment flash``: the compiled image per board, its manifest, errors, and a real copy.

The copy test drives the real ``mpremote`` against the MicroPython unix port behind a
pty. Findings that shaped it (MicroPython 1.29 unix port, mpremote 1.29):

- the unix port does implement the raw REPL (Ctrl-A) and raw-paste mode, so mpremote's
  ``exec`` and ``fs`` commands work against it;
- its output must go through a raw pty (``tty.setraw``): with the default ONLCR the pty
  turns ``\\r\\n`` into ``\\r\\r\\n`` and mpremote never sees its ``raw REPL; CTRL-B to exit\\r\\n>``;
- a soft reset (Ctrl-D on an empty raw-REPL line, which mpremote sends before its first
  command and for ``soft-reset``) makes the unix port print ``OK`` and *exit* instead of
  rebooting, so mpremote then waits for ``soft reboot`` forever. :class:`PtyBoard` plays
  the board's part there: it announces ``soft reboot``, starts a fresh interpreter in the
  same folder (the "flash") and puts it back in the raw REPL, as a board does;
- mpremote has no read timeout on a pty (``/dev/pts/*``: it blocks in ``read``), so a
  silent pty hangs it; ``garment flash`` bounds each mpremote run itself.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from garment import flash as fl
from garment.firmware_boards import BOARDS as ALL_BOARDS
from garment.firmware_boards import board_files
from garment.flash import BOARDS, MANIFEST_NAME, FlashError, build_image, flash, mpremote_commands
from garment.paths import firmware_root, micropython_exe, mpy_cross_exe

# MicroPython's .mpy header: b"M", version, (arch << 2) | sub-version, small-int bits.
# Architecture numbers (py/persistentcode.h MP_NATIVE_ARCH_*), checked against
# `mpy-cross -march=...` 1.29 output: x86 1, x64 2, armv6 3, armv6m 4, armv7m 5, armv7em 6,
# armv7emsp 7, armv7emdp 8, xtensa 9, xtensawin 10, rv32imc 11. A module without native
# code has byte 2 == 0 (no architecture: it loads anywhere).
MPY_ARCH = {"xtensawin": 10, "armv6m": 4, "armv7emsp": 7, "rv32imc": 11}
MPY_VERSION = 6


def _list_in_manifest(fw: Path, board: str, module: str) -> None:
    """Add ``lib/<module>`` to the copied tree's manifest of ``board``."""
    with (fw / "manifests" / f"{board}.py").open("a") as f:
        f.write(f"\nmodule({module!r}, base_path='../lib')\n")
def _quiet(_line: str) -> None:
    """flash() echoes progress; the tests keep quiet."""


def _mpy_sub_version() -> int:
    out = subprocess.run([str(mpy_cross_exe()), "--version"], capture_output=True, text=True).stdout
    return int(out.rsplit("mpy v", 1)[1].split(".")[1])  # "... emitting mpy v6.3"


def _firmware_copy(dest: Path) -> Path:
    shutil.copytree(firmware_root(), dest, ignore=shutil.ignore_patterns("__pycache__", "*.mpy"))
    return dest


@pytest.fixture(scope="module")
def fw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frozen copy of the firmware tree: others keep adding modules while tests run."""
    return _firmware_copy(tmp_path_factory.mktemp("fw") / "firmware")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, fw: Path) -> dict[str, fl.Image]:
    root = tmp_path_factory.mktemp("images")
    return {
        b: flash("/dev/unused", b, dry_run=True, out_dir=str(root / b), firmware=fw, echo=_quiet) for b in BOARDS
    }


# ---- the image ---------------------------------------------------------------------------
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_image_is_compiled_for_the_board(images: dict[str, fl.Image], fw: Path, board: str) -> None:
    image = images[board]
    arch = BOARDS[board].arch
    assert image.board.arch == arch and arch in MPY_ARCH
    sub = _mpy_sub_version()
    sources = {p.relative_to(fw).as_posix() for p in (fw / "lib").rglob("*.py") if "__pycache__" not in p.parts}
    on_board = {p.relative_to(image.root).as_posix() for p in image.root.rglob("*") if p.is_file()}

    # Every module is there, compiled; nothing is left as source under lib/.
    assert not [p for p in on_board if p.startswith("lib/") and p.endswith(".py")]
    for src in sources - set(image.excluded):
        assert src[:-3] + ".mpy" in on_board, f"{src} missing from the {board} image"
    # boot.py and main.py stay source, byte for byte.
    for name in ("boot.py", "main.py"):
        assert (image.root / name).read_bytes() == (fw / name).read_bytes()

    native = 0
    for mpy in image.root.rglob("*.mpy"):
        head = mpy.read_bytes()[:4]
        assert head[0:1] == b"M" and head[1] == MPY_VERSION, f"{mpy}: not a v{MPY_VERSION} .mpy: {head!r}"
        if head[2]:
            native += 1
            assert head[2] >> 2 == MPY_ARCH[arch], f"{mpy}: arch {head[2] >> 2}, want {MPY_ARCH[arch]} ({arch})"
            assert head[2] & 3 == sub, f"{mpy}: sub-version {head[2] & 3}, want {sub}"
    # The firmware's viper/native hot paths really were compiled to machine code.
    assert native >= 3, f"only {native} modules with native code for {board}"


def _imports(source: str) -> set[str]:
    """Every module name a Python source imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_esp32s3_image_holds_no_simulator_module(images: dict[str, fl.Image], fw: Path) -> None:
    """What ``garment flash --board esp32s3`` copies: no module of the simulator, none importing one."""
    image = images["esp32s3"]
    sim_only = {e.target for e in board_files("sim", fw)} - {e.target for e in board_files("esp32s3", fw)}
    assert "garmentfw/sim/ads1299_model.py" in sim_only and "garmentfw/boards/sim.py" in sim_only
    sim_modules = {t[:-3].replace("/", ".").removesuffix(".__init__") for t in sim_only}
    copied = [f for f in image.files if f.source.startswith("lib/") or f.source in ("boot.py", "main.py")]
    assert copied and len(copied) == len(image.files)
    for f in copied:
        target = f.source.removeprefix("lib/")
        assert target not in sim_only, f"{f.path}: a simulator module in the esp32s3 image"
        used = _imports((fw / f.source).read_text()) & sim_modules
        assert not used, f"{f.source} (in the esp32s3 image) imports the simulator: {sorted(used)}"
    for src in sim_only:
        assert f"lib/{src}" in image.excluded


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_image_holds_exactly_its_manifest(images: dict[str, fl.Image], fw: Path, board: str) -> None:
    image = images[board]
    listed = {e.target for e in board_files(board, fw)}
    copied = {f.source.removeprefix("lib/") for f in image.files}
    assert copied == listed
    hal = f"garmentfw/boards/{BOARDS[board].hal}.py"
    assert hal in copied
    other_hals = {f"garmentfw/boards/{b.hal}.py" for b in ALL_BOARDS.values()} - {hal}
    assert not (copied & other_hals), f"{board}: HAL modules of other boards: {sorted(copied & other_hals)}"


def test_every_firmware_module_is_in_some_manifest(fw: Path) -> None:
    """A new module that no board lists would silently never reach a board: the drift check."""
    listed = {e.source.resolve() for b in ALL_BOARDS for e in board_files(b, fw)}
    tree = {p.resolve() for p in fw.rglob("*.py") if "__pycache__" not in p.parts and "manifests" not in p.parts}
    missing = sorted(p.relative_to(fw.resolve()).as_posix() for p in tree - listed)
    assert not missing, "firmware modules no board manifest (firmware/manifests/*.py) lists: " + ", ".join(missing)


def test_manifest_errors_are_one_line(tmp_path: Path) -> None:
    fw = _firmware_copy(tmp_path / "fw")
    _list_in_manifest(fw, "rp2040", "garmentfw/not_there.py")
    with pytest.raises(FlashError, match=r"rp2040\.py: .*garmentfw/not_there\.py does not exist") as e:
        build_image("rp2040", tmp_path / "img", firmware=fw)
    assert "\n" not in str(e.value)
    (fw / "manifests" / "rp2040.py").write_text("include('core.py')\nrequire('aioble')\n")
    with pytest.raises(FlashError, match=r"require\(\) is not supported"):
        build_image("rp2040", tmp_path / "img", firmware=fw)
    (fw / "manifests" / "rp2040.py").write_text("include('core.py')\n")
    with pytest.raises(FlashError, match=r"the rp2040 manifest lists no HAL module \(garmentfw/boards/rp2040\.py\)"):
        build_image("rp2040", tmp_path / "img", firmware=fw)


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_manifest(images: dict[str, fl.Image], fw: Path, board: str) -> None:
    image = images[board]
    man = json.loads((image.root / MANIFEST_NAME).read_text())
    version_line = next(
        s for s in (fw / "lib/garmentfw/__init__.py").read_text().splitlines() if s.startswith("VERSION")
    )
    assert man["version"] == version_line.split("=", 1)[1].strip().strip("\"'")
    assert (man["board"], man["arch"], man["format"]) == (board, BOARDS[board].arch, 1)
    assert "mpy v6." in man["mpy_cross"]
    listed = {f["path"]: f for f in man["files"]}
    on_disk = {p.relative_to(image.root).as_posix() for p in image.root.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {MANIFEST_NAME}
    for path, f in listed.items():
        data = (image.root / path).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["size"] == len(data)
        assert f["native"] == (path.endswith(".mpy") and data[2] != 0)
    assert set(man["excluded"]) == set(image.excluded)


def test_build_is_reproducible(tmp_path: Path) -> None:
    fw = _firmware_copy(tmp_path / "fw")  # a frozen copy: the tree may change under a test
    one = build_image("rp2040", tmp_path / "one", firmware=fw)
    two = build_image("rp2040", tmp_path / "two", firmware=fw)
    assert one.manifest() == two.manifest()
    assert (one.root / MANIFEST_NAME).read_bytes() == (two.root / MANIFEST_NAME).read_bytes()


def test_modules_no_manifest_lists_are_left_out(tmp_path: Path) -> None:
    fw = _firmware_copy(tmp_path / "fw")
    (fw / "lib/garmentfw/boards/nrf52.py").write_text("class Board:\n    NAME = 'nrf52'\n")
    image = build_image("esp32s3", tmp_path / "img", firmware=fw)
    assert image.excluded["lib/garmentfw/boards/nrf52.py"] == "not in the esp32s3 manifest"
    assert not (image.root / "lib/garmentfw/boards/nrf52.mpy").exists()
    assert (image.root / "lib/garmentfw/boards/ble_link.mpy").exists()


# ---- errors ----------------------------------------------------------------------------
def test_broken_module_names_the_file(tmp_path: Path) -> None:
    fw = _firmware_copy(tmp_path / "fw")
    (fw / "lib/garmentfw/broken_mod.py").write_text("x = 1\ndef f(:\n    pass\n")
    _list_in_manifest(fw, "rp2040", "garmentfw/broken_mod.py")
    with pytest.raises(FlashError) as e:
        flash("/dev/unused", "rp2040", dry_run=True, firmware=fw, echo=_quiet)
    msg = str(e.value)
    assert "lib/garmentfw/broken_mod.py" in msg and "line 2" in msg and "SyntaxError" in msg, msg
    assert "\n" not in msg


def test_viper_type_error_names_the_file(tmp_path: Path) -> None:
    fw = _firmware_copy(tmp_path / "fw")
    (fw / "lib/garmentfw/bad_viper.py").write_text(
        "import micropython\n@micropython.viper\ndef f(p: ptr8) -> int:\n    return p + 1.5\n"
    )
    _list_in_manifest(fw, "esp32s3", "garmentfw/bad_viper.py")
    with pytest.raises(FlashError, match=r"lib/garmentfw/bad_viper\.py.*ViperTypeError"):
        flash("/dev/unused", "esp32s3", dry_run=True, firmware=fw, echo=_quiet)


def test_broken_main_py_stops_the_flash(tmp_path: Path) -> None:
    fw = _firmware_copy(tmp_path / "fw")
    (fw / "main.py").write_text("from garmentfw.app import main\nmain(\n")
    with pytest.raises(FlashError, match=r"failed on main\.py"):
        flash("/dev/unused", "esp32s3", dry_run=True, firmware=fw, echo=_quiet)


def test_unknown_board() -> None:
    with pytest.raises(FlashError, match="unknown board 'esp8266'"):
        flash("/dev/unused", "esp8266", dry_run=True, echo=_quiet)


def test_out_dir_is_never_clobbered(tmp_path: Path) -> None:
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    with pytest.raises(FlashError, match="not empty"):
        flash("/dev/unused", "rp2040", dry_run=True, out_dir=str(keep), echo=_quiet)
    assert (keep / "notes.txt").read_text() == "precious"
    # A previous image is replaced, stale files included.
    out = tmp_path / "img"
    flash("/dev/unused", "esp32s3", dry_run=True, out_dir=str(out), echo=_quiet)
    flash("/dev/unused", "rp2040", dry_run=True, out_dir=str(out), echo=_quiet)
    assert not (out / "lib/garmentfw/boards/esp32s3.mpy").exists()
    # So is the remains of a build that failed half-way.
    fw = _firmware_copy(tmp_path / "fw")
    (fw / "lib/garmentfw/zz_broken.py").write_text("def f(:\n")
    _list_in_manifest(fw, "rp2040", "garmentfw/zz_broken.py")
    with pytest.raises(FlashError):
        flash("/dev/unused", "rp2040", dry_run=True, out_dir=str(out), firmware=fw, echo=_quiet)
    assert not (out / MANIFEST_NAME).exists()
    flash("/dev/unused", "rp2040", dry_run=True, out_dir=str(out), echo=_quiet)
    assert (out / MANIFEST_NAME).exists() and not (out / fl.BUILDING_MARKER).exists()


def test_missing_port(tmp_path: Path) -> None:
    with pytest.raises(FlashError, match="serial port /dev/ttyGARMENT9 not found"):
        flash("/dev/ttyGARMENT9", "rp2040", out_dir=str(tmp_path / "img"), echo=_quiet)


def test_mpremote_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/bin/python")
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(FlashError, match="mpremote not found"):
        fl.mpremote_argv()


@pytest.mark.parametrize(
    "stderr,expected",
    [
        ("mpremote: failed to access /dev/ttyACM0 (it may be in use by another program)\n",
         "cannot open /dev/ttyACM0: no such port, or it is in use by another program"),
        ("Traceback (most recent call last):\n  ...\nmpremote.transport.TransportError: could not enter raw repl\n",
         "the board on /dev/ttyACM0 does not answer MicroPython's raw REPL"),
        ("mpremote: cp: No space left on device.\n", "mpremote failed on /dev/ttyACM0: mpremote: cp: No space left"),
    ],
)
def test_mpremote_failures_are_one_line(tmp_path: Path, images: dict[str, fl.Image], stderr: str, expected: str) -> None:
    fake = tmp_path / "fake_mpremote.py"
    fake.write_text(f"import sys\nsys.stderr.write({stderr!r})\nsys.exit(1)\n")
    port = tmp_path / "ttyACM0"
    port.touch()
    with pytest.raises(FlashError) as e:
        fl.copy_image(images["rp2040"], str(port), mpremote=[sys.executable, str(fake)])
    msg = str(e.value).replace(str(port), "/dev/ttyACM0")
    assert msg.startswith(expected) and "\n" not in msg, msg


def test_silent_port_times_out(tmp_path: Path, images: dict[str, fl.Image]) -> None:
    fake = tmp_path / "hang.py"
    fake.write_text("import time\ntime.sleep(30)\n")
    port = tmp_path / "ttyACM0"
    port.touch()
    with pytest.raises(FlashError, match="timed out after 1 s"):
        fl.copy_image(images["rp2040"], str(port), mpremote=[sys.executable, str(fake)], timeout=1)


def _split_plus(args: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for a in args:
        if a == "+":
            out.append([])
        else:
            out[-1].append(a)
    return out


def test_mpremote_command_lines(images: dict[str, fl.Image]) -> None:
    image = images["esp32s3"]
    first, second = mpremote_commands("/dev/ttyACM0", image)
    assert first[:3] == ["connect", "/dev/ttyACM0", "exec"]
    prep = first[3]
    assert "'main.py'" in prep and "'lib/garmentfw'" in prep and "os.mkdir(\"lib\")" in prep
    steps = [" ".join(cmd) for cmd in _split_plus(first)]
    assert steps[1] == f"fs cp -r {image.root / 'lib' / 'garmentfw'} :lib/"
    assert f"fs cp {image.root / 'boot.py'} :boot.py" in steps
    assert f"fs cp {image.root / MANIFEST_NAME} :{MANIFEST_NAME}" in steps
    assert steps[-1].startswith("exec ") and "GARMENT-VERIFY" in steps[-1]
    assert "main.py" not in " ".join(steps[1:])  # main.py only in the second run, after verification
    assert second[:6] == ["connect", "/dev/ttyACM0", "fs", "cp", str(image.root / "main.py"), ":main.py"]
    assert second[-2:] == ["+", "soft-reset"]


# ---- a real copy: mpremote -> pty -> MicroPython unix port --------------------------------
class PtyBoard:
    """The MicroPython unix port behind a pty, standing in for a board on a serial port.

    ``port`` is the pty mpremote opens; ``fs`` is the board's flash (the interpreter's
    working directory). A relay thread joins the two ptys and turns the interpreter's
    exit on a raw-REPL Ctrl-D into a board's soft reboot (see the module docstring).
    """

    def __init__(self, fs: Path) -> None:
        self.fs = fs
        self.reboots = 0
        self._host, host_slave = os.openpty()
        tty.setraw(host_slave)
        self._host_slave = host_slave  # held open: the pty lives between mpremote runs
        self.port = os.ttyname(host_slave)
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dev = -1
        self._start()
        self._drain_until(b">>> ")
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _start(self) -> None:
        dev, dev_slave = os.openpty()
        tty.setraw(dev_slave)
        self._proc = subprocess.Popen(
            [str(micropython_exe()), "-i"], stdin=dev_slave, stdout=dev_slave, stderr=dev_slave, cwd=self.fs
        )
        os.close(dev_slave)
        self._dev = dev

    def _drain_until(self, token: bytes, timeout: float = 10.0) -> None:
        got = b""
        end = time.monotonic() + timeout
        while token not in got:
            if time.monotonic() > end:
                raise RuntimeError(f"unix port: no {token!r} in {got!r}")
            if select.select([self._dev], [], [], 0.1)[0]:
                got += os.read(self._dev, 4096)

    def _soft_reboot(self) -> None:
        os.close(self._dev)
        os.write(self._host, b"soft reboot\r\n")
        self._start()
        self._drain_until(b">>> ")  # the new interpreter's banner: a board prints none here
        os.write(self._dev, b"\x01")  # back in the raw REPL, as after a board's soft reset
        self.reboots += 1

    def _relay(self) -> None:
        while not self._stop.is_set():
            assert self._proc is not None
            if self._proc.poll() is not None:
                # Drain the interpreter's last words ("OK"), then reboot.
                while select.select([self._dev], [], [], 0)[0]:
                    try:
                        data = os.read(self._dev, 4096)
                    except OSError:
                        break
                    if not data:
                        break
                    os.write(self._host, data)
                self._soft_reboot()
                continue
            ready = select.select([self._dev, self._host], [], [], 0.05)[0]
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue  # the interpreter just exited: handled above
                os.write(self._host if fd == self._dev else self._dev, data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)
        for fd in (self._dev, self._host, self._host_slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def pty_board(tmp_path: Path) -> Iterator[PtyBoard]:
    fs = tmp_path / "board_fs"
    fs.mkdir()
    board = PtyBoard(fs)
    try:
        yield board
    finally:
        board.close()


@pytest.mark.timeout(120)
def test_flash_over_mpremote_to_the_unix_port(pty_board: PtyBoard, tmp_path: Path) -> None:
    fs = pty_board.fs
    # A board with a previous firmware: a stale module (a .py would shadow the new .mpy), a
    # main.py, and data that is not firmware (calibration) and must survive.
    (fs / "lib/garmentfw").mkdir(parents=True)
    (fs / "lib/garmentfw/dsp.py").write_text("raise ImportError('stale')\n")
    (fs / "main.py").write_text("old\n")
    (fs / "calibration.bin").write_bytes(b"\x01\x02")

    image = flash(pty_board.port, "esp32s3", out_dir=str(tmp_path / "img"), echo=_quiet)

    on_board = {p.relative_to(fs).as_posix(): p for p in fs.rglob("*") if p.is_file()}
    assert "lib/garmentfw/dsp.py" not in on_board
    assert (fs / "calibration.bin").read_bytes() == b"\x01\x02"
    for f in image.files:
        assert hashlib.sha256(on_board[f.path].read_bytes()).hexdigest() == f.sha256, f.path
    assert (fs / MANIFEST_NAME).read_bytes() == image.manifest_path.read_bytes()
    assert set(on_board) == {f.path for f in image.files} | {MANIFEST_NAME, "calibration.bin"}
    # mpremote soft-reset the board: before its first command (twice: two runs) and at the end.
    assert pty_board.reboots == 3
