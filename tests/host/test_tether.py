"""A simulated garment dies with its host, however the host dies (SIGKILL included), and
not before: started from a worker thread that then exits, it keeps running."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from garment.sim.tether import popen_tethered

# The host: starts a simulated garment from an asyncio worker thread (as garment.devices
# does), lets that pool shut down (its threads exit), checks the firmware still answers,
# prints its pid and waits to be killed.
SIM_HOST = textwrap.dedent("""
    import asyncio, sys
    from garment.client import GarmentClient
    from garment.sim import SimGarment
    from garment.transports import SerialTransport

    sim = SimGarment(feed=False)

    async def main():
        await asyncio.to_thread(sim.start)

    asyncio.run(main())  # shuts the default executor down: the thread that started it is gone

    async def hello():
        g = GarmentClient(SerialTransport(sim.url), timeout=10.0)
        await g.connect()
        await g.close()

    asyncio.run(hello())
    print(sim.proc.pid, flush=True)
    sys.stdin.read()
""")

# The host of an emulated board: qemu booted on an image that only sleeps (WFI), so the
# test needs no firmware build.
QEMU_HOST = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from garment.qemu.machine import QemuMachine

    m = QemuMachine(elf=Path(sys.argv[1]))
    t = threading.Thread(target=m.start, kwargs={"raw_repl": False})
    t.start()
    t.join()
    assert m.proc.poll() is None and m.pty
    print(m.proc.pid, flush=True)
    sys.stdin.read()
""")


def _gone(pid: int) -> bool:
    """The process has ended: no such pid, or a zombie nobody reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.02)  # polling the pid, bounded by the deadline
    return _gone(pid)


def _kill_host_and_check(script: str, *args: str) -> None:
    host = subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    child = 0
    try:
        assert host.stdout is not None
        line = host.stdout.readline()
        assert line.strip().isdigit(), (line, host.stderr.read() if host.poll() is not None and host.stderr else "")
        child = int(line)
        assert not _gone(child)  # it outlived the worker thread that started it
        host.kill()  # no cleanup of any kind: SIGKILL
        host.wait(10)
        assert _wait_gone(child, 10.0), f"pid {child} outlived its SIGKILLed host"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait(10)
        if child and not _gone(child):
            os.kill(child, signal.SIGKILL)


def test_a_simulated_garment_dies_with_its_sigkilled_host() -> None:
    _kill_host_and_check(SIM_HOST)


@pytest.mark.mcu
def test_an_emulated_board_dies_with_its_sigkilled_host(tmp_path: Path) -> None:
    # vector table (initial SP, reset at 0x9: Thumb), then "wfi; b wfi"
    image = tmp_path / "wfi.bin"
    image.write_bytes((0x20001000).to_bytes(4, "little") + (0x9).to_bytes(4, "little") + bytes.fromhex("30bffde7"))
    _kill_host_and_check(QEMU_HOST, str(image))


def test_a_preexec_fn_still_runs() -> None:
    # Popen returns once the child has exec'd, so its preexec_fn has run by then
    p = popen_tethered(["sleep", "30"], preexec_fn=lambda: os.setpgid(0, 0))
    try:
        assert os.getpgid(p.pid) == p.pid
    finally:
        p.kill()
        p.wait()
