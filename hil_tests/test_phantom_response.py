"""The simulated body answers the garment's stimulation: evoked M-waves appear in the EMG,
time-locked to the delivered pulses (phantom + rig), after the artefact blanking."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from garment.auth import ensure_authenticated
from garment.client import Calibration, GarmentClient, StreamConfig
from garment.protocol import wire
from garment.sim import SimGarment

from rig import SimRig, heartbeat


async def test_stimulation_evokes_m_waves(garment: GarmentClient, rig: SimGarment, device_spec: str) -> None:
    if device_spec != "sim":
        pytest.skip("a property of the simulated body, the same whatever the link: run over the wired sim")
    g = garment
    r = SimRig(rig)
    await ensure_authenticated(g)
    await g.set_config(StreamConfig(fs=2000, channels=8))
    fs = 2000
    # the raw stream: the firmware blanks the evoked response from the filtered one
    await g.set_config(StreamConfig(fs=2000, channels=8, kind=wire.STREAM_RAW))
    await g.set_calibration(Calibration(0, 5000, 8000, 30000, 2500, 300, 25))
    samples: dict[int, float] = {}
    mark = r.mark()
    async with heartbeat(g):
        await g.arm()
        await g.start_stream()
        await g.stim_test(0, 25000, 300, 25, 1500)  # 25 mA, 300 us, 25 Hz for 1.5 s
        # the rig's waits block: run them off the event loop so the heartbeat keeps going
        await asyncio.to_thread(r.wait_pulses, 30, mark, 0, 10)
        await asyncio.to_thread(r.wait_afe, fs // 5)
        await g.stop_stream()
        for b in g.take_buffered():
            for i, v in enumerate(b.data[:, 0]):
                samples[b.first_index + i] = float(v)
        await g.disarm()
    await g.set_calibration(Calibration(0, 0, 0, 0, 0, 0, 0))
    await g.set_config(StreamConfig(fs=2000, channels=8))
    pulses = r.pulses(mark, channel=0)
    assert r.feeder.evoked >= len(pulses) // 2, (r.feeder.evoked, len(pulses))
    post, pre = [], []
    for p in pulses:
        a = p.afe_index
        win = [samples.get(a + k) for k in range(int(0.004 * fs), int(0.018 * fs))]
        base = [samples.get(a + k) for k in range(-int(0.014 * fs), -int(0.002 * fs))]
        if None in win or None in base:
            continue
        dc = float(np.mean(base))  # raw samples carry the electrode offset
        post.append(np.abs(np.array(win) - dc).mean())
        pre.append(np.abs(np.array(base) - dc).mean())
    assert len(post) >= 10, f"only {len(post)} pulses had samples around them"
    ratio = float(np.median(post) / np.median(pre))
    print(f"M-wave ratio {ratio:.1f} over {len(post)} pulses, evoked {r.feeder.evoked}")
    assert ratio > 3.0, f"EMG after pulses only {ratio:.1f}x the EMG before them: no M-waves"
