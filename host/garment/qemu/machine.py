"""Boot a qemu-port build under ``qemu-system-*`` and drive its raw REPL over the UART.

The emulated UART is a pty (``-serial pty``); mpremote's serial transport (the tool a
user would point at a board) does the raw REPL and raw-paste protocol on it. The UART
moves a few kB/s, so files come another way: :meth:`QemuMachine.mount_host` mounts a
host folder read-only at "/" through semihosting (``guest/hostvfs.py`` over the build's
``hostfile`` module) and a littlefs in RAM at "/tmp" (the filesystem the ESP32 and RP2
ports put on flash).

With ``icount=True`` qemu runs with ``-icount shift=0``: every guest instruction
advances the virtual clock by exactly 1 ns, so ``time.ticks_us()`` in the guest counts
thousands of instructions, deterministically (``garment.qemu`` benchmarks read it).
``shift=N`` makes it 2**N ns (the live garment, :mod:`garment.qemu.garment`, runs at
``shift=2``: a core of 250 M instructions per second of its own time). ``align=True``
adds qemu's ``align=on``: the vCPU sleeps whenever the guest's clock gets ahead of the
host's, so a fast host cannot make guest time run faster than real time.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from garment.qemu.build import DEFAULT_BOARD, QEMU_BOARDS, QemuBuildError, build
from garment.sim.tether import popen_tethered

__all__ = ["QemuMachine", "QemuError"]

GUEST = Path(__file__).resolve().parent / "guest"


class QemuError(Exception):
    """qemu did not start, the REPL did not answer, or guest code timed out."""


class QemuMachine:
    """One running emulated board; a context manager (the guest is killed on exit)."""

    def __init__(self, board: str = DEFAULT_BOARD, *, icount: bool = False, shift: int = 0, align: bool = False,
                 elf: Path | None = None):
        if board not in QEMU_BOARDS:
            raise QemuError(f"unknown qemu board '{board}' (known: {', '.join(QEMU_BOARDS)})")
        self.board = QEMU_BOARDS[board]
        self.icount = icount
        self.shift = shift
        self.align = align
        self.elf = elf
        self.proc: subprocess.Popen[bytes] | None = None
        self.pty: str | None = None
        self.transport: SerialTransport | None = None
        self._log: list[str] = []

    # ---- life cycle ---------------------------------------------------------------
    def argv(self) -> list[str]:
        b = self.board
        exe = shutil.which(f"qemu-system-{b.qemu_arch}") or f"qemu-system-{b.qemu_arch}"
        args = [exe, "-machine", b.machine, "-nographic", "-monitor", "null", "-semihosting", *b.extra_qemu_args]
        if self.icount:
            args += ["-icount", f"shift={self.shift}" + (",align=on" if self.align else "")]
        return [*args, "-serial", "pty", "-kernel", str(self.elf)]

    def start(self, *, raw_repl: bool = True, timeout: float = 30.0) -> QemuMachine:
        """Boot; with ``raw_repl`` enter the raw REPL (else leave the UART untouched)."""
        if self.elf is None:
            try:
                self.elf = build(self.board.name)
            except QemuBuildError as e:
                raise QemuError(str(e)) from None
        # tethered: a host that dies (SIGKILL too) takes the emulated board with it
        self.proc = popen_tethered(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        found = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                self._log.append(line)
                m = re.search(r"redirected to (/dev/pts/\d+)", line)
                if m:
                    self.pty = m.group(1)
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True, name="qemu-log").start()
        if not found.wait(timeout) or self.pty is None:
            self.close()
            raise QemuError(f"qemu gave no pty: {' | '.join(self._log[-3:]) or 'no output'}")
        if raw_repl:
            try:
                self.transport = SerialTransport(self.pty, baudrate=115200)
                self.transport.enter_raw_repl(soft_reset=False, timeout_overall=timeout)
            except (TransportError, OSError) as e:
                self.close()
                raise QemuError(f"no raw REPL on {self.board.name}'s UART ({self.pty}): {e}") from None
        return self

    def close(self) -> None:
        if self.transport is not None:
            try:
                self.transport.close()
            except Exception:  # noqa: BLE001 - the guest is being killed anyway
                pass
            self.transport = None
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def __enter__(self) -> QemuMachine:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the raw REPL ---------------------------------------------------------------
    def run(self, code: str, timeout: float = 60.0) -> tuple[str, str]:
        """Execute ``code`` in the guest: its (stdout, traceback) text."""
        if self.transport is None:
            raise QemuError("the machine is not started with a raw REPL")
        try:
            out, err = self.transport.exec_raw(code, timeout=timeout)
        except TransportError as e:
            raise QemuError(f"guest code did not finish within {timeout:.0f} s on {self.board.name}: {e}") from None
        return out.decode(errors="replace"), err.decode(errors="replace")

    def check(self, code: str, timeout: float = 60.0) -> str:
        """Like :meth:`run`; a guest exception raises :class:`QemuError` with its traceback."""
        out, err = self.run(code, timeout)
        if err:
            raise QemuError(f"guest raised:\n{err}\n(output: {out[-2000:]})")
        return out

    def mount_host(self, root: Path, tmp_kb: int = 256) -> None:
        """The host folder ``root`` read-only at "/" (semihosting), a RAM littlefs at "/tmp"."""
        src = (GUEST / "hostvfs.py").read_text()
        self.check(src + f"\nsetup({str(Path(root).resolve())!r}, {tmp_kb * 2})\n")

    def wait_exit(self, timeout: float) -> int | None:
        """qemu's exit code once the guest stops (``machine.reset()``/semihosting exit)."""
        if self.proc is None:
            return None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return rc
            time.sleep(0.05)
        return None
