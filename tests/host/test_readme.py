"""Every command of the README's ``sh`` blocks, run as written and in order.

The README is this test's input, so its examples cannot drift from what works. The few
changes the test makes (documented in the README's Tests section, and nowhere else) keep it
fast and able to run beside other sessions: ``make X`` -> ``make -n X``; ``--seconds N``
above 3 -> 3; ``--trials N`` -> 3; port 7300 -> a free port; commands that run until
stopped are started in the background and stopped with Ctrl-C (SIGINT to their process
group, as a terminal sends it); commands for hardware that is not attached must say so in
one line.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from garment.sim.tether import popen_tethered

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared"
README_PORT = "7300"
MAX_SECONDS = 3
TRIALS = 3
TIMEOUT = 300

#: stderr lines that must never appear on a normal run: tracebacks, Python warnings of any
#: library, liblsl's log lines, the garment's own error line
NOISE = re.compile(r"Traceback|\b[A-Z]\w*Warning\b|warnings\.warn|\bINFO\||^garment: error", re.M)


@dataclass
class Line:
    lineno: int
    text: str


def sh_blocks(text: str) -> list[list[Line]]:
    """The command lines of every ```` ```sh ```` block, with their README line numbers."""
    blocks: list[list[Line]] = []
    current: list[Line] | None = None
    for i, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if current is None:
            if s == "```sh":
                current = []
        elif s.startswith("```"):
            blocks.append(current)
            current = None
        elif s and not s.startswith("#"):
            current.append(Line(i, s))
    assert current is None, "an sh block of the README is not closed"
    return blocks


def rewrite(cmd: str, port: int) -> str:
    """The documented changes, and only those."""
    cmd = re.sub(r"^make\s+", "make -n ", cmd)
    cmd = re.sub(r"--seconds\s+(\d+(?:\.\d+)?)",
                 lambda m: f"--seconds {min(float(m.group(1)), MAX_SECONDS):g}", cmd)
    cmd = re.sub(r"--trials\s+\d+", f"--trials {TRIALS}", cmd)
    cmd = re.sub(rf"\b{README_PORT}\b", str(port), cmd)
    if "--trials" not in cmd and re.search(r"\bgarment bench latency\b", cmd):
        cmd = cmd.replace("garment bench latency", f"garment bench latency --trials {TRIALS}", 1)
    return cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hardware(cmd: str) -> str | None:
    """What a hardware command names, as its error must (None: not a hardware command)."""
    if "/dev/ttyACM0" in cmd:
        return "/dev/ttyACM0"
    if re.search(r"\bgarment scan\b", cmd):
        return "Bluetooth"
    return None


