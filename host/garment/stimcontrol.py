"""Arm, run test trains, disarm: the one stimulation sequence every host tool follows.

The TUI's threshold ramp, ``garment stim``, ``garment calibrate`` and the latency
measurement all make the garment stimulate on request, and all need the same protocol
around it, with the same guarantees whatever goes wrong:

1. an authenticated session (the caller opens it: :func:`garment.auth.ensure_authenticated`
   or ``GarmentSession.ensure_auth``): arming and test trains are privileged;
2. optionally a provisional calibration (:func:`provisional_calibration`): the firmware
   runs test trains only on a calibrated channel and bounds each train by the
   calibration's ``max_ua``; the channel's previous calibration is put back afterwards;
3. a heartbeat for as long as the garment is armed (:func:`armed` runs one unless the
   caller has its own, e.g. the TUI session): without it the garment zeroes its outputs
   and latches a heartbeat fault, so a host that dies mid-train leaves no stimulation on;
4. ``T_ARM``, then ``T_STIM_TEST`` trains (:meth:`Armed.test`; each ramps from zero at the
   garment's slew limit);
5. ``T_DISARM`` at the end (a stop is immediate; it keeps any latched fault, the E-STOP's
   too), also after an error or a cancellation, then the heartbeat stops; the clean-up
   runs to its end even when the task is cancelled again while it runs, and a
   provisional calibration goes back only after the disarm (the garment refuses
   calibration changes while armed).

:func:`search_thresholds` is the calibration ramp on top of these (provisional
calibration, arm, :class:`Ramp`, disarm, restore). Nothing here touches an interface:
tests drive it against the simulated garment without Textual.
"""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine

from garment.client import GarmentClient, StimState
from garment.heartbeat import heartbeat
from garment.stimulation import MAX_TEST_MS, Calibration

__all__ = [
    "Armed", "Ramp", "RampResult", "StimRefused", "StimSettings", "armed", "default_max", "finish",
    "heartbeat", "provisional_calibration", "search_thresholds", "train_ms",
]


class StimRefused(ValueError):
    """A stimulation request the host refuses before sending anything (the message says why)."""


