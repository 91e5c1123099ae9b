"""Behaviour 8: EMG at the rail or dead (lead-off on the AFE) -> all channels zero, latched."""
from __future__ import annotations

import pytest

from garment.client import DeviceError
from garment.protocol import wire
from rig import SimRig, StimBench, heartbeat


def _inject(rig: SimRig, how: str, ch: int, on: bool) -> None:
    if how == "rail":
        rig.saturate(ch, on)
    elif how == "lead-off":
        rig.lead_off(ch, on)
    else:
        rig.flatline(ch, on)


@pytest.mark.parametrize("how", ["rail", "lead-off", "dead"])
async def test_bad_emg_zeroes_every_channel_and_latches(bench: StimBench, how: str) -> None:
    rig = bench.need_rig()
    g = bench.g
    await bench.calibrate(0)
    await bench.calibrate(1)
    emg_ch = 5  # an EMG channel that no stimulation channel sits on
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, 12000, 300, 30, 20000)
        await g.stim_test(1, 12000, 300, 30, 20000)
        rig.wait_pulses(4, channel=1)
        mark = rig.mark()
        state_mark = len(bench.log.states)
        _inject(rig, how, emg_ch, True)
        t_state, st = await bench.wait_state(lambda s: s.state == "fault", since=state_mark, timeout=3,
                                             what=f"the EMG fault ({how})")
        assert st.fault == "emg_rail", st
        assert st.amplitude_ua == (0,) * 8 and st.armed_mask == 0
        await bench.let_time_pass(0.3)
        assert all(rig.host_time(p) <= t_state for p in rig.pulses(mark))
        # the fault holds while the cause is there, and reset is refused
        with pytest.raises(DeviceError) as e:
            await g.fault_reset()
        assert e.value.code == wire.E_BAD_STATE and "EMG" in str(e.value)
        # the cause goes away: still latched, nothing restarts
        _inject(rig, how, emg_ch, False)
        m2 = rig.mark()
        await bench.let_time_pass(0.4)
        assert rig.pulses(m2) == []
        assert (await g.stim_state()).fault == "emg_rail"
        with pytest.raises(DeviceError):
            await g.arm()
        st = await g.fault_reset()
        assert st.fault == "none"
        await g.arm()
        await g.stim_test(0, 12000, 300, 30, 1000)
        rig.wait_pulses(2, mark=m2, channel=0)


@pytest.mark.parametrize("how", ["rail", "lead-off"])
async def test_arming_refused_while_the_emg_is_bad(bench: StimBench, how: str) -> None:
    rig = bench.need_rig()
    g = bench.g
    await bench.calibrate(0)
    _inject(rig, how, 2, True)
    await bench.let_time_pass(0.1)
    try:
        async with heartbeat(g):
            with pytest.raises(DeviceError) as e:
                await g.arm()
            assert e.value.code == wire.E_BAD_STATE and "EMG" in str(e.value)
    finally:
        _inject(rig, how, 2, False)
