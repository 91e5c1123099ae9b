"""Running the HIL suite (``pytest hil_tests --device URL``) and reading its output."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")
# "hil_tests/test_link.py::test_ping PASSED" (-v, classic progress style)
_RESULT = re.compile(r"^(?P<test>\S+::\S+)(?:\s+<-\s+\S+)?\s+(?P<outcome>PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
# "SKIPPED [1] hil_tests/x.py:12: reason" / "FAILED hil_tests/x.py::t - AssertionError" (-rA summary)
_SUMMARY = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\s")
_FINAL = re.compile(r"^=+ .*\b(passed|failed|error|errors|skipped|no tests ran)\b.* in [0-9.]+s")


@dataclass
class HilCounts:
    """Outcomes seen so far (one per test, as pytest -v reports them)."""

    counts: dict[str, int] = field(default_factory=lambda: {k: 0 for k in OUTCOMES})
    tests: dict[str, str] = field(default_factory=dict)
    final: str = ""

    def feed(self, line: str) -> str | None:
        """Account one output line; returns the outcome it reported (or None)."""
        m = _RESULT.match(line)
        if m:
            outcome = m.group("outcome")
            test = m.group("test")
            prev = self.tests.get(test)
            if prev is not None and prev != outcome and prev == "PASSED" and outcome == "ERROR":
                # a teardown error after a pass: pytest -v prints the test twice
                self.counts[prev] -= 1
            elif prev is not None:
                return outcome
            self.tests[test] = outcome
            self.counts[outcome] += 1
            return outcome
        if _FINAL.match(line):
            self.final = line.strip("= ").strip()
        return None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.counts["FAILED"] == 0 and self.counts["ERROR"] == 0 and self.counts["XPASS"] == 0

    def text(self) -> str:
        c = self.counts
        parts = [f"{c['PASSED']} passed", f"{c['FAILED']} failed", f"{c['ERROR']} errors", f"{c['SKIPPED']} skipped"]
        if c["XFAIL"] or c["XPASS"]:
            parts.append(f"{c['XFAIL']} xfailed, {c['XPASS']} xpassed")
        return ", ".join(parts)


def hil_command(path: str | Path, device: str, k: str = "") -> list[str]:
    """The pytest command line that runs the HIL suite at ``path`` against ``device``."""
    cmd = [sys.executable, "-u", "-m", "pytest", str(path), "--device", device, "-v", "-rA",
           "--color=no", "-p", "no:cacheprovider", "-o", "console_output_style=classic"]
    if k:
        cmd += ["-k", k]
    return cmd


def default_hil_path() -> Path | None:
    """``hil_tests/`` of the source checkout, if running from one."""
    from garment.paths import repo_root

    root = repo_root()
    if root is None:
        return None
    p = root / "hil_tests"
    return p if p.is_dir() else None


def k_expression(text: str) -> str:
    """The ``-k`` filter from what the user typed: ``a,b`` means ``a or b`` (space is
    the E-STOP key, so a filter with spaces cannot be typed)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return " or ".join(parts)
