"""Pull the plug on a simulated garment once a host is connected and data flows."""
from __future__ import annotations

import threading

from garment.sim import SimGarment


def kill_when_streaming(sim: SimGarment, conversions: int, timeout: float = 60.0) -> threading.Thread:
    """In a thread: wait for the host to connect, then for ``conversions`` more AFE samples,
    then kill the firmware process. Returns the (started) thread."""

    def run() -> None:
        if sim.wait_output("link: host connected", timeout=timeout):
            feeder = sim.feeder
            assert feeder is not None
            start = feeder.conversions
            with feeder.progress:
                feeder.progress.wait_for(lambda: feeder.conversions - start > conversions, timeout=timeout)
        sim.kill()

    t = threading.Thread(target=run, name="sim-killer")
    t.start()
    return t
