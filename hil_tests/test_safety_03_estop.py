"""Behaviour 3: emergency stop (command, and a button on real boards) -> zero within 10 ms,
latched."""
from __future__ import annotations

import time

import pytest

from garment.auth import end_session
from garment.client import DeviceError
from garment.protocol import wire
from rig import StimBench, heartbeat, sync_uptime

ZERO_WITHIN_S = 0.010


async def test_estop_zeroes_within_10ms_and_latches(bench: StimBench) -> None:
    g = bench.g
    await bench.calibrate(0)
    await bench.calibrate(1)
    await sync_uptime(g, bench.log.ms)
    async with heartbeat(g, period=0.05):
        await g.arm()
        await g.stim_test(0, 15000, 300, 30, 20000)
        await g.stim_test(1, 15000, 200, 30, 20000)
        await bench.wait_pulses(6, channel=1)
        mark = bench.log.mark()
        rig_mark = bench.rig.mark() if bench.rig else 0
        await bench.wait_pulses(2, channel=1, mark=mark)  # stimulating right up to the stop
        event_mark = len(bench.log.events)
        t0 = time.monotonic()
        st = await g.estop()
        t1 = time.monotonic()
        assert st.state == "fault" and st.fault == "estop", st
        assert st.amplitude_ua == (0,) * 8 and st.armed_mask == 0
        await bench.let_time_pass(0.3)
        await sync_uptime(g, bench.log.ms, rounds=4)
        # the device's own report of the stop, on the host clock
        ev = bench.event("FAULT estop", event_mark)
        assert ev is not None, bench.log.events[event_mark:]
        t_stop = bench.event_host_time(ev)
        err = bench.log.ms.error_s or 0.0
        assert t0 - err - 0.001 <= t_stop <= t1 + err + 0.001
        times = bench.pulse_times(mark, rig_mark)
        assert times, "no pulse between the mark and the E-stop: nothing was measured"
        assert max(times) <= t1 + ZERO_WITHIN_S, f"a pulse {max(times) - t1:.4f} s after the E-stop reply"
        assert max(times) <= t_stop + ZERO_WITHIN_S + err, f"a pulse {max(times) - t_stop:.4f} s after the E-stop"
        # every pulse report reached the host before the E-stop's answer
        assert all(p.host_t <= t1 for p in bench.log.since(mark))

        # latched: nothing can start until a fault reset
        latch = bench.log.mark()
        for req in (g.arm(), g.stim_test(0, 10000, 300, 30, 1000)):
            with pytest.raises(DeviceError) as e:
                await req
            assert e.value.code == wire.E_BAD_STATE
        await bench.let_time_pass(0.3)
        assert bench.log.since(latch) == []
        assert (await g.stim_state()).fault == "estop"
        st = await g.fault_reset()
        assert st.state == "calibrated" and st.fault == "none"
        assert (await g.arm()).state == "armed"


async def test_estop_needs_no_session(bench: StimBench) -> None:
    """Anyone on the link can stop the output: T_ESTOP is the one request that needs no
    authenticated session (arming and stimulating do)."""
    g = bench.g
    await bench.calibrate(0)
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, 15000, 300, 30, 20000)
        await bench.wait_pulses(3, channel=0)
        await end_session(g)
        with pytest.raises(DeviceError) as e:
            await g.disarm()
        assert e.value.code == wire.E_UNAUTHORIZED
        st = await g.estop()
        assert st.fault == "estop" and st.amplitude_ua == (0,) * 8
        mark = bench.log.mark()
        await bench.let_time_pass(0.2)
        assert bench.log.since(mark) == []
    from garment.auth import ensure_authenticated

    await ensure_authenticated(g)  # for the bench's clean-up


async def test_estop_button(bench: StimBench) -> None:
    """The board's E-stop button as a level (the sim rig holds it: RIG_ESTOP): the contact
    opening cuts the output in hardware at once and the firmware latches FAULT_ESTOP;
    while it is held, fault reset and arm are refused; after the release a reset works."""
    rig = bench.need_rig()
    g = bench.g
    await bench.calibrate(0)
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, 15000, 300, 30, 20000)
        rig.wait_pulses(3, channel=0)
        mark = rig.mark()
        t0 = time.monotonic()
        rig.set_estop(wire.ESTOP_PRESSED)
        await bench.wait_state(lambda s: s.fault == "estop", timeout=2)
        times = [rig.host_time(p) for p in rig.pulses(mark)]
        assert all(t <= t0 + 0.05 for t in times), [t - t0 for t in times]
        await bench.let_time_pass(0.2)
        assert (await g.stim_state()).fault == "estop"
        for req in (g.fault_reset(), g.arm()):
            with pytest.raises(DeviceError) as e:
                await req
            assert e.value.code == wire.E_BAD_STATE and "E-stop" in str(e.value)
        rig.set_estop(wire.ESTOP_RELEASED)
        await bench.let_time_pass(0.1)
        assert (await g.stim_state()).fault == "estop"  # latched after the release
        st = await g.fault_reset()
        assert st.fault == "none"
        assert (await g.arm()).state == "armed"


async def test_estop_button_wire_broken(bench: StimBench) -> None:
    """The button is normally closed: a cut wire reads as pressed, for as long as it lasts."""
    rig = bench.need_rig()
    g = bench.g
    await bench.calibrate(0)
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, 15000, 300, 30, 20000)
        rig.wait_pulses(3, channel=0)
        mark = rig.mark()
        rig.set_estop(wire.ESTOP_BROKEN)
        t_state, _ = await bench.wait_state(lambda s: s.fault == "estop", timeout=2)
        await bench.let_time_pass(0.3)
        late = [rig.host_time(p) - t_state for p in rig.pulses(mark)]
        assert all(d <= 0.002 for d in late), late  # nothing after the garment reported the stop
        with pytest.raises(DeviceError) as e:
            await g.fault_reset()
        assert e.value.code == wire.E_BAD_STATE
        rig.set_estop(wire.ESTOP_RELEASED)
        await bench.let_time_pass(0.1)
        assert (await g.fault_reset()).fault == "none"
