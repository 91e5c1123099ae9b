"""The whole garment on an emulated MCU core: the firmware's own ``main()`` on the qemu
board, its framed protocol on the board's UART, which the host opens as a serial port
(the pty qemu gives it), exactly as it opens a garment on USB.

Time: qemu runs the core under ``-icount shift=2`` (:data:`ICOUNT_SHIFT`, from the
qemu board's clock in ``garmentfw/budget.py``, which checks every configuration against
it): every guest instruction is 4 ns of the guest's clock, a core of 250 M instructions
per second. Work then takes the same guest time however loaded the host is, so
conversions are never lost to host load; idle, the core sleeps (WFI, the image's
``coresleep``) and guest time passes at the host's pace (``-icount`` sleep=on). So the
guest keeps the host's time while the host emulates fast enough, and falls behind it
(never losing a sample) when it does not. ``-icount align=on`` keeps it from running
ahead: without it a host faster than the core's busy work made the garment's seconds
shorter than the host's (up to 4x), the host's estimate of its session clock fell behind
between two replies, and a request sent after a pause (a ``set_config`` after
``get_config``) arrived 1.1-1.2 s "old" (E_STALE; measured with the core at a quarter of
its clock). Without ``-icount`` the guest's clock would be
the host's and a loaded host would drop conversions (and SysTick ticks) at random.

The UART (the CMSDK model of MPS2) carries guest -> host at several hundred kB/s of the
host's time (a byte per register write, no baud timing) but host -> guest one byte per
turn of qemu's main loop (a one-byte receive register), a few kB/s: commands and model
uploads, not bulk data (``benchmarks/bench_qemu_link.py``). The firmware takes each byte
by the UART's receive interrupt into a ring (``uartrx``), so a request reaches it within
a loop pass however busy the core is (``benchmarks/bench_qemu_upload.py``).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import time

from garment.contracts import load_contract
from garment.qemu.build import DEFAULT_BOARD
from garment.qemu.machine import QemuError, QemuMachine

__all__ = ["ICOUNT_SHIFT", "QemuGarment"]

#: ``-icount shift`` of the live garment: 2**shift ns per instruction, the qemu board's
#: clock in ``garmentfw/budget.py`` (250 M instructions/s: shift 2).
ICOUNT_SHIFT = (1_000_000_000 // load_contract("budget").EMULATED_HZ["qemu"]).bit_length() - 1
#: What the raw REPL runs: the firmware's entry point (main.py on a board's flash).
_MAIN = "from garmentfw.app import main\nmain()\n"


class QemuGarment:
    """The garment firmware running on ``board`` under qemu; ``url`` is its UART (a pty).

    ``start()`` boots the emulated board, enters its raw REPL and runs the firmware's
    ``main()`` there (the frozen image has no main.py, so the test image keeps its REPL);
    from then on the UART carries only the framed protocol. ``stop()`` kills qemu."""

    def __init__(self, board: str = DEFAULT_BOARD, *, shift: int = ICOUNT_SHIFT) -> None:
        self.board = board
        self.shift = shift
        self.machine: QemuMachine | None = None
        self._hold: int | None = None

    @property
    def url(self) -> str:
        if self.machine is None or self.machine.pty is None:
            raise QemuError("the qemu garment is not started")
        return self.machine.pty

    def alive(self) -> bool:
        m = self.machine
        return m is not None and m.proc is not None and m.proc.poll() is None

    def start(self, timeout: float = 60.0) -> QemuGarment:
        """Boot and start the firmware (idempotent while it runs)."""
        if self.alive():
            return self
        m = QemuMachine(self.board, icount=True, shift=self.shift, align=True)
        m.start(timeout=timeout)
        self.machine = m
        try:
            assert m.pty is not None and m.transport is not None
            # Keep the pty's far end open from here on: qemu drops what the guest writes
            # while nobody holds it, and notices a new opener only on a 1 s timer.
            self._hold = os.open(m.pty, os.O_RDWR | os.O_NOCTTY)
            m.transport.exec_raw_no_follow(_MAIN)
            m.transport.close()
            m.transport = None
            # In a thread of its own: start() may be called with an event loop running.
            with concurrent.futures.ThreadPoolExecutor(1) as ex:
                ex.submit(asyncio.run, self._answers(time.monotonic() + timeout)).result()
        except Exception as e:
            self.stop()
            raise QemuError(f"the firmware did not start on {self.board}: {e}") from None
        return self

    async def _answers(self, deadline: float) -> None:
        """Until the firmware answers a HELLO on the UART (it boots in ~0.4 s of guest time)."""
        from garment.client import DeviceTimeout, GarmentClient
        from garment.transports import SerialTransport

        while True:
            g = GarmentClient(SerialTransport(self.url), timeout=2.0)
            try:
                await g.connect()
                return
            except DeviceTimeout:
                if time.monotonic() > deadline or not self.alive():
                    raise
            finally:
                await g.close()

    def stop(self) -> None:
        if self.machine is not None:
            self.machine.close()
            self.machine = None
        if self._hold is not None:
            with contextlib.suppress(OSError):
                os.close(self._hold)
            self._hold = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> QemuGarment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
