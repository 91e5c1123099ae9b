"""A ride: the simulated garment (real firmware, unix port) stimulates the rider model.

By default (``clock="virtual"``) the garment runs on virtual time stepped in lockstep with
the rider (``garment.sim.lockstep``): every 20 ms of ride the host sends the crank reading
(and every 100 ms the heartbeat), then lets the garment's clock run 20 ms with the AFE fed
from the rider's EMG, answering each delivered pulse before time goes on. Heartbeat, AFE and
pulses share that one clock, so a ride is deterministic and a 10-minute ride takes what the
two sides need to compute. ``clock="wall"``: the garment's AFE follows the wall clock and a
ride takes as long as it lasts. The host provisions the garment, uploads
the controller's model file (an envelope decoder whose stimulation section is the
controller), calibrates the four channels for the rider's muscles, arms, keeps the
heartbeat and sends the crank sensor's reading (``T_CRANK``) every 20 ms. What reaches the
electrodes is what the garment's supervisor and limits let through; the rider only ever
sees delivered pulses (``RIG_PULSE``).
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, Callable

from garment.client import Calibration, DeviceError, GarmentClient, StreamConfig
from garment.phantom.artefacts import motor_threshold_ma
from garment.sim import SimGarment
from garment.sim.lockstep import HANDBACK_LINE, LockstepRig
from garment.transports import SerialTransport

from .patterns import controller_policy, with_reflex
from .rider import STIM_MUSCLES, Rider
from .source import FEED_LEAD_S, RiderSource

CLOCKS = ("virtual", "wall")
#: the lockstep rig feeds the AFE this far ahead of the garment's clock: the rider's
#: mechanics run LAG_S - FEED_LEAD_S behind the AFE, as with the wall clock
LOCKSTEP_LEAD_S = FEED_LEAD_S

FS = 1000  # half the host work of 2 kHz (phantom, stream): rides must keep up with the AFE clock
WIDTH_US = 300
FREQ_HZ = 30  # the default calibration rate (4 channels fit); the EMG checks read the samples before blanking
AREA_MM2 = 2500  # 50 cm^2 electrodes
CRANK_PERIOD_S = 0.02
PING_PERIOD_S = 0.1
#: FES cycling ramps each burst up in ~0.1 s (the default 20 mA/s would take a whole
#: window to reach the motor threshold): 150 mA/s, set as a limit the garment enforces
SLEW_UA_PER_S = 150_000
IMU_ODR_HZ = 104  # the sim board's LSM6DSO (garmentfw/sim/imu_model.py)


def rider_calibration(channel: int) -> Calibration:
    """The rider's calibration at 300 us: motor threshold from the strength-duration curve
    the phantom uses, max comfortable at 2.5x (where recruitment saturates)."""
    motor = motor_threshold_ma(WIDTH_US)
    return Calibration(channel, int(motor * 500), int(motor * 1000), int(motor * 2500), AREA_MM2, WIDTH_US, FREQ_HZ)


def _drain(g: GarmentClient) -> None:
    """Drop the pulse and decoder reports a long ride would pile up (the rider counts the
    pulses it receives through the rig)."""
    for q in (g.pulses, g.decoder_outputs):
        while not q.empty():
            q.get_nowait()
    del g.events[:-50]


class ThighImuFeed:
    """Feeds the sim board's thigh IMU the left thigh's motion, one sample per output
    period of garment time (the IMU's periods start at its first sample)."""

    def __init__(self, rig: LockstepRig, src: RiderSource) -> None:
        from garment.protocol import wire

        from .thigh_imu import ThighImuMotion

        self.wire = wire
        self.rig = rig
        self.src = src
        self.motion = ThighImuMotion()
        self.period_us = 1_000_000 // IMU_ODR_HZ
        self.t0_us: int | None = None
        self.k = 0  # samples fed

    def feed_until(self, t_us: int) -> None:
        """Every sample due up to garment time ``t_us`` plus one period (ahead of the run)."""
        import struct

        import numpy as np

        now = self.rig.elapsed_us
        if self.t0_us is None:
            self.t0_us = now
        due = (t_us + self.period_us - self.t0_us) // self.period_us  # samples 1..due
        if due <= self.k:
            return
        times = self.t0_us + np.arange(self.k + 1, due + 1) * self.period_us
        angle, rpm = self.src.crank_now()  # at the garment's present
        w = rpm * 2 * np.pi / 60.0
        theta = angle + 6.0 * rpm * (times - now) / 1e6
        ideal = self.motion.ideal(theta, w)
        w_ = self.wire
        for i in range(0, len(ideal), w_.RIG_IMU_MAX):
            part = ideal[i : i + w_.RIG_IMU_MAX]
            body = struct.pack(w_.RIG_IMU_HDR_FMT, len(part)) + b"".join(
                struct.pack(w_.RIG_IMU_SAMPLE_FMT, *map(int, row)) for row in part)
            self.rig.send(w_.RIG_IMU, body)
        self.k = due


def controller_model(policy: dict[str, Any]) -> bytes:
    """The model file a ride uploads: the 8 x 1 kHz envelope decoder with ``policy`` as its
    stimulation section."""
    from garment.models.presets import envelope_model

    return envelope_model(fs=FS, n_ch=8, outputs=8, stim=policy)


async def _set_up(g: GarmentClient, policy: dict[str, Any], clock: Callable[[], float] | None = None,
                  model: bytes | None = None) -> None:
    """Authenticate, configure 8 x 1 kHz, raise the slew limit, upload the controller
    (``model``, else :func:`controller_model` built here), calibrate the four channels,
    start the stream (``clock``: the host's estimate of the garment's time, for a garment
    on virtual time)."""
    from garment.auth import GarmentAuth, ensure_authenticated

    await ensure_authenticated(g)
    if clock is not None and isinstance(g.signer, GarmentAuth):
        g.signer.use_clock(clock)
    await g.set_config(StreamConfig(fs=FS, channels=8))
    await g.set_limits((await g.get_limits()).replace(slew_ua_per_s=SLEW_UA_PER_S))
    await g.upload_model(model if model is not None else controller_model(policy))
    for ch in range(len(STIM_MUSCLES)):
        await g.set_calibration(rider_calibration(ch))
    await g.start_stream()


async def _report_state(g: GarmentClient, report: dict[str, Any]) -> None:
    st = await g.stim_state()
    report["garment_state"] = st.state
    report["garment_fault"] = st.fault
    report["garment_events"] = [e.text for e in g.events][-8:]


async def _ride_lockstep(g: GarmentClient, rig: LockstepRig, rider: Rider, policy: dict[str, Any], seconds: float,
                         progress: Callable[[float], None] | None, report: dict[str, Any],
                         ping_until_s: float | None = None, model: bytes | None = None) -> None:
    """The ride on virtual time: per 20 ms the crank reading (and every 100 ms a ping),
    then 20 ms of garment time. ``ping_until_s``: the host stops its heartbeat after that
    much ride (a host that stops: the garment must trip)."""
    await _set_up(g, policy, clock=rig.seconds, model=model)
    rig.run(0)
    rig.start_source()
    src = rig.source
    assert isinstance(src, RiderSource)
    imu = ThighImuFeed(rig, src) if policy.get("params", {}).get("crank_source") == 1 else None
    if imu is not None:
        imu.feed_until(rig.elapsed_us + int(CRANK_PERIOD_S * 1e6))
    else:
        await g.crank(*src.crank_now())
    await g.ping(0)
    if policy.get("preset") != "off":
        await g.arm()
    rider.begin()
    start = rider.t_ms
    step_us = int(CRANK_PERIOD_S * 1e6)
    per_ping = int(round(PING_PERIOD_S / CRANK_PERIOD_S))
    k = 0
    try:
        while (rider.t_ms - start) / 1000.0 < seconds:
            if k % per_ping == 0 and (ping_until_s is None or k * CRANK_PERIOD_S < ping_until_s):
                await g.ping(rig.elapsed_us // 1000 & 0xFFFFFFFF)
            if imu is not None:  # no crank sensor: the garment reads the thigh
                imu.feed_until(rig.elapsed_us + step_us)
            else:
                await g.crank(*src.crank_now())
            rig.run(step_us)
            k += 1
            g.take_buffered()  # the EMG stream keeps the garment's EMG checks fed; not kept
            _drain(g)
            if progress is not None and k % 50 == 0:
                progress((rider.t_ms - start) / 1000.0)
        await _report_state(g, report)
    finally:
        with contextlib.suppress(DeviceError, asyncio.TimeoutError):
            await g.disarm()
        with contextlib.suppress(DeviceError, asyncio.TimeoutError):
            await g.stop_stream()


async def _ride(g: GarmentClient, rider: Rider, source_of: Callable[[], RiderSource | None], policy: dict[str, Any],
                seconds: float, progress: Callable[[float], None] | None, report: dict[str, Any]) -> None:
    from garment.auth import ensure_authenticated
    from garment.models.presets import envelope_model

    await _set_up(g, policy)
    stop = asyncio.Event()

    async def pings() -> None:
        while not stop.is_set():
            await g.ping(int(time.monotonic() * 1000) & 0xFFFFFFFF)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), PING_PERIOD_S)

    hb = asyncio.create_task(pings())
    try:
        src = source_of()
        if src is None:
            raise RuntimeError("the simulated garment's rig has no rider source")
        angle, rpm = src.crank_now()
        await g.crank(angle, rpm)
        if policy.get("preset") != "off":
            await g.arm()
        with src.lock:
            rider.begin()
        start = rider.t_ms
        while (rider.t_ms - start) / 1000.0 < seconds:
            src = source_of() or src
            angle, rpm = src.crank_now()
            await g.crank(angle, rpm)
            g.take_buffered()  # the EMG stream keeps the garment's EMG checks fed; not kept
            _drain(g)
            if progress is not None:
                progress((rider.t_ms - start) / 1000.0)
            await asyncio.sleep(CRANK_PERIOD_S)
        await _report_state(g, report)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await hb
        with contextlib.suppress(DeviceError, asyncio.TimeoutError):
            await g.disarm()
        with contextlib.suppress(DeviceError, asyncio.TimeoutError):
            await g.stop_stream()


