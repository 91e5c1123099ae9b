"""docs/API.md runs as written: its ``python`` blocks, in order, in one interpreter, in a
scratch folder (the page is this test's input, so its example cannot drift)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "API.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_api_doc_example_runs(tmp_path: Path) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    script = tmp_path / "api_example.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    assert "Traceback" not in p.stderr and "Warning" not in p.stderr, p.stderr[-3000:]
    assert (tmp_path / "gestures.png").stat().st_size > 10_000 and (tmp_path / "gestures.gmdl").is_file()
    assert re.search(r"\d+ pulses, ramped from \d+ uA to \d+ uA", p.stdout), p.stdout[-2000:]
