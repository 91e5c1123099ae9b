"""Bad input to the ``garment`` CLI: one clear line and a non-zero exit, never a traceback
or a silent success. A fuzz of every option's value (types, ranges, missing files) through
the real parser, the cases users met end to end, and ``garment sim``'s life and death."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from garment.cli import build_parser, main
from garment.commands.common import OneLineParser
from garment.protocol import wire
from garment.sim.tether import popen_tethered

GARMENT = [sys.executable, "-m", "garment.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: Any = subprocess.PIPE, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GARMENT, *args], capture_output=True, text=True, timeout=timeout, stdin=stdin)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("garment: error: "), stderr
    assert "internal error" not in lines[0], stderr  # bad input must never reach the catch-all
    return lines[0]


# ---- the fuzz: every value-taking option of every command, through the real parser ------------
def _commands() -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser by its full name (``bench latency`` included)."""
    out: dict[str, argparse.ArgumentParser] = {}

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs and name:
            out[name] = p
        for a in subs:
            for n, sp in a.choices.items():
                walk(sp, f"{name} {n}".strip())

    walk(build_parser(), "")
    return out


def _required_argv(p: argparse.ArgumentParser, files: dict[str, str]) -> tuple[list[str], dict[str, int]]:
    """The least command line ``p`` accepts (its positionals and required options, valid),
    and where each positional's value stands in it."""
    argv: list[str] = []
    where: dict[str, int] = {}
    for a in p._actions:
        if a.option_strings and not a.required:
            continue
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        argv += a.option_strings[:1]
        if not a.option_strings:
            where[a.dest] = len(argv)
        argv.append(_valid_value(a, files))
    return argv, where


def _valid_value(a: argparse.Action, files: dict[str, str]) -> str:
    if a.choices:
        return str(next(iter(a.choices)))
    name = getattr(a.type, "__name__", "")
    if name == "file":
        return files["gmdl"] if a.dest == "model" else files["bdf"]
    if name == "folder":
        return files["dir"]
    if name == "output file":
        return files["out"] + getattr(a.type, "suffixes", (".bdf",))[0]
    if a.dest == "amplitude":
        return "5"
    if a.dest == "port":
        return "/dev/ttyACM0"
    return "1"


#: what each option may hold once the parser has accepted it (the fuzz's oracle); options not
#: listed are checked generically (numbers finite, errors one line)
DOMAIN: dict[str, Callable[[Any], bool]] = {
    "sim --port": lambda v: v is None or 1 <= v <= 65535,
    "sim --rig-port": lambda v: v is None or 1 <= v <= 65535,
    "stream --seconds": lambda v: 0 < v < math.inf,
    "stream --channels": lambda v: v is None or (1 <= v <= wire.MAX_EMG_CHANNELS and isinstance(v, int)),
    "stream --fs": lambda v: v is None or v in wire.ALLOWED_FS + wire.HD_FS,
    "stream --out": lambda v: v.lower().endswith(".bdf"),
    "scan --timeout": lambda v: 0 < v < math.inf,
    "phantom --seconds": lambda v: 0 < v <= 3600,
    "phantom --fs": lambda v: 250 <= v <= 20000,
    "phantom --channels": lambda v: 1 <= v <= 8 and isinstance(v, int),
    "phantom --seed": lambda v: v >= 0 and isinstance(v, int),
    "phantom --out": lambda v: v.lower().endswith(".bdf"),
    "report --out": lambda v: v.lower().endswith(".png"),
    "train --window-ms": lambda v: 0 < v <= 10000,
    "train --increment-ms": lambda v: 0 < v <= 10000,
    "train --vote": lambda v: 1 <= v <= 32,
    "train --out": lambda v: v is None or v.lower().endswith(".gmdl"),
    "train --context": lambda v: 1 <= v <= 8,
    "train --context-step": lambda v: 1 <= v <= 8,
    "train --hidden": lambda v: 1 <= v <= 256,
    "train --reject-margin": lambda v: 0 <= v <= 1000,
    "train --cv-blocks": lambda v: 2 <= v <= 20,
    "train recordings": lambda v: all(Path(p).is_file() for p in v),
    "evaluate recordings": lambda v: all(Path(p).is_file() for p in v),
    "evaluate --model": lambda v: Path(v).is_file(),
    "upload model": lambda v: Path(v).is_file(),
    "import src": lambda v: Path(v).is_dir(),
    "stim --channel": lambda v: 0 <= v < wire.MAX_CHANNELS,
    "stim --amplitude": lambda v: 0 < v < math.inf,
    "stim --width": lambda v: v is None or v >= 1,
    "stim --freq": lambda v: v is None or v >= 1,
    "stim --max-seconds": lambda v: 0 < v <= 60,
    "bench latency --trials": lambda v: v >= 1,
    "plot recording": lambda v: Path(v).is_file(),
    "ride --cadence": lambda v: 10 <= v <= 150,
    "ride --minutes": lambda v: 0 < v <= 120,
    "ride --seed": lambda v: v >= 0 and isinstance(v, int),
    "ride --plot": lambda v: v is None or v.lower().endswith(".png"),
    "plot --out": lambda v: v is None or v.lower().endswith(".png"),
    "evaluate --plot": lambda v: v is None or v.lower().endswith(".png"),
    "bench latency --plot": lambda v: v is None or v.lower().endswith(".png"),
    "calibrate --channel": lambda v: 0 <= v < wire.MAX_CHANNELS,
    "calibrate --sensory": lambda v: v is None or 0 < v < math.inf,
    "calibrate --motor": lambda v: v is None or 0 < v < math.inf,
    "calibrate --max": lambda v: v is None or 0 < v < math.inf,
    "calibrate --area": lambda v: v is None or 0 < v <= 655.35,
}

