"""Starts and stops the simulated garment process (firmware on the unix port)."""
from __future__ import annotations

import os
import queue
import shutil
import tempfile
import socket
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

from garment.paths import firmware_lib, firmware_root, micropython_exe
from garment.sim.feeder import EmgFeeder, EmgSource, default_source
from garment.sim.person import SimPerson
from garment.sim.pty_bridge import PtyBridge
from garment.sim.tether import popen_tethered


#: the HD board's boot rate (its fastest of wire.HD_FS): the feeder's first source is built for it
HD_BOOT_FS = 2048
#: how far the HD feeder keeps the AFE's input ahead of its conversions
HD_LEAD_S = 1.5


class SimStartError(RuntimeError):
    """The simulated garment did not come up; the message carries its last output."""


def _free_port() -> int:
    # The unix port cannot report the port it bound to, so the host picks one.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_port(port: int, what: str) -> None:
    """Refuse a port another program holds (the firmware would die on it with a traceback)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the firmware binds it
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise SimStartError(f"cannot serve the {what} on 127.0.0.1:{port}: {e.strerror or e} "
                                f"(another garment sim?)") from None


class SimGarment:
    """The firmware running as a ``micropython`` process with the ``sim`` board.

    ``url`` is what the host opens with pyserial (``socket://127.0.0.1:PORT``);
    ``rig_port`` takes EMG (the feeder) and fault injection (the HIL rig).
    """

    READY = "garment-sim ready"

    def __init__(
        self,
        feed: bool = True,
        source_factory: Callable[[int], EmgSource] | None = None,
        heapsize: str | None = None,
        state_dir: Path | None = None,
        pty: bool = False,
        wired: bool = True,
        port: int | None = None,
        rig_port: int | None = None,
        die_with_parent: bool = True,
        ticks_ms: int | None = None,
        ticks_us: int | None = None,
        hd: bool = False,
    ) -> None:
        #: the HD garment (``sim-hd`` board: 8 daisy-chained ADS1299s, a 64-electrode grid at
        #: 2048 Hz, fed with the HD phantom), else the cycling shorts (``sim`` board)
        self.hd = hd
        self.feed = feed
        #: where the firmware's ticks_ms / ticks_us start (they wrap at 2**30 like an MCU's;
        #: None: 0, as after a reset), e.g. ``2**30 - 60_000`` for a minute before the wrap
        self.ticks_ms = ticks_ms
        self.ticks_us = ticks_us
        if source_factory is None and hd:
            from garment.sim.hd_source import hd_source_factory

            source_factory = hd_source_factory()
        self.source_factory = source_factory or default_source
        # the HD board's chip models and 64-channel buffers need more than the 8-channel board
        self.heapsize = heapsize or ("8m" if hd else "4m")
        # The garment's flash (model, calibration, keys): kept across restart() calls.
        self._own_state = state_dir is None
        self.state_dir = Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp(prefix="garment-sim-"))
        self.pty = pty
        #: False: the firmware's link says ``wired = False``, as behind the virtual BLE radio
        #: (16-bit telemetry by default, provisioning refused). Read at each (re)start.
        self.wired = wired
        #: fixed TCP ports for the link and the rig (None: free ones, picked at each start)
        self.fixed_port = port
        self.fixed_rig_port = rig_port
        #: the firmware process is killed when this process dies, however it dies
        #: (:mod:`garment.sim.tether`, Linux); False: it outlives a host that is killed
        self.die_with_parent = die_with_parent
        self.bridge: PtyBridge | None = None
        self._person: SimPerson | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.rig_port = 0
        self.feeder: EmgFeeder | None = None
        self.output: deque[str] = deque(maxlen=200)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._cond = threading.Condition()
        self._seen: list[str] = []

    @property
    def url(self) -> str:
        """What to open with pyserial: the pty path, or ``socket://127.0.0.1:PORT``."""
        if self.bridge is not None:
            return self.bridge.path
        return f"socket://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        """Start the firmware (and the EMG feeder); return the URL to connect to."""
        last = ""
        if self.hd and self.feed:
            # The HD phantom takes seconds to generate: before the firmware boots, so that it
            # does not starve the garment's first seconds (the source caches it for the feeder).
            self.source_factory(HD_BOOT_FS)
        fixed = self.fixed_port is not None or self.fixed_rig_port is not None
        for _attempt in range(1 if fixed else 3):  # free ports may be taken meanwhile: retry
            try:
                self._spawn(timeout)
                break
            except SimStartError as e:
                last = str(e)
                self._halt()
        else:
            raise SimStartError(last)
        if self.feed:
            if self.hd:
                from garment.sim.hd_source import HD_INPUTS

                # 1.5 s ahead (the AFE's input holds 2 s): a starved sim process catches its AFE up on
                # wall-clock time, and the HD garment has no stimulator whose rig events need a short lead
                self.feeder = EmgFeeder("127.0.0.1", self.rig_port, self.source_factory, lead_s=HD_LEAD_S,
                                        n_inputs=HD_INPUTS)
                self.feeder.start(fs=HD_BOOT_FS)
            else:
                self.feeder = EmgFeeder("127.0.0.1", self.rig_port, self.source_factory)
                self.feeder.start()
        if self.pty:
            self.bridge = PtyBridge("127.0.0.1", self.port)
            self.bridge.start()
        return self.url

    def _spawn(self, timeout: float) -> None:
        self.port = self.fixed_port if self.fixed_port is not None else _free_port()
        self.rig_port = self.fixed_rig_port if self.fixed_rig_port is not None else _free_port()
        if self.port == self.rig_port:
            raise SimStartError(f"the link and the rig cannot share port {self.port}")
        if self.fixed_port is not None:
            _check_port(self.port, "link")
        if self.fixed_rig_port is not None:
            _check_port(self.rig_port, "rig port")
        env = dict(os.environ)
        env.update(
            MICROPYPATH=f"{firmware_lib()}:.frozen",
            GARMENT_SIM_PORT=str(self.port),
            GARMENT_SIM_RIG_PORT=str(self.rig_port),
        )
        env["GARMENT_SIM_STATE"] = str(self.state_dir)
        env["GARMENT_SIM_WIRED"] = "1" if self.wired else "0"
        env["GARMENT_SIM_HD"] = "1" if self.hd else "0"
        for name, v in (("GARMENT_SIM_TICKS_MS", self.ticks_ms), ("GARMENT_SIM_TICKS_US", self.ticks_us)):
            if v is not None:
                env[name] = str(v)
        spawn = popen_tethered if self.die_with_parent else subprocess.Popen
        self.proc = spawn(
            [str(micropython_exe()), "-X", f"heapsize={self.heapsize}", str(firmware_root() / "main.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            # Its own session: a Ctrl-C at the terminal (SIGINT to the foreground process
            # group) reaches the host only, which then stops the garment in order. In the
            # host's group the firmware (Ctrl-C disabled by boot.py: SIGINT kills it) died
            # first and the host reported a lost link instead of ending cleanly. So the
            # tether, not the terminal, takes it down with a host that dies.
            start_new_session=True,
        )
        self._lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self._lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise SimStartError("simulated garment did not start in time: " + " | ".join(self.output)) from None
            if line is None:
                raise SimStartError("simulated garment exited: " + " | ".join(self.output))
            if line.startswith(self.READY):
                return

    def _pump(self, proc: subprocess.Popen[str], lines: "queue.Queue[str | None]") -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            lines.put(line)
            with self._cond:
                self._seen.append(line)
                self._cond.notify_all()
        lines.put(None)

    def wait_output(self, text: str, count: int = 1, timeout: float = 30.0) -> bool:
        """Wait until the firmware has printed a line containing ``text`` ``count`` times."""
        with self._cond:
            return self._cond.wait_for(lambda: sum(text in s for s in self._seen) >= count, timeout)

    def printed(self, text: str) -> int:
        """How many lines the firmware has printed containing ``text`` (since it started)."""
        with self._cond:
            return sum(text in s for s in self._seen)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def person(self) -> "SimPerson | None":
        """The simulated person wearing this garment (None without the EMG feeder)."""
        if self.feeder is None:
            return None
        if self._person is None or self._person.feeder is not self.feeder:
            self._person = SimPerson(self.feeder)
        return self._person

    @property
    def exit_status(self) -> int | None:
        """The firmware process's exit status once it has ended (negative: killed by that signal)."""
        return None if self.proc is None else self.proc.poll()

    def kill(self) -> None:
        """Kill the firmware process abruptly (a pulled battery), for tests."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, timeout: float = 15.0) -> str:
        """Power-cycle: the process dies, a new one boots from the same flash (state_dir)."""
        self._halt()
        return self.start(timeout)

    def stop(self) -> None:
        """Stop the garment and forget its flash (unless a state_dir was given)."""
        self._halt()
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _halt(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        if self.feeder is not None:
            self.feeder.stop()
            self.feeder = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> "SimGarment":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
