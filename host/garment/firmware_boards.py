"""The boards the firmware runs on, and the module list each one declares in its manifest.

Each board has one manifest, ``firmware/manifests/<board>.py``, written with the calls of
micropython-lib's ``manifest.py`` files (``include()``, ``package()``, ``module()``,
``metadata()``), so the same file also reads as a MicroPython frozen manifest. The
manifest is the only place that says which modules a board gets: ``garment flash``, the
mpy-cross build test, the type-check test and the qemu build all read it through
:func:`board_files`; no file-name rules. The simulator (``garmentfw/sim``) is listed only
by the ``sim`` board's manifest.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from garment import paths

__all__ = ["BOARDS", "BoardSpec", "ManifestEntry", "ManifestError", "board_files", "manifest_path", "read_manifest"]


class ManifestError(Exception):
    """A manifest is wrong (missing file, unsupported call, clash); one line for the user."""


@dataclass(frozen=True)
class BoardSpec:
    """A board: its native-code architecture, MicroPython port and HAL module."""

    name: str
    #: ``mpy-cross -march`` value: the CPU the native/viper code is compiled for.
    arch: str
    #: The MicroPython port (``sys.platform`` on the board).
    port: str
    #: The HAL module ``garmentfw.app`` loads on this board (``garmentfw/boards/<hal>.py``).
    hal: str
    #: The ``micropython-<stubs>-stubs`` package its own modules are type-checked against.
    stubs: str
    description: str
    #: ``garment flash`` can copy it to a board over mpremote.
    flashable: bool = True


#: Every board, one table: flash, the build and type-check tests and the qemu build read it.
BOARDS: dict[str, BoardSpec] = {
    b.name: b
    for b in (
        BoardSpec("esp32s3", "xtensawin", "esp32", "esp32s3", "esp32",
                  "ESP32-S3 (reference board: ADS1299 AFE + stimulator, USB + BLE)"),
        BoardSpec("rp2040", "armv6m", "rp2", "rp2040", "rp2", "Raspberry Pi RP2040 (Cortex-M0+)"),
        BoardSpec("rp2350", "armv7emsp", "rp2", "rp2350", "rp2",
                  "Raspberry Pi Pico 2 W: RP2350 Arm cores (Cortex-M33) + CYW43439 BLE"),
        BoardSpec("rp2350-riscv", "rv32imc", "rp2", "rp2350", "rp2",
                  "Raspberry Pi Pico 2 W: RP2350 RISC-V cores (Hazard3) + CYW43439 BLE"),
        BoardSpec("sim", "x64", "unix", "sim", "unix",
                  "the simulated garment on the MicroPython unix port", flashable=False),
        # No qemu stubs package exists; its HAL uses only what the unix stubs also type.
        BoardSpec("qemu", "armv7emdp", "qemu", "qemu", "unix",
                  "the garment on an emulated Cortex-M7 (MicroPython qemu port, frozen in)", flashable=False),
    )
}


@dataclass(frozen=True)
class ManifestEntry:
    """One module of a board's image: where it goes and where its source is."""

    #: Path on the board relative to ``sys.path``'s ``lib`` (``garmentfw/dsp.py``), or
    #: ``boot.py`` / ``main.py`` for the entry scripts at the flash root.
    target: str
    source: Path


def manifest_path(board: str, firmware: Path | None = None) -> Path:
    """``firmware/manifests/<board>.py`` (``firmware`` defaults to the shipped tree)."""
    root = Path(firmware) if firmware is not None else paths.firmware_root()
    return root / "manifests" / f"{board}.py"


def read_manifest(path: Path) -> list[ManifestEntry]:
    """The modules a manifest declares (includes followed), in declaration order."""
    entries: dict[str, ManifestEntry] = {}
    _run(Path(path), entries, ())
    return list(entries.values())


def board_files(board: str, firmware: Path | None = None) -> list[ManifestEntry]:
    """The modules of ``board``'s image, read from its manifest."""
    if board not in BOARDS:
        raise ManifestError(f"unknown board '{board}' (known: {', '.join(BOARDS)})")
    path = manifest_path(board, firmware)
    if not path.is_file():
        raise ManifestError(f"board '{board}' has no manifest ({path})")
    return read_manifest(path)


def _run(path: Path, entries: dict[str, ManifestEntry], stack: tuple[Path, ...]) -> None:
    path = path.resolve()
    if path in stack:
        raise ManifestError(f"{path}: included from itself ({' -> '.join(p.name for p in stack)})")
    try:
        text = path.read_text()
    except OSError as e:
        raise ManifestError(f"cannot read manifest {path}: {e.strerror}") from None
    here = path.parent

    def add(target: PurePosixPath, source: Path) -> None:
        if source.suffix != ".py":
            raise ManifestError(f"{path}: {source} is not a .py module")
        if not source.is_file():
            raise ManifestError(f"{path}: {source} does not exist")
        key = target.as_posix()
        old = entries.get(key)
        if old is not None and old.source != source:
            raise ManifestError(f"{path}: {key} comes from both {old.source} and {source}")
        entries[key] = ManifestEntry(key, source)

    def module(module_path: str, base_path: str = ".", opt: int | None = None) -> None:
        base = (here / base_path).resolve()
        add(PurePosixPath(module_path), base / module_path)

    def package(package_path: str, files: tuple[str, ...] | list[str] | None = None,
                base_path: str = ".", opt: int | None = None) -> None:
        if files is None:
            # MicroPython would take every file found; a garment manifest names each one.
            raise ManifestError(f"{path}: package({package_path!r}) must list its files")
        base = (here / base_path).resolve()
        for f in files:
            add(PurePosixPath(package_path, f), base / package_path / f)

    def include(manifest: str, **_kwargs: object) -> None:
        target = here / manifest
        _run(target / "manifest.py" if target.is_dir() else target, entries, (*stack, path))

    def metadata(description: str | None = None, version: str | None = None,
                 license: str | None = None, author: str | None = None) -> None:
        """Descriptive only."""

    def unsupported(name: str):  # noqa: ANN202 - a factory of refusing stand-ins
        def refuse(*_a: object, **_k: object) -> None:
            raise ManifestError(f"{path}: {name}() is not supported: the garment firmware freezes only its own modules")
        return refuse

    ns = {
        "module": module,
        "package": package,
        "include": include,
        "metadata": metadata,
        "require": unsupported("require"),
        "freeze": unsupported("freeze"),
        "options": unsupported("options"),
        "__file__": str(path),
    }
    try:
        exec(compile(text, str(path), "exec"), ns)  # noqa: S102 - the project's own manifests
    except ManifestError:
        raise
    except Exception as e:  # noqa: BLE001 - a broken manifest is one line for the user
        raise ManifestError(f"{path}: {type(e).__name__}: {e}") from None