FUZZ_VALUES = ["", " ", "x", "1x", "nan", "NaN", "inf", "-inf", "1e309", "-1e309", "-1", "-0", "0", "0.0",
               "1e-9", "0.5", "1", "2", "7", "8", "9", "50", "60", "100", "250", "2000", "2048", "3600",
               "3601", "65535", "65536", "1e6", "99999999999999999999", "0x10", "１", "--", "-", "/",
               "/nonexistent/x.bdf", "/nonexistent/m.gmdl", "rec.txt", "m.txt"]


_PARSER = build_parser()


def _parse(argv: list[str]) -> tuple[int | None, argparse.Namespace | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    OneLineParser.json_errors = "--json" in argv
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ns = _PARSER.parse_args(argv)
            code = None
        except SystemExit as e:
            ns, code = None, int(e.code or 0)
    OneLineParser.json_errors = False
    return code, ns, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("fuzz")
    (d / "r.bdf").write_bytes(b"0")
    (d / "m.gmdl").write_bytes(b"GMDL")
    (d / "sub").mkdir()
    return {"bdf": str(d / "r.bdf"), "gmdl": str(d / "m.gmdl"), "dir": str(d / "sub"), "out": str(d / "o")}


def test_fuzz_every_option_value(files: dict[str, str]) -> None:
    rng = random.Random(15)
    extra = [files["dir"], files["bdf"], files["gmdl"]] + [
        rng.choice(["", "-"]) + "".join(rng.choice("0123456789.e-+xn/") for _ in range(rng.randint(1, 6)))
        for _ in range(40)]
    checked = refused = 0
    for cmd, p in _commands().items():
        req, where = _required_argv(p, files)
        base = cmd.split() + req
        code, ns, _, err = _parse(base)
        assert code is None, (cmd, base, err)  # the base command line itself is valid
        for a in p._actions:
            if isinstance(a, argparse._HelpAction) or a.nargs == 0:
                continue
            key = f"{cmd} {a.option_strings[0] if a.option_strings else a.dest}"
            for value in FUZZ_VALUES + extra:
                if a.option_strings:
                    argv = base + [f"{a.option_strings[0]}={value}"]
                else:  # a positional: the fuzzed value where the valid one stood
                    argv = list(base)
                    argv[len(cmd.split()) + where[a.dest]] = value
                code, ns, out, err = _parse(argv)
                checked += 1
                if code is not None:
                    refused += 1
                    assert code == 2 and out == "", (argv, code, out)
                    line = one_line(err)
                    assert f"garment {cmd}" in line or "garment:" in line, line
                    continue
                v = getattr(ns, a.dest)
                for x in v if isinstance(v, list) else [v]:
                    if isinstance(x, float):
                        assert math.isfinite(x), (argv, v)
                if key in DOMAIN:
                    assert DOMAIN[key](v), (key, argv, v)
    assert checked > 1000 and refused > checked // 3, (checked, refused)


def test_fuzz_errors_are_json_objects_under_json(files: dict[str, str]) -> None:
    for argv in (["stream", "--json", "--seconds", "-1"], ["info", "--json", "--bogus"],
                 ["upload", "--json", "/nonexistent/m.gmdl"]):
        code, _, out, err = _parse(argv)
        assert code == 2
        one_line(err)
        obj = json.loads(out)
        assert set(obj) == {"error"} and obj["error"] in err, (out, err)


def test_every_domain_entry_names_a_real_option() -> None:
    cmds = _commands()
    for key in DOMAIN:
        cmd, _, opt = key.rpartition(" ")
        names = {o for a in cmds[cmd]._actions for o in (a.option_strings or [a.dest])}
        assert opt in names, key


def test_an_unexpected_failure_is_still_one_line(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import garment.cli as cli

    def boom(args: argparse.Namespace) -> int:
        raise ValueError("a defect")

    real = cli.build_parser

    def parser() -> argparse.ArgumentParser:
        p = real()
        p.set_defaults(func=boom)
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                a.choices["info"].set_defaults(func=boom)
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    monkeypatch.delenv("GARMENT_DEBUG", raising=False)
    assert main(["info", "--json"]) == 1
    cap = capsys.readouterr()
    assert "internal error: ValueError: a defect" in cap.err and len(cap.err.strip().splitlines()) == 1
    assert json.loads(cap.out)["error"].startswith("internal error")


# ---- the cases users met, end to end ---------------------------------------------------------
@pytest.mark.parametrize("argv,needle", [
    (["phantom", "rest", "--fs", "0", "--out", "x.bdf"], "--fs: 0 Hz: must be >= 250 Hz"),
    (["phantom", "rest", "--seconds", "0.0001", "--out", "x.bdf"], "not even two samples"),
    (["phantom", "rest", "--seconds", "nan", "--out", "x.bdf"], "not a finite number"),
    (["stream", "--seconds", "-1"], "--seconds: -1 s: must be > 0 s"),
    (["stream", "--fs", "123"], "--fs: invalid choice"),
    (["stream", "--out", "rec.txt", "--seconds", "1"], "must end in .bdf"),
    (["upload", "missing.gmdl"], "missing.gmdl: no such file"),
    (["train", "missing.bdf", "--out", "m.gmdl"], "missing.bdf: no such file"),
    (["stim", "--channel", "0", "--amplitude", "nan"], "not a finite number"),
    (["stim", "--channel", "0", "--amplitude", "5", "--max-seconds", "600"], "at most 60 s"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["calibrate", "--channel", "0", "--sensory", "12", "--motor", "10"], "the sensory threshold 12 mA is above the motor threshold 10 mA"),
    (["calibrate", "--channel", "0", "--sensory", "5"], "give both --sensory and --motor"),
])
def test_bad_input_is_one_line_and_refused(tmp_path: Path, argv: list[str], needle: str) -> None:
    p = subprocess.run([*GARMENT, *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert needle in one_line(p.stderr)
    assert not list(tmp_path.iterdir()), "a refused command wrote files"


@pytest.mark.parametrize("stdin,needle", [(None, "stdin is closed"), ("devnull", "stdin is /dev/null"),
                                          ("file", "stdin is a file")])
def test_stim_without_a_hold_refuses_before_connecting(tmp_path: Path, stdin: str | None, needle: str) -> None:
    """``--device socket://127.0.0.1:1`` answers nothing: the refusal comes before any connection."""
    argv = [*GARMENT, "stim", "--device", "socket://127.0.0.1:1", "--channel", "0", "--amplitude", "5"]
    if stdin is None:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=None,
                           preexec_fn=lambda: os.close(0))
    elif stdin == "devnull":
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    else:
        f = tmp_path / "keys"
        f.write_text("xxxx")
        with open(f) as fh:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=fh)
    assert p.returncode == 2
    line = one_line(p.stderr)
    assert needle in line and "nothing was sent" in line and "sleep 2 | garment stim" in line, line


def test_hil_suite_against_an_absent_device_says_so_in_one_line() -> None:
    p = subprocess.run([sys.executable, "-m", "pytest", "hil_tests", "--device", "serial:/dev/garment-not-here",
                        "-q", "-p", "no:cacheprovider"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode != 0
    text = (p.stdout + p.stderr).strip()
    assert text.splitlines() == [
        "ERROR: no garment at serial:/dev/garment-not-here: /dev/garment-not-here does not exist "
        "(is it plugged in?); nothing was tested (--device sim runs the simulated garment)"], text


# ---- garment sim: up on a chosen port, down with its firmware ---------------------------------
def _children(pid: int) -> list[int]:
    # of every thread: simulated garments are forked by a thread of their own (garment.sim.tether)
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            out += [int(x) for x in (task / "children").read_text().split()]
    return out


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` (not our child) has ended: its pidfd becomes readable."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def sigint_as_at_a_terminal() -> None:  # runs in the child between fork and exec
    """SIGINT with its default disposition, as a command started at a terminal has it: a
    harness started in the background (``cmd &`` in a script) passes SIGINT on ignored,
    and Python then installs no KeyboardInterrupt handler, so Ctrl-C could not be tested."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def garment_sim(*args: str) -> Iterator[tuple[subprocess.Popen[str], str, int]]:
    """``garment sim ARGS`` up: (process, its URL, its firmware's pid)."""
    # tethered: a test run killed outright takes this (and so its firmware) down
    proc = popen_tethered([*GARMENT, "sim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=sigint_as_at_a_terminal)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # printed once the firmware is up
        assert url.startswith("socket://"), (url, proc.stderr.read() if proc.stderr else "")
        (fw,) = _children(proc.pid)
        yield proc, url, fw
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_terminal_ctrl_c_reaches_the_host_and_not_its_simulated_garment() -> None:
    """Ctrl-C at a terminal signals the whole foreground process group. The firmware
    (Ctrl-C disabled by boot.py, so SIGINT kills it) must not be in the host's group, or
    it dies before the host ends in order and the user sees a lost link, exit 2."""
    from garment.sim import SimGarment

    with SimGarment(feed=False) as sim:
        assert sim.proc is not None
        assert os.getpgid(sim.proc.pid) != os.getpgrp()
        assert os.getsid(sim.proc.pid) != os.getsid(0)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sim_on_its_port_stops_with_its_firmware(sig: signal.Signals) -> None:
    port = _free_port()
    with garment_sim("--port", str(port)) as (proc, url, fw):
        assert url == f"socket://127.0.0.1:{port}"
        info = run("info", "--device", url, "--json")
        assert info.returncode == 0 and json.loads(info.stdout)["board"] == "sim", info.stderr
        taken = run("sim", "--port", str(port))
        assert taken.returncode == 2 and "Address already in use" in one_line(taken.stderr)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        assert _wait_exit(fw, 10), "the firmware outlived garment sim"


def test_sim_exits_non_zero_when_its_firmware_dies() -> None:
    with garment_sim() as (proc, _url, fw):
        os.kill(fw, signal.SIGKILL)
        assert proc.wait(timeout=30) == 1
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert "firmware was killed by SIGKILL" in err and "Traceback" not in err, err


def test_sim_killed_outright_takes_its_firmware_down() -> None:
    with garment_sim() as (proc, _url, fw):
        proc.kill()
        proc.wait()
        assert _wait_exit(fw, 10), "the firmware outlived a killed garment sim"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stream_stopped_early_saves_the_recording(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C (or a service manager's SIGTERM) ends a recording: saved, reported, exit 0."""
    out = tmp_path / "rec.bdf"
    spool = tmp_path / "rec.bdf.spool"
    proc = subprocess.Popen([*GARMENT, "stream", "--seconds", "120", "--out", str(out), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        fd = os.pidfd_open(proc.pid)
        try:  # until samples are on disk (the spool grows block by block), or the command ends
            while not (spool.exists() and spool.stat().st_size > 64_000):
                assert not select.select([fd], [], [], 0.1)[0], proc.communicate()
        finally:
            os.close(fd)
        proc.send_signal(sig)
        stdout, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    report = json.loads(stdout)
    assert report["samples"] > 0 and report["duration_s"] < 120 and "Traceback" not in err
    from garment.recordings import read_edf

    rec = read_edf(out)
    assert rec.n_samples == report["samples"] and not spool.exists()  # every sample that arrived
