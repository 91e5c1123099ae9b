"""Host activations (a muscle's neural drive) over the wire: the garment treats them exactly as
decoder output (policy within the calibrated range, slew from zero, supervisor), refuses them
unarmed, and zeroes the output when the stream stops while the heartbeat goes on."""
from __future__ import annotations

import asyncio

import pytest

from garment.client import DeviceError
from garment.protocol import wire
from rig import StimBench, envelope_model, heartbeat


async def test_activation_stream_drives_the_policy_and_stops_when_stale(bench: StimBench) -> None:
    rig = bench.need_rig()
    g = bench.g
    for ch in range(8):
        rig.feeder.inject_onset(ch, 0.0)  # the person at rest: the decoder asks for nothing
    cal = await bench.calibrate(0, max_ua=14000, motor_ua=9000, sensory_ua=4000)
    await g.upload_model(envelope_model(stim={
        "preset": "proportional", "params": {"gain": 1.0, "deadband": 0.1, "inputs": [0, 1, 2, 3]}}))
    bench.model_changed = True
    with pytest.raises(DeviceError) as e:
        await g.activation([1.0])
    assert e.value.code == wire.E_BAD_STATE  # not armed
    with pytest.raises(ValueError):
        await g.activation([1.5])  # refused on the host too, never clamped
    async with heartbeat(g):
        await g.arm()

        async def stream(seconds: float) -> None:
            for _ in range(int(seconds / 0.05)):
                await g.activation([1.0, 0.0])
                await asyncio.sleep(0.05)  # the stream's own period, not a synchronisation

        await stream(1.0)
        ps = await bench.wait_pulses(10, channel=0, timeout=10)
        amps = [p.amplitude_ua for p in ps]
        assert amps[0] < amps[-1] <= cal.max_ua  # ramped from zero, within the calibration
        assert bench.log.since(0, 1) == []  # muscle 1 at 0: off
        n = len(bench.log.since(0, 0))
        await bench.let_time_pass(0.2 + 0.3)  # stale after ACTIVATION_STALE_MS, then quiet
        n_stale = len(bench.log.since(0, 0))
        await bench.let_time_pass(0.5)
        assert len(bench.log.since(0, 0)) == n_stale >= n
        st = await g.stim_state()
        assert st.state == "armed" and st.fault == "none" and not any(st.amplitude_ua)  # zeroed, not faulted
