"""The simulated person follows what the app asks: quiet at rest, a strong MVC of the muscle
asked for, and distinct, repeatable prompted movements, seen through the garment's own
filtered stream (the AFE model, the firmware's filters, the wire)."""
from __future__ import annotations

import asyncio
from typing import Iterator

import numpy as np
import pytest

from garment.client import GarmentClient
from garment.devices import make_transport
from garment.sim import SimGarment
from garment.sim.person import movement


@pytest.fixture(scope="module")
def sim() -> Iterator[SimGarment]:
    with SimGarment() as s:
        yield s


def _rms(sim: SimGarment, seconds: float = 0.6) -> np.ndarray:
    """Per-channel RMS (uV) of the garment's filtered stream over ``seconds``, after the
    feeder's lead and the filters have settled on what the person now does."""
    feeder = sim.feeder
    assert feeder is not None

    async def run() -> np.ndarray:
        g = GarmentClient(make_transport(sim.url), timeout=5)
        await g.connect()
        try:
            lsb = float((await g.info())["lsb_fv"]) / 1e9
            await g.start_stream()
            blocks, n, skip = [], 0, int(0.3 * 2000)
            while n < skip + seconds * 2000:
                b = await g.next_block(timeout=3)
                n += len(b.data)
                if n > skip:
                    blocks.append(b.data.astype(float))
            await g.stop_stream()
            x = np.vstack(blocks) * lsb
            return np.sqrt(np.mean((x - x.mean(axis=0)) ** 2, axis=0))
        finally:
            await g.close()

    return asyncio.run(run())


def test_rest_mvc_and_movements(sim: SimGarment) -> None:
    person = sim.person
    assert person is not None and person.muscles[:4] == ["RF", "VL", "BF", "ST"]
    person.relax()
    rest = _rms(sim)
    person.max_effort(2)  # L_BF
    mvc = _rms(sim)
    assert mvc[2] > 5 * rest[2], (mvc, rest)
    assert mvc[2] == mvc.max()  # the muscle asked for, not its neighbours
    person.perform("extend")
    ext = _rms(sim)
    person.perform("flex")
    flex = _rms(sim)
    assert ext[[0, 1]].min() > 3 * rest[[0, 1]].max() and flex[[2, 3]].min() > 3 * rest[[2, 3]].max()
    assert ext[0] > 2 * flex[0] and flex[3] > 2 * ext[3]  # quadriceps vs hamstrings
    person.free()
    assert person.doing == "free"


def test_any_label_is_a_distinct_repeatable_movement() -> None:
    assert movement("extend") == movement("Knee extension") and movement("rest") == {}
    a, b = movement("wave"), movement("stomp")
    assert a and b and a == movement("wave") and a != b
