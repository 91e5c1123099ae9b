"""The qemu build's cache key and frozen manifest (no build here: test_mcu.py builds)."""
from __future__ import annotations

import shutil
from pathlib import Path

from garment.firmware_boards import board_files
from garment.qemu import build as qb


def _entries(tmp_path: Path):
    from garment.paths import firmware_root

    fw = tmp_path / "firmware"
    shutil.copytree(firmware_root(), fw, ignore=shutil.ignore_patterns("__pycache__", "*.mpy"))
    return fw, [e for e in board_files("qemu", fw) if e.target not in ("boot.py", "main.py")]


def test_frozen_manifest_names_every_qemu_module(tmp_path: Path) -> None:
    _, entries = _entries(tmp_path)
    text = qb.frozen_manifest_text(entries)
    assert "garmentfw/boards/qemu.py" in text and "garmentfw/sim/ads1299_model.py" in text
    assert "garmentfw/boards/esp32s3.py" not in text and "garmentfw/sim/tcp_link.py" not in text
    ns: dict[str, list[tuple[str, str]]] = {"seen": []}
    exec(text, {"module": lambda p, base_path: ns["seen"].append((p, base_path))})
    assert [p for p, _ in ns["seen"]] == [e.target for e in entries]
    for (p, base), e in zip(ns["seen"], entries):
        assert Path(base, p) == e.source


def test_every_firmware_module_a_frozen_one_imports_is_frozen_too(tmp_path: Path) -> None:
    """A module-level ``from garmentfw.x import`` of a module the manifest leaves out
    stops the garment at boot on the emulated core (ImportError before the link opens)."""
    import ast

    _, entries = _entries(tmp_path)
    frozen = {e.target for e in entries}
    missing = []
    for e in entries:
        for node in ast.parse(e.source.read_text()).body:  # module level: run at import
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("garmentfw."):
                    path = name.replace(".", "/")
                    if f"{path}.py" not in frozen and f"{path}/__init__.py" not in frozen:
                        missing.append(f"{e.target} imports {name}")
    assert not missing, missing


def test_key_follows_the_frozen_bytes_only(tmp_path: Path) -> None:
    fw, entries = _entries(tmp_path)
    archive = tmp_path / "src.tar.gz"
    archive.write_bytes(b"pretend source")
    board = qb.QEMU_BOARDS["MPS2_AN500"]
    text = qb.frozen_manifest_text(entries)
    k0 = qb.build_key(board, archive, text, entries)
    assert qb.build_key(board, archive, text, entries) == k0
    (fw / "lib/garmentfw/boards/esp32s3.py").write_text("# not frozen into the qemu build\n")
    assert qb.build_key(board, archive, text, entries) == k0
    dsp = next(e for e in entries if e.target == "garmentfw/dsp.py")
    dsp.source.write_text(dsp.source.read_text() + "\n# edited\n")
    assert qb.build_key(board, archive, text, entries) != k0
    archive.write_bytes(b"another source")
    k1 = qb.build_key(board, archive, text, entries)
    assert k1 != k0 and qb.build_key(qb.QEMU_BOARDS["MPS2_AN385"], archive, text, entries) != k1
