"""The simulated HD garment (``--device sim-hd``): the firmware's ``sim-hd`` board (8
daisy-chained ADS1299 models, 64 channels at 2048 Hz) fed with the HD phantom's grid."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from garment.devices import make_transport, open_device
from garment.phantom.hd_grid import grid
from garment.sim import SimGarment
from garment.sim.hd_source import hd_source_factory
from garment.transports import TransportError


@pytest.fixture(scope="module")
def hd_sim():
    sim = SimGarment(hd=True, source_factory=hd_source_factory(seconds=4.0))
    sim.start(timeout=60)
    yield sim
    sim.stop()


def test_sim_hd_streams_the_phantom_grid(hd_sim: SimGarment) -> None:
    async def run() -> tuple[dict, list]:
        async with open_device("sim-hd", timeout=5.0, sim=hd_sim) as conn:
            g = conn.client
            info = await g.info()
            await g.start_stream()
            blocks = [await g.next_block(timeout=3.0) for _ in range(80)]  # 400 samples
            await g.stop_stream()
            return info, blocks

    info, blocks = asyncio.run(run())
    assert info["board"] == "sim-hd" and info["channels"] == 64 and info["fs"] == 2048
    assert info["montage"] == grid("13x5").labels()
    assert info["grid"] == {"rows": 13, "cols": 5, "ied_mm": 8, "absent": [0], "muscle": "L_VL"}
    x = np.concatenate([b.data for b in blocks]).astype(float) * info["lsb_fv"] / 1e9  # uV
    assert x.shape[1] == 64
    firsts = [b.first_index for b in blocks]
    assert all(b - a == len(blk.data) for a, b, blk in zip(firsts, firsts[1:], blocks))  # contiguous
    rms = x[50:].std(axis=0)
    assert np.all(rms > 1.0)  # every electrode carries the phantom's signal, none is the noise floor


def test_sim_hd_is_opened_only_by_open_device() -> None:
    with pytest.raises(TransportError, match="open_device"):
        make_transport("sim-hd")
