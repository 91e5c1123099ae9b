"""docs/SAFETY.md names the tests that prove each control: every one of them must exist.

The doc says "every test id below is a pytest node id that exists and passes"; `make test`
runs them (they pass), and this test makes sure none of the named ids is a typo, a renamed
test or a deleted one, which would leave a hazard row citing nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "SAFETY.md"
MP_DIR = ROOT / "tests" / "firmware" / "mp"

# `path/test_x.py::test_name[param]` (the param, if any, is not checked)
_PATH_ID = re.compile(r"([A-Za-z0-9_/]+\.py)::([A-Za-z0-9_]+)")
# UP[script::test] = tests/firmware/test_unix_port.py::test_on_unix_port[script::test]
_UP_ID = re.compile(r"UP\[([A-Za-z0-9_]+)::([A-Za-z0-9_]+)\]")


def _defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _doc_ids() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    text = DOC.read_text(encoding="utf-8")
    up = [(s, t) for s, t in _UP_ID.findall(text) if s != "script"]
    paths = [(p, t) for p, t in _PATH_ID.findall(text) if not p.endswith("test_unix_port.py")]
    return paths, up


def test_the_doc_names_tests_for_every_row() -> None:
    paths, up = _doc_ids()
    # about a hundred ids today: a parse that finds few means the notation changed
    assert len(paths) + len(up) >= 80, (len(paths), len(up))


def test_every_pytest_id_in_the_safety_doc_exists() -> None:
    paths, _ = _doc_ids()
    missing = []
    for rel, name in sorted(set(paths)):
        f = ROOT / rel
        if not f.is_file():
            missing.append("%s (no such file)" % rel)
        elif name not in _defined_tests(f):
            missing.append("%s::%s" % (rel, name))
    assert not missing, "docs/SAFETY.md cites tests that do not exist: %s" % missing


def test_every_unix_port_id_in_the_safety_doc_exists() -> None:
    _, up = _doc_ids()
    missing = []
    for script, name in sorted(set(up)):
        f = MP_DIR / (script + ".py")
        if not f.is_file():
            missing.append("UP[%s] (no tests/firmware/mp/%s.py)" % (script, script))
        elif not re.search(r"^def %s\(" % name, f.read_text(encoding="utf-8"), re.M):
            # the unix-port runner collects top-level ``def test_...(`` only
            missing.append("UP[%s::%s]" % (script, name))
    assert not missing, "docs/SAFETY.md cites firmware tests that do not exist: %s" % missing
