"""HIL: run the hardware-in-the-loop suite (``pytest hil_tests --device URL``) in a
subprocess and show its output line by line with running pass/fail counts."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Label, RichLog, Static

from garment.tui.hil import HilCounts, default_hil_path, hil_command, k_expression
from garment.tui.screens.base import GarmentScreen
from garment.tui.widgets.inputs import SafeInput

OUTCOME_STYLE = {"PASSED": "green", "FAILED": "bold red", "ERROR": "bold red", "SKIPPED": "yellow",
                 "XFAIL": "yellow", "XPASS": "bold red"}


class HilScreen(GarmentScreen):
    MODE = "hil"
    BINDINGS = [Binding("ctrl+t", "run", "Run suite", priority=True), Binding("ctrl+x", "stop", "Stop", priority=True)]

    def __init__(self) -> None:
        super().__init__()
        self.counts = HilCounts()
        self.proc: asyncio.subprocess.Process | None = None
        self.running = False
        self.started = 0.0
        self.returncode: int | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Vertical(id="hil-body"):
            yield Static("Hardware-in-the-loop suite", classes="screen-title")
            with Vertical(classes="form"):
                with Horizontal():
                    yield Label("Device")
                    yield SafeInput(id="hil-device", placeholder="sim | serial:/dev/ttyACM0 | ble:ADDR")
                with Horizontal():
                    yield Label("Only tests (-k, a,b)")
                    yield SafeInput(id="hil-k", placeholder="all tests")
            with Horizontal(classes="buttons"):
                yield Button("Run suite (Ctrl+T)", id="hil-run", variant="primary")
                yield Button("Stop (Ctrl+X)", id="hil-stop", disabled=True)
            yield Static(id="hil-counts")
            yield RichLog(id="hil-output", wrap=False, markup=False, highlight=False, max_lines=20000)

    def on_mount(self) -> None:
        s = self.session
        dev = s.spec if s is not None and s.spec != "sim" else "sim"
        self.query_one("#hil-device", Input).value = dev
        self.show_counts()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "hil-run":
            self.action_run()
        elif event.button.id == "hil-stop":
            self.action_stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_run()

    def show_counts(self) -> None:
        c = self.counts
        t = Text(no_wrap=True)
        if self.running:
            t.append(f"RUNNING {time.monotonic() - self.started:5.1f} s  ", style="bold yellow")
        elif self.returncode is not None:
            t.append("PASSED  " if self.returncode == 0 else "FAILED  " if c.total else f"EXIT {self.returncode}  ",
                     style="bold green" if self.returncode == 0 else "bold red")
        for key, word in (("PASSED", "passed"), ("FAILED", "failed"), ("ERROR", "errors"), ("SKIPPED", "skipped")):
            t.append(f"{c.counts[key]} {word}", style=OUTCOME_STYLE[key] if c.counts[key] else "dim")
            t.append("  ")
        if c.final and not self.running:
            t.append(c.final, style="dim")
        self.query_one("#hil-counts", Static).update(t)

    # ---- running ---------------------------------------------------------------------
    def action_run(self) -> None:
        if self.running:
            self.garment_app.report("the HIL suite is already running", "warning")
            return
        device = self.query_one("#hil-device", Input).value.strip() or "sim"
        path = self.garment_app.hil_path or default_hil_path()
        if path is None:
            self.garment_app.report("HIL suite not found: run the companion from a source checkout "
                                    "(hil_tests/ beside host/)", "error")
            return
        s = self.session
        if s is not None and s.spec == device and device != "sim":
            from garment.tui.screens.dialogs import ConfirmScreen

            def answered(yes: bool | None) -> None:
                if yes:
                    self.garment_app.run_guarded(self._disconnect_and_run(Path(path), device), "HIL suite",
                                                 group="hil", exclusive=True)

            self.app.push_screen(ConfirmScreen(
                "Disconnect to run the HIL suite?",
                f"The suite needs {device} for itself; the app disconnects from it first.", yes="Disconnect"),
                answered)
            return
        self.garment_app.run_guarded(self._run(Path(path), device), "HIL suite", group="hil", exclusive=True)

    async def _disconnect_and_run(self, path: Path, device: str) -> None:
        await self.garment_app.disconnect()
        await self._run(path, device)

    async def _run(self, path: Path, device: str) -> None:
        k = k_expression(self.query_one("#hil-k", Input).value)
        cmd = hil_command(path, device, k)
        out = self.query_one("#hil-output", RichLog)
        out.clear()
        out.write(Text("$ " + " ".join(cmd[2:]), style="dim"))
        self.counts = HilCounts()
        self.returncode = None
        self.running = True
        self.started = time.monotonic()
        self._buttons()
        timer = self.set_interval(0.5, self.show_counts)
        cwd = path.parent if path.is_dir() else path.parent.parent
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL, cwd=str(cwd), env=env, start_new_session=True)
            assert self.proc.stdout is not None
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\n")
                outcome = self.counts.feed(line)
                out.write(Text(line, style=OUTCOME_STYLE.get(outcome or "", "")))
                if outcome:
                    self.show_counts()
            self.returncode = await self.proc.wait()
        finally:
            await self._reap()
            self.running = False
            timer.stop()
            self._buttons()
            self.show_counts()
        rc = self.returncode
        c = self.counts
        if rc == 0:
            self.garment_app.report(f"HIL suite passed: {c.text()}")
        elif rc == 5:
            self.garment_app.report("HIL suite: no tests were collected (check the -k filter)", "warning")
        else:
            self.garment_app.report(f"HIL suite failed (exit {rc}): {c.text()}", "error", timeout=10)

    async def _reap(self) -> None:
        """Make sure the pytest process (and the sim it started) are gone."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)  # pytest tears its fixtures (the sim) down
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        self.returncode = proc.returncode

    def action_stop(self) -> None:
        proc = self.proc
        if not self.running or proc is None or proc.returncode is not None:
            self.garment_app.report("the HIL suite is not running", "warning")
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        self.query_one("#hil-output", RichLog).write(Text("-- interrupted by the user --", style="bold yellow"))

    def _buttons(self) -> None:
        self.query_one("#hil-run", Button).disabled = self.running
        self.query_one("#hil-stop", Button).disabled = not self.running