class Session:
    """Runs README lines in a scratch folder, keeps background commands until the end."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = _free_port()
        self.background: list[tuple[Line, subprocess.Popen[str]]] = []
        bindir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
        self.env.pop("GARMENT_DEBUG", None)
        from garment.streaming.lsl import local_only_config

        # LSL discovery stays on this machine (a test must not publish on the lab's network)
        cfg = work.parent / "lsl_api.cfg"
        cfg.write_text(local_only_config(), encoding="ascii")
        self.env["LSLAPICFG"] = str(cfg)

    def where(self, line: Line, cmd: str) -> str:
        return f"README.md:{line.lineno}: {line.text}\n(ran: {cmd})"

    def cwd(self, cmd: str) -> Path:
        return ROOT if cmd.startswith(("make ", ".venv/")) else self.work

    def popen(self, cmd: str) -> subprocess.Popen[str]:
        # tethered: a test run killed outright takes the background commands down
        return popen_tethered(["bash", "-c", "exec " + cmd], cwd=self.cwd(cmd), env=self.env, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True,
                              # SIGINT as at a terminal, even under a harness started in
                              # the background (which passes it on ignored)
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def run(self, line: Line) -> None:
        cmd = rewrite(line.text, self.port)
        if re.match(r"garment sim\b", cmd):
            self.start_background(line, cmd)
        elif re.match(r"garment live\b", cmd):
            self.until_stopped(line, cmd, lines=2)
        elif _hardware(cmd):
            self.hardware(line, cmd, _hardware(cmd) or "")
        else:
            self.normal(line, cmd)

    def normal(self, line: Line, cmd: str) -> None:
        p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=self.cwd(cmd), env=self.env, text=True,
                           capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        where = self.where(line, cmd)
        assert p.returncode == 0, f"{where}\nexit {p.returncode}\n{p.stderr[-3000:]}"
        assert not NOISE.search(p.stderr), f"{where}\nstderr:\n{p.stderr[-3000:]}"
        if "--json" in cmd.split():
            out = p.stdout.strip().splitlines()
            assert len(out) == 1, f"{where}\nnot one JSON object:\n{p.stdout[-2000:]}"
            obj = json.loads(out[0])
            assert isinstance(obj, dict) and "error" not in obj, f"{where}\n{obj}"

    def start_background(self, line: Line, cmd: str) -> None:
        proc = self.popen(cmd)
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # printed once the garment is up
        assert url.startswith("socket://") or url.startswith("/dev/"), \
            f"{self.where(line, cmd)}\nno URL: {url!r} {proc.stderr.read() if proc.stderr else ''}"
        self.background.append((line, proc))

    def stop(self, line: Line, proc: subprocess.Popen[str], cmd: str) -> None:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at the terminal: the whole process group
        _, err = proc.communicate(timeout=60)
        where = self.where(line, cmd)
        assert proc.returncode == 0, f"{where}\nexit {proc.returncode} after Ctrl-C\n{err[-3000:]}"
        assert not NOISE.search(err), f"{where}\nstderr:\n{err[-3000:]}"

    def until_stopped(self, line: Line, cmd: str, lines: int) -> None:
        proc = self.popen(cmd)
        try:
            assert proc.stdout is not None
            got = [proc.stdout.readline() for _ in range(lines)]
            assert all(got), f"{self.where(line, cmd)}\nended early: {got} {proc.stderr.read() if proc.stderr else ''}"
            self.stop(line, proc, cmd)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def hardware(self, line: Line, cmd: str, names: str) -> None:
        if names.startswith("/dev/") and os.path.exists(names):
            # attached: touch it no more than a look (compile only / collect only)
            cmd += " --dry-run" if "garment flash" in cmd else " --collect-only -q"
            return self.normal(line, cmd)
        p = subprocess.run(["bash", "-c", cmd], cwd=self.cwd(cmd), env=self.env, text=True,
                           capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        if p.returncode == 0 and names == "Bluetooth":
            return  # an adapter is there: it scanned
        err = (p.stderr + p.stdout).strip().splitlines()
        where = self.where(line, cmd)
        assert p.returncode != 0, f"{where}\nsucceeded without {names}"
        assert len(err) == 1 and names in err[0] and "Traceback" not in p.stderr, \
            f"{where}\nnot one line naming {names}:\n{p.stderr[-3000:]}{p.stdout[-2000:]}"

    def close(self) -> None:
        while self.background:
            line, proc = self.background.pop()
            try:
                if proc.poll() is None:
                    self.stop(line, proc, rewrite(line.text, self.port))
                else:
                    raise AssertionError(f"{self.where(line, line.text)}\nit died: exit {proc.returncode}\n"
                                         f"{proc.stderr.read() if proc.stderr else ''}")
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def test_blocks_parse() -> None:
    blocks = sh_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 4 and all(blocks), blocks
    commands = [ln.text for b in blocks for ln in b]
    assert any(c.startswith("garment calibrate") for c in commands)  # the README's sequence calibrates
    assert rewrite("garment stream --seconds 600 --device socket://127.0.0.1:7300", 5) == \
        "garment stream --seconds 3 --device socket://127.0.0.1:5"
    assert rewrite("make test", 5) == "make -n test"
    assert rewrite("garment phantom rest --seconds 2.5 --out x.bdf", 5) == "garment phantom rest --seconds 2.5 --out x.bdf"


def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"the README's commands read the real recordings in {SHARED / 'data'}, not beside this clone")
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "shared").symlink_to(SHARED, target_is_directory=True)  # ../shared as from the root
    session = Session(work)
    try:
        for block in sh_blocks(README.read_text(encoding="utf-8")):
            for line in block:
                t0 = time.monotonic()
                session.run(line)
                print(f"README.md:{line.lineno}: {time.monotonic() - t0:5.1f} s  {line.text[:70]}")
    finally:
        session.close()