def ride(controller: str, cadence_rpm: float = 60.0, minutes: float = 1.0, seed: int = 0, strength: float | None = None,
         progress: Callable[[float], None] | None = None, clock: str = "virtual",
         ping_until_s: float | None = None, reflex: bool = False) -> tuple[dict[str, Any], Rider]:
    """Ride ``minutes`` on the simulated garment with ``controller``; returns the summary
    (:meth:`Rider.summary` plus the controller and its policy) and the rider.

    ``reflex``: the controller's policy with the withdrawal reflex on (EMG and electrode
    impedance); a stop shows in the summary's ``stim_gaps``.

    ``clock``: ``"virtual"`` (lockstep, deterministic, faster than real time) or ``"wall"``
    (real time). ``ping_until_s`` (virtual clock only): the host's heartbeat stops after
    that many seconds of ride, as a host that hangs would (the garment must trip)."""
    if minutes <= 0:
        raise ValueError("minutes must be > 0")
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {CLOCKS}, not {clock!r}")
    if clock == "wall" and ping_until_s is not None:
        raise ValueError("ping_until_s needs the virtual clock")
    policy = controller_policy(controller, cadence_rpm)
    if reflex:
        policy = with_reflex(policy)
    rider = Rider(target_rpm=cadence_rpm, seed=seed, settle_s=min(10.0, 0.25 * minutes * 60.0),
                  **({} if strength is None else {"strength": strength}))
    lock = threading.Lock()
    holder: list[RiderSource] = []
    report: dict[str, Any] = {}

    def factory(fs: int) -> RiderSource:
        s = RiderSource(rider, fs, seed, lock)
        holder.append(s)
        return s

    if clock == "virtual":
        return _ride_virtual(controller, policy, rider, factory, minutes, progress, ping_until_s)
    sim = SimGarment(source_factory=factory)
    sim.start()
    if sim.feeder is not None:
        sim.feeder.lead_s = FEED_LEAD_S
    try:
        async def go() -> None:
            g = GarmentClient(SerialTransport(sim.url), timeout=3.0)
            await g.connect()
            try:
                await _ride(g, rider, lambda: holder[-1] if holder else None, policy, minutes * 60.0, progress, report)
            finally:
                await g.close()

        asyncio.run(go())
        if sim.feeder is not None:
            if sim.feeder.error:
                raise RuntimeError("the rig link failed: " + sim.feeder.error)
            # the AFE ran out of input (the host fell behind the garment's clock)
            report["afe_underruns"] = sim.feeder.offset_changes
    finally:
        sim.stop()
    out = rider.summary()
    out.update(report)
    out.update({"controller": controller, "policy": policy, "clock": "wall"})
    return out, rider


