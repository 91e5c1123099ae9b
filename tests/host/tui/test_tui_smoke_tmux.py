"""Smoke test as a user would do it: start the app in a real terminal (tmux), press
Enter to connect to the simulated garment, see samples flowing on the Live screen,
press space and see the E-STOP latched, quit."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from garment.paths import repo_root

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One private tmux server (its own socket) running one session."""

    def __init__(self, name: str) -> None:
        self.socket = f"garment-tui-{name}-{os.getpid()}"
        self.session = "smoke"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)

    def start(self, command: str, env: dict[str, str], cwd: Path) -> None:
        extra = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        p = self.run("new-session", "-d", "-s", self.session, "-x", "120", "-y", "40", "-c", str(cwd), *extra, command)
        assert p.returncode == 0, p.stderr

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session).stdout

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.session).returncode == 0

    def kill(self) -> None:
        self.run("kill-server")

    def wait(self, cond: Callable[[str], bool], timeout: float, what: str) -> str:
        """Poll the screen until ``cond(screen)`` holds (a condition with a deadline)."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if cond(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{text}")


def flowing(text: str) -> bool:
    m = re.search(r"rate\s+([\d,]+) S/s", text)
    return bool(m) and int(m.group(1).replace(",", "")) > 1000 and "µV rms" in text


def test_user_connects_sees_samples_stops_and_quits(tmp_path: Path) -> None:
    root = repo_root() or Path.cwd()
    env = {k.upper(): str(tmp_path / k) for k in ("xdg_config_home", "xdg_data_home", "xdg_state_home")}
    env["GARMENT_SECRETS_DIR"] = str(tmp_path / "secrets")
    tmux = Tmux("smoke")
    tmux.start(f"{sys.executable} -m garment.tui", env, root)
    try:
        tmux.wait(lambda s: "Simulated garment" in s and "E-STOP" in s, 30, "the Connect screen")
        tmux.keys("Enter")
        screen = tmux.wait(flowing, 40, "samples flowing on the Live screen")
        assert "L_RF" in screen and "±" in screen and "E-STOP (space)" in screen  # rows, scales, the stop
        tmux.keys("Space")
        screen = tmux.wait(lambda s: "E-STOP LATCHED" in s or "E-STOP NOT CONFIRMED" in s, 10, "the E-STOP state")
        assert "E-STOP LATCHED" in screen and "E-STOP NOT CONFIRMED" not in screen, screen
        tmux.keys("C-q")
        deadline = time.monotonic() + 20
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not tmux.alive(), "the app did not quit:\n" + tmux.screen()
    finally:
        tmux.kill()
    errors = tmp_path / "xdg_state_home" / "garment" / "log" / "tui-errors.log"
    assert not errors.exists(), errors.read_text()
