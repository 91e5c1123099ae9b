"""The simulated garment on virtual time, stepped by a lockstep rig: rides are deterministic,
and the heartbeat supervision still trips when the host stops, on garment time while the rig
runs the clock and on wall time once the rig is gone or silent."""
from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from garment.client import GarmentClient
from garment.models import presets
from garment.protocol import wire
from garment.rider.patterns import controller_policy
from garment.rider.rider import Rider
from garment.rider.session import CRANK_PERIOD_S, _set_up, controller_model, ride
from garment.rider.source import RiderSource
from garment.sim import SimGarment
from garment.sim.feeder import RigPulse
from garment.sim.lockstep import LockstepRig
from garment.transports import SerialTransport

HEARTBEAT_MS = 500  # the default limits.heartbeat_ms
STEP_US = int(CRANK_PERIOD_S * 1e6)


def test_a_virtual_ride_is_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    # (how much faster than real time is the benchmark's figure, bench_ride.py)
    a, _ = ride("emg-timing", 60.0, 6 / 60)
    # The second host is slow to prepare, as a loaded machine made it (the model's first
    # build imports scikit-learn: 1.5 s quiet, 11 s at load 6): longer than the garment's
    # guard. On its virtual clock that looked like a hung host, the garment took its clock
    # back and the ride came out different. The slowness is the condition under test.
    build = presets.envelope_model

    def slow_build(*args: Any, **kwargs: Any) -> bytes:
        time.sleep(wire.RIG_CLOCK_GUARD_MS / 1000 + 0.5)
        return build(*args, **kwargs)

    monkeypatch.setattr(presets, "envelope_model", slow_build)
    b, _ = ride("emg-timing", 60.0, 6 / 60)
    keys = ("power_w", "stim_power_w", "cadence_error_rpm", "charge_mc", "pulses", "fatigue")
    assert a["pulses"] > 50 and a["garment_fault"] == "none", a.get("garment_events")
    assert a["clock_handbacks"] == 0 and b["clock_handbacks"] == 0  # lockstep from start to end
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    assert a["afe_underruns"] == 0 and abs(a["garment_seconds"] - 6.0) < 0.1
    assert a["clock"] == "virtual"


def test_a_host_that_stops_pinging_trips_the_heartbeat_on_garment_time() -> None:
    out, _ = ride("emg-timing", 60.0, 5 / 60, ping_until_s=2.0)
    assert out["garment_fault"] == "heartbeat", out
    late = [int(m.group(1)) for e in out["garment_events"] if (m := re.search(r"no host heartbeat for (\d+) ms", e))]
    assert late and HEARTBEAT_MS < late[0] <= HEARTBEAT_MS + 100, out["garment_events"]


class _Garment:
    """A garment on virtual time, armed with a cycling controller, pulses recorded."""

    def __init__(self, lead_s: float) -> None:
        self.rider = Rider(target_rpm=60.0, settle_s=0.5)
        self.sim = SimGarment(feed=False)
        self.pulses: list[RigPulse] = []
        self.lead_s = lead_s
        self.policy = controller_policy("emg-timing", 60.0)
        self.model = controller_model(self.policy)  # before the rig holds the clock (slow once)

    async def arm_and_ride(self, g: GarmentClient, rig: LockstepRig, steps: int) -> None:
        await _set_up(g, self.policy, clock=rig.seconds, model=self.model)
        rig.run(0)
        rig.start_source()
        src = rig.source
        assert isinstance(src, RiderSource)
        await g.crank(*src.crank_now())
        await g.ping(0)
        await g.arm()
        for k in range(steps):
            if k % 5 == 0:
                await g.ping(k)
            await g.crank(*src.crank_now())
            rig.run(STEP_US)

    def rig(self) -> LockstepRig:
        rig = LockstepRig(self.sim.rig_port, lambda fs: RiderSource(self.rider, fs), lead_s=self.lead_s)
        rig.on_pulse = self.pulses.append
        return rig


async def _until_fault(g: GarmentClient, within_s: float) -> tuple[str, float]:
    """Poll the garment's state until a fault is latched (or ``within_s`` of wall time)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within_s:
        st = await g.stim_state()
        if st.fault != "none":
            return st.fault, time.monotonic() - t0
        await asyncio.sleep(0.02)
    return "none", within_s


def _wall_clock_trip(silent: bool) -> tuple[str, float, int]:
    gar = _Garment(lead_s=2.0)  # input for the AFE once it follows the wall clock again
    gar.sim.start()
    rig = gar.rig()
    try:
        rig.connect()

        async def go() -> tuple[str, float, int]:
            g = GarmentClient(SerialTransport(gar.sim.url), timeout=10.0)
            await g.connect()
            try:
                await gar.arm_and_ride(g, rig, 150)  # 3 s of ride
                n = len(gar.pulses)
                if not silent:
                    rig.close()  # the rig (the host's clock) goes away: the garment's clock is the wall's again
                    fault, after = await _until_fault(g, 3.0)
                    return fault, after, n
                # a hung host says nothing on either socket: silence for the guard is the
                # condition under test (any request would count as a sign of life)
                t0 = time.monotonic()
                await asyncio.sleep(wire.RIG_CLOCK_GUARD_MS / 1000 + 1.0)
                st = await g.stim_state()
                return st.fault, time.monotonic() - t0, n
            finally:
                await g.close()

        return asyncio.run(go())
    finally:
        rig.close()
        gar.sim.stop()


def test_the_rig_going_away_hands_the_clock_back_and_the_heartbeat_trips() -> None:
    fault, after, pulses = _wall_clock_trip(silent=False)
    assert pulses > 20  # it was stimulating
    assert fault == "heartbeat" and after < 2.0, (fault, after)


def test_a_silent_host_gets_the_clock_back_after_the_guard() -> None:
    fault, after, pulses = _wall_clock_trip(silent=True)
    assert pulses > 20
    assert fault == "heartbeat", (fault, after)
