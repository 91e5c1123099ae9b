"""Child processes that die with this process, however it dies: simulated garments.

The simulated garment's firmware (and qemu, the emulated one) runs in a session of its
own, so that Ctrl-C at a terminal reaches the host only, which then stops it in order.
Nothing else took it down when the host died without that order (SIGKILL by a test
runner's timeout, the OOM killer, a crash): the firmware ran on, orphaned, holding its
ports. Linux's ``PR_SET_PDEATHSIG`` has the kernel signal a child when its parent dies,
but "parent" is the *thread* that forked it, and garments are started from worker
threads (``asyncio.to_thread(sim.start)``) that exit when idle, killing the firmware
with them. So every tethered child is forked by one daemon thread that lives as long
as the process: the signal (SIGKILL) comes exactly when the process ends, killed,
crashed or exited.

Chosen over a lifeline pipe watched by a helper process: the child stays the very
process the caller started (its pid, CPU time and exit status are the firmware's: tests
and benchmarks read them), no watcher can die on its own, and the kernel delivers the
signal however the host ends. Elsewhere than Linux, children are not tethered.
"""
from __future__ import annotations

import concurrent.futures
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import Any, Callable

__all__ = ["popen_tethered"]

_PR_SET_PDEATHSIG = 1

_prctl: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    try:
        import ctypes

        # Looked up here, not in the child: between fork and exec only this call runs
        # (a dlopen there could wait forever for a lock another thread held at the fork).
        _prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        _prctl = None

_jobs: queue.Queue[tuple[Callable[[], subprocess.Popen[Any]], concurrent.futures.Future[subprocess.Popen[Any]]]] = queue.Queue()
_spawner: threading.Thread | None = None
_spawner_pid = 0
_lock = threading.Lock()


def _tether(parent: int) -> None:  # pragma: no cover - runs in the child between fork and exec
    assert _prctl is not None
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the host died before the tether held: follow it
        os.kill(os.getpid(), signal.SIGKILL)


def _serve() -> None:
    while True:
        make, fut = _jobs.get()
        if fut.set_running_or_notify_cancel():
            try:
                fut.set_result(make())
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)


def _spawning_thread() -> threading.Thread:
    global _spawner, _spawner_pid
    with _lock:
        # a forked copy of this process has no such thread: it starts its own
        if _spawner is None or _spawner_pid != os.getpid() or not _spawner.is_alive():
            _spawner = threading.Thread(target=_serve, name="tethered-spawner", daemon=True)
            _spawner_pid = os.getpid()
            _spawner.start()
        return _spawner


def popen_tethered(args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **kwargs)``, the child killed (SIGKILL) when this process
    dies, from whichever thread it is called. A ``preexec_fn`` runs after the tether holds."""
    if _prctl is None:
        return subprocess.Popen(args, **kwargs)
    then = kwargs.get("preexec_fn")
    parent = os.getpid()

    def preexec() -> None:  # pragma: no cover - in the child
        _tether(parent)
        if then is not None:
            then()

    kwargs["preexec_fn"] = preexec
    thread = _spawning_thread()
    if threading.current_thread() is thread:
        return subprocess.Popen(args, **kwargs)
    fut: concurrent.futures.Future[subprocess.Popen[Any]] = concurrent.futures.Future()
    _jobs.put((lambda: subprocess.Popen(args, **kwargs), fut))
    return fut.result()