async def finish(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run clean-up ``coro`` to its end even if this task is cancelled (again) meanwhile;
    a cancellation that arrived is raised once the clean-up is over."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                if task.cancelled():
                    raise
                result = task.result()
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


class Armed:
    """An armed garment inside :func:`armed`: test trains, re-arming, the last state."""

    def __init__(self, g: GarmentClient) -> None:
        self.g = g
        self.state: StimState | None = None

    async def test(self, channel: int, amplitude_ua: int, width_us: int, freq_hz: int, duration_ms: int) -> StimState:
        """One ramped test train (``T_STIM_TEST``); the garment refuses it (DeviceError)
        beyond the channel's calibration or the limits."""
        self.state = await self.g.stim_test(channel, amplitude_ua, width_us, freq_hz, duration_ms)
        return self.state

    async def disarm(self) -> StimState:
        """Output off now (still inside the block: :meth:`rearm` arms again)."""
        self.state = await self.g.disarm()
        return self.state

    async def rearm(self) -> StimState:
        """Arm again: after a fault (``T_FAULT_RESET`` first; refused while the cause is
        still there) or from armed/stimulating (``T_DISARM`` first: every start ramps from zero)."""
        st = await self.g.stim_state()  # the garment's, not what we saw last
        if st.state == "fault":
            await self.g.fault_reset()
        elif st.state in ("armed", "stimulating"):
            await self.g.disarm()
        self.state = await self.g.arm()
        return self.state


@contextlib.asynccontextmanager
async def armed(g: GarmentClient, *, heartbeat_s: float | None = 0.1) -> AsyncIterator[Armed]:
    """Arm the garment for the block, disarm after it (see the module doc).

    ``heartbeat_s``: period of the heartbeat run here; None when the caller keeps one
    (the TUI session). The disarm also follows an error or a cancellation (e.g. by the
    TUI's E-STOP): it zeroes every output and keeps any latched fault, E-STOP included,
    so it is always safe. A failing disarm after a block that ended normally raises;
    after an error or a cancellation, that error or cancellation is what raises."""
    async with contextlib.AsyncExitStack() as stack:
        if heartbeat_s is not None:
            await stack.enter_async_context(heartbeat(g, heartbeat_s))
        a = Armed(g)
        a.state = await g.arm()
        try:
            yield a
        except BaseException:
            with contextlib.suppress(Exception):
                a.state = await finish(g.disarm())
            raise
        a.state = await finish(g.disarm())


@contextlib.asynccontextmanager
async def provisional_calibration(g: GarmentClient, cal: Calibration) -> AsyncIterator[Calibration | None]:
    """Store ``cal`` on its channel for the block; the previous calibration (yielded; None
    for an uncalibrated channel) is stored again after it, even after an error or a
    cancellation."""
    prev = await g.get_calibration(cal.channel)
    await g.set_calibration(cal)
    try:
        yield prev if prev.max_ua else None
    finally:
        restore = prev if prev.max_ua else Calibration(cal.channel, 0, 0, 0, 0, 0, 0)
        await finish(g.set_calibration(restore))


# ---- the threshold ramp ---------------------------------------------------------------------
@dataclass
class StimSettings:
    """Pulse parameters and the ramp used to find a channel's thresholds."""

    width_us: int = 300
    freq_hz: int = 30
    area_mm2: int = 2500  # 5 cm x 5 cm electrode
    start_ua: int = 1000
    step_ua: int = 500
    ceiling_ua: int = 40000
    step_s: float = 1.0

    def check(self) -> None:
        for name in ("width_us", "freq_hz", "area_mm2", "start_ua", "step_ua", "ceiling_ua"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.start_ua > self.ceiling_ua:
            raise ValueError("the ramp starts above its ceiling")
        if self.step_s <= 0:
            raise ValueError("step_s must be positive")

    def provisional(self, channel: int) -> Calibration:
        """The calibration a threshold search runs under: no thresholds, max = the ceiling."""
        return Calibration(channel, 0, 0, self.ceiling_ua, self.area_mm2, self.width_us, self.freq_hz)


def default_max(motor_ua: int, ceiling_ua: int) -> int:
    """Working maximum: 1.5 x the motor threshold, within the ramp's ceiling."""
    return int(min(ceiling_ua, round(motor_ua * 1.5)))


@dataclass
class RampResult:
    reason: str  # "motor" | "stopped" | "ceiling"
    last_ua: int
    sensory_ua: int | None
    motor_ua: int | None


def train_ms(amplitude_ua: int, slew_ua_per_s: int, hold_s: float) -> int:
    """One test train: the firmware ramps it up from zero at the slew limit, then holds
    ``hold_s`` at the amplitude (at most MAX_TEST_MS, the firmware's longest train)."""
    rise = -(-amplitude_ua * 1000 // max(1, slew_ua_per_s))  # ceil, ms
    return int(min(MAX_TEST_MS, rise + round(hold_s * 1000)))


class Ramp:
    """A slow amplitude ramp on one stimulation channel, stopped by the user.

    Every step sends one test train (``send(amplitude_ua, duration_ms)``, i.e.
    ``Armed.test``); the firmware starts each train from zero and ramps it at its slew
    limit, so a step lasts ``train_ms(amplitude)`` and the next, stronger train follows
    when it ends. ``felt()`` records the sensory threshold and goes on;
    ``contraction()`` records the motor threshold and stops; ``stop()`` stops at once
    (the caller then disarms, which zeroes the output). :func:`search_thresholds` sets
    ``send`` and ``train_ms`` when they are not given.
    """

    def __init__(self, settings: StimSettings, send: Callable[[int, int], Awaitable[Any]] | None = None,
                 train_ms: Callable[[int], int] | None = None,
                 on_step: Callable[[int], None] | None = None) -> None:
        settings.check()
        self.s = settings
        self.send = send
        self.train_ms = train_ms or (lambda amp: int(round(settings.step_s * 1000)))
        self._train_ms_given = train_ms is not None
        self.on_step = on_step
        self.amplitude_ua = 0
        self.sensory_ua: int | None = None
        self.motor_ua: int | None = None
        self._stop = asyncio.Event()
        self.reason = ""

    def felt(self) -> None:
        if self.sensory_ua is None and self.amplitude_ua:
            self.sensory_ua = self.amplitude_ua

    def contraction(self) -> None:
        if self.amplitude_ua:
            self.motor_ua = self.amplitude_ua
            if self.sensory_ua is None:
                self.sensory_ua = self.amplitude_ua
            self.reason = "motor"
            self._stop.set()

    def stop(self, reason: str = "stopped") -> None:
        if not self.reason:
            self.reason = reason
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> RampResult:
        if self.send is None:
            raise RuntimeError("Ramp.run needs send(amplitude_ua, duration_ms)")
        s = self.s
        amp = s.start_ua
        while not self._stop.is_set():
            if amp > s.ceiling_ua:
                self.stop("ceiling")
                break
            duration_ms = self.train_ms(amp)
            self.amplitude_ua = amp
            await self.send(amp, duration_ms)
            if self.on_step is not None:
                self.on_step(amp)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), duration_ms / 1000.0)
            amp += s.step_ua
        return RampResult(self.reason or "stopped", self.amplitude_ua, self.sensory_ua, self.motor_ua)


async def search_thresholds(g: GarmentClient, channel: int, ramp: Ramp, *,
                            heartbeat_s: float | None = 0.1) -> RampResult:
    """Find one channel's thresholds with ``ramp``: provisional calibration (max = the
    ramp's ceiling), arm, ramp until the user stops it, disarm, previous calibration back.

    The caller holds ``ramp`` to call ``felt()`` / ``contraction()`` / ``stop()`` while
    this runs, and stores the thresholds it found (the garment keeps none of them).
    Raises :class:`StimRefused` when the ceiling is above the garment's limits, and
    DeviceError when the garment refuses a step. ``heartbeat_s`` is :func:`armed`'s."""
    s = ramp.s
    lim = await g.get_limits()
    if s.ceiling_ua > lim.max_ua:
        raise StimRefused(f"ceiling {s.ceiling_ua} uA is above the garment's limit max_ua={lim.max_ua}: lower it")
    if not ramp._train_ms_given:
        ramp.train_ms = lambda amp: train_ms(amp, lim.slew_ua_per_s, s.step_s)
    async with provisional_calibration(g, s.provisional(channel)):
        async with armed(g, heartbeat_s=heartbeat_s) as a:
            if ramp.send is None:
                async def send(amp: int, duration_ms: int) -> None:
                    await a.test(channel, amp, s.width_us, s.freq_hz, duration_ms)

                ramp.send = send
            return await ramp.run()
