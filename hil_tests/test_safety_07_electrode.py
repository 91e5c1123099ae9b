"""Behaviour 7: electrode-off / impedance fault on a channel -> that channel zero within
one pulse, latched until reset (the other channels go on)."""
from __future__ import annotations

import time

import pytest

from garment.client import DeviceError
from garment.protocol import wire
from rig import StimBench, heartbeat

COMPLIANCE_V = 150


@pytest.mark.parametrize("ohms,what", [(1_000_000, "peeled off"), (50, "shorted")])
async def test_electrode_fault_zeroes_that_channel_within_one_pulse(bench: StimBench, ohms: int, what: str) -> None:
    rig = bench.need_rig()
    g = bench.g
    await bench.calibrate(0)
    await bench.calibrate(1)
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, 12000, 300, 30, 20000)
        await g.stim_test(1, 12000, 300, 30, 20000)
        rig.wait_pulses(5, channel=0)
        mark = rig.mark()
        state_mark = len(bench.log.states)
        t0 = time.monotonic()
        rig.set_impedance(0, ohms)
        _, st = await bench.wait_state(lambda s: bool(s.lead_off_mask & 1), since=state_mark, timeout=3,
                                       what="the electrode fault on channel 0")
        assert st.fault == "electrode" and st.state in ("armed", "stimulating"), st
        assert st.armed_mask & 1 == 0 and st.armed_mask & 2, st
        ev = bench.event("electrode fault on channel 0")
        assert ev is not None
        t_fault = ev[0]  # its arrival: after the device decided
        await bench.let_time_pass(0.3)
        after = rig.pulses(mark, 0)
        # at most the one pulse that may have left before the sim applied the new impedance
        assert len(after) <= 1, after
        assert all(rig.host_time(p) <= t_fault for p in after)
        assert all(rig.host_time(p) >= t0 - 0.001 for p in after)
        assert len(rig.pulses(mark, 1)) >= 5, "channel 1 stopped too"
        # latched: the electrode is fine again, channel 0 stays off
        rig.set_impedance(0, 1000)
        m2 = rig.mark()
        await bench.let_time_pass(0.3)
        assert rig.pulses(m2, 0) == []
        with pytest.raises(DeviceError) as e:
            await g.stim_test(0, 12000, 300, 30, 1000)
        assert e.value.code == wire.E_BAD_STATE
        assert (await g.stim_state()).lead_off_mask & 1
        # reset: disarmed, then channel 0 works again
        st = await g.fault_reset()
        assert st.lead_off_mask == 0 and st.fault == "none" and st.armed_mask == 0
        await g.arm()
        m3 = rig.mark()
        await g.stim_test(0, 12000, 300, 30, 1000)
        rig.wait_pulses(2, mark=m3, channel=0)


@pytest.mark.parametrize("amplitude_ua", [8000, 15000, 30000, 40000])
async def test_peeled_electrode_seen_at_every_amplitude(bench: StimBench, amplitude_ua: int) -> None:
    """An electrode that peels off under the current-source model: the source sits at its
    150 V compliance (volts over the commanded current would read 18.7, 10, 5, 3.7 kOhm,
    a good electrode); the channel faults within one pulse at every amplitude."""
    rig = bench.need_rig()
    g = bench.g
    rig.set_load(0)  # the nominal electrode pair (series R plus the skin's R-C)
    await bench.calibrate(0, max_ua=40000, motor_ua=8000, area_mm2=5000)
    await bench.set_limits(slew_ua_per_s=1_000_000)
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, amplitude_ua, 300, 30, 20000)
        await bench.wait_amplitude(0, amplitude_ua)
        await bench.let_time_pass(0.1)
        assert (await g.stim_state()).lead_off_mask == 0
        mark = rig.mark()
        state_mark = len(bench.log.states)
        rig.set_impedance(0, 1_000_000)  # peeled off
        _, st = await bench.wait_state(lambda s: bool(s.lead_off_mask & 1), since=state_mark, timeout=3,
                                       what="the electrode fault on channel 0")
        assert st.fault == "electrode", st
        ev = bench.event("electrode fault on channel 0")
        assert ev is not None and "compliance" in ev[3], ev
        await bench.let_time_pass(0.2)
        after = rig.pulses(mark, 0)
        # the pulse that measured it, and at most one that left before the rig's message arrived
        assert 1 <= len(after) <= 2, after
        assert all(rig.host_time(p) <= ev[0] for p in after), "a pulse after the fault"



async def test_compliance_limit(bench: StimBench) -> None:
    """15 kOhm electrodes: the current source cannot drive more than 150 V, so the channel
    faults once the ramp would need more (10 mA); no pulse ever exceeds it."""
    rig = bench.need_rig()
    g = bench.g
    rig.set_impedance(0, 15000)
    await bench.calibrate(0)
    await bench.set_limits(slew_ua_per_s=50000)
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, 15000, 300, 30, 5000)
        _, st = await bench.wait_state(lambda s: bool(s.lead_off_mask & 1), timeout=5)
    assert st.fault == "electrode"
    ps = rig.pulses(None, 0)
    why = bench.event("electrode fault on channel 0")
    assert ps, "no pulse before the fault: the ramp never ran"
    assert max(p.amplitude_ua for p in ps) * 15000 <= COMPLIANCE_V * 1_000_000, max(p.amplitude_ua for p in ps)
    assert max(p.amplitude_ua for p in ps) >= 10000 - 50000 // 30 - 1, (why, [p.amplitude_ua for p in ps])