def _ride_virtual(controller: str, policy: dict[str, Any], rider: Rider, factory: Callable[[int], RiderSource],
                  minutes: float, progress: Callable[[float], None] | None,
                  ping_until_s: float | None) -> tuple[dict[str, Any], Rider]:
    report: dict[str, Any] = {}
    # The host's slow one-time work before the rig takes the garment's clock: the model's
    # first build imports scikit-learn (1.5 s, over 10 s on a loaded host). Silent that long
    # on virtual time, the host looks hung to the garment (wire.RIG_CLOCK_GUARD_MS), which
    # then hands its clock back to the wall and starts the stream on it: not deterministic.
    model = controller_model(policy)
    sim = SimGarment(feed=False)
    sim.start()
    rig = LockstepRig(sim.rig_port, factory, lead_s=LOCKSTEP_LEAD_S)
    try:
        async def go() -> None:
            g = GarmentClient(SerialTransport(sim.url), timeout=10.0)
            await g.connect()
            try:
                rig.connect()  # virtual time from here: the host's link is set up
                await _ride_lockstep(g, rig, rider, policy, minutes * 60.0, progress, report, ping_until_s, model)
            finally:
                await g.close()

        asyncio.run(go())
        report["afe_underruns"] = rig.offset_changes  # fed ahead before every run: 0 unless something is wrong
        report["garment_seconds"] = rig.seconds()
        # times the garment took its clock back from a host silent too long (0: lockstep
        # throughout); its console up to the link's end (printed once the host has closed it)
        sim.wait_output("link: host gone", timeout=5.0)
        report["clock_handbacks"] = sim.printed(HANDBACK_LINE)
    finally:
        rig.close()
        sim.stop()
    out = rider.summary()
    out.update(report)
    out.update({"controller": controller, "policy": policy, "clock": "virtual"})
    return out, rider
