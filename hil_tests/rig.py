"""The HIL rig: what a test bench around the garment does, for the simulated garment.

- fault injection: electrode impedance (``RIG_IMPEDANCE``), AFE lead-off (``RIG_LEAD_OFF``),
  EMG at the rail or dead (the feeder holds an input), battery voltage (``RIG_BATTERY``),
  EMG onsets (the phantom's ``inject_onset``);
- measurement: every pulse the simulated stimulator delivered (``RIG_PULSE``: device
  clock, AFE sample index, channel, amplitude, width), independently of the firmware's
  own ``R_PULSES`` reports.

Hardware-independent helpers live here too: :class:`PulseLog` (every ``R_PULSES`` record
with its host arrival time), :class:`ClockMap` (device clocks -> host clock, estimated
from arrival times: works on a real link as well as on the sim), :func:`heartbeat`.
"""
from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

from garment.auth import ensure_authenticated
from garment.client import Calibration, DeviceError, GarmentClient, Limits, Pulse, StimState
from garment.devices import open_device
from garment.heartbeat import Heartbeat, heartbeat  # noqa: F401 - the tests import them from here
from garment.protocol import Packet, wire
from garment.sim import SimGarment
from garment.sim.feeder import RAIL_UV, EmgFeeder, RigPulse

US_MOD = wire.COUNTER_MOD  # pulse t_us wraps here (ticks_us & (2**30 - 1))
MS_MOD = wire.COUNTER_MOD  # uptime_ms wraps here


# ---- device clock -> host clock -----------------------------------------------------------
class ClockMap:
    """Maps a device clock (wrapping at ``mod`` ticks of ``unit_s``) to host monotonic time.

    Each observation bounds the offset (host time - device time): a report of device
    time ``t`` that reached the host at ``h1`` was made at or before ``h1``; one that
    answers a request sent at ``h0`` was made at or after ``h0``. The map keeps the
    tightest bounds seen. Without a lower bound it maps to the LATEST time the event
    can have happened (conservative for "nothing after X" checks); ``error_s`` says
    how wide the remaining uncertainty is (None: one-sided)."""

    def __init__(self, unit_s: float, mod: int = US_MOD) -> None:
        self.unit_s = unit_s
        self.mod = mod
        self.lo: float | None = None
        self.hi: float | None = None
        self.samples = 0

    def _unwrap(self, t: int, near_host: float) -> float:
        period = self.mod * self.unit_s
        ref = self.hi if self.hi is not None else 0.0
        x = t * self.unit_s
        k = round((near_host - ref - x) / period)
        return x + k * period

    def observe(self, t: int, h1: float, h0: float | None = None, tick_s: float = 0.0) -> None:
        """Device time ``t`` (a truncated count of ticks of ``tick_s``) was produced
        before ``h1`` and, if given, after ``h0``."""
        x = self._unwrap(t, h1)
        self.samples += 1
        hi = h1 - x
        if self.hi is None or hi < self.hi:
            self.hi = hi
        if h0 is not None:
            lo = h0 - x - tick_s
            if self.lo is None or lo > self.lo:
                self.lo = lo

    @property
    def offset(self) -> float | None:
        if self.hi is None:
            return None
        return self.hi if self.lo is None else (self.lo + self.hi) / 2

    @property
    def error_s(self) -> float | None:
        """Half the width of the offset interval (None when only an upper bound is known)."""
        if self.hi is None or self.lo is None:
            return None
        return max(0.0, (self.hi - self.lo) / 2)

    def to_host(self, t: int, near_host: float) -> float:
        """Host time of device time ``t`` (``near_host``: any host time within half a wrap)."""
        off = self.offset
        assert off is not None, "no device time observed yet"
        return self._unwrap(t, near_host) + off


async def sync_uptime(g: GarmentClient, clock: "ClockMap", rounds: int = 8) -> None:
    """Bound the device's uptime_ms clock (R_EVENT, R_STATUS) with T_STATUS round trips."""
    for _ in range(rounds):
        h0 = time.monotonic()
        st = await g.status()
        h1 = time.monotonic()
        clock.observe(st.uptime_ms, h1, h0, tick_s=1e-3)


@dataclass(frozen=True)
class LoggedPulse:
    """An ``R_PULSES`` record and when its packet reached the host."""

    pulse: Pulse
    host_t: float


class PulseLog:
    """Collects every ``R_PULSES`` record, every unsolicited stim-state change and every
    event of a client (a listener: nothing is taken from the client's own queues), and
    keeps the device-clock -> host-clock maps up to date."""

    def __init__(self, g: GarmentClient) -> None:
        self.g = g
        self.pulses: list[LoggedPulse] = []
        self.states: list[tuple[float, bytes]] = []  # (host time, STIM_STATE body)
        self.events: list[tuple[float, int, int, str]] = []  # (host time, uptime_ms, code, text)
        self.us = ClockMap(1e-6, US_MOD)
        self.ms = ClockMap(1e-3, MS_MOD)
        self._changed = asyncio.Event()
        g.listeners.append(self._on_packet)

    def close(self) -> None:
        if self._on_packet in self.g.listeners:
            self.g.listeners.remove(self._on_packet)

    def _on_packet(self, pkt: Packet) -> None:
        now = time.monotonic()
        if pkt.type == wire.R_PULSES and pkt.body:
            n = pkt.body[0]
            for i in range(n):
                p = Pulse(*struct.unpack_from(wire.PULSE_FMT, pkt.body, 1 + i * wire.PULSE_LEN))
                self.pulses.append(LoggedPulse(p, now))
                self.us.observe(p.t_us, now)
        elif pkt.type == wire.R_EVENT and len(pkt.body) >= 5:
            up, code = struct.unpack_from("<IB", pkt.body)
            self.events.append((now, up, code, pkt.body[5:].decode("utf-8", "replace")))
            self.ms.observe(up, now)
        elif pkt.type == wire.R_STIM_STATE and len(pkt.body) >= 2:
            ref = pkt.body[0] | pkt.body[1] << 8
            if ref == wire.NO_REF:
                self.states.append((now, pkt.body[2:]))
        self._changed.set()

    def mark(self) -> int:
        return len(self.pulses)

    def since(self, mark: int = 0, channel: int | None = None) -> list[LoggedPulse]:
        return [p for p in self.pulses[mark:] if channel is None or p.pulse.channel == channel]

    def host_time(self, p: LoggedPulse) -> float:
        """When the pulse happened, on the host clock."""
        return self.us.to_host(p.pulse.t_us, p.host_t)

    async def wait(self, predicate: Callable[[], bool], timeout: float, what: str = "condition") -> None:
        """Wait (on packets, not on sleeps) until ``predicate()``; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))

    async def wait_pulses(self, n: int, mark: int = 0, channel: int | None = None, timeout: float = 10.0) -> list[LoggedPulse]:
        await self.wait(lambda: len(self.since(mark, channel)) >= n, timeout, f"{n} pulses")
        return self.since(mark, channel)


# ---- the rig (simulated garment) -----------------------------------------------------------
class SimRig:
    """Fault injection and pulse measurement on the simulated garment (its rig port).

    ``us`` maps the device's microsecond clock to the host clock from the rig's pulse
    reports, which the sim writes to the rig socket inside the pulse itself: the upper
    bound it gives is within a fraction of a millisecond of the truth."""

    def __init__(self, sim: SimGarment) -> None:
        self.sim = sim
        self.us = ClockMap(1e-6, US_MOD)
        self._attached: EmgFeeder | None = None
        self.base = self.mark()  # pulses before this rig was set up belong to other tests

    @property
    def feeder(self) -> EmgFeeder:
        f = self.sim.feeder
        assert f is not None, "the simulated garment runs without its EMG feeder"
        if f is not self._attached:
            self._attached = f
            self.us = ClockMap(1e-6, US_MOD)
            f.on_pulse = self._on_pulse
        return f

    def _on_pulse(self, p: RigPulse) -> None:
        self.us.observe(p.t_us, time.monotonic())

    def host_time(self, p: RigPulse) -> float:
        """When the pulse happened, on the host clock (within ~1 ms)."""
        return self.us.to_host(p.t_us, time.monotonic())

    # -- injection --
    def set_impedance(self, channel: int, ohms: int) -> None:
        self.feeder.set_impedance(channel, ohms)

    def set_load(self, channel: int, series_ohm: int = 0, interface_ohm: int = 0, interface_nf: int = 0) -> None:
        """The electrode-skin load of a stimulation channel (all 0: nominal)."""
        self.feeder.set_load(channel, series_ohm, interface_ohm, interface_nf)

    def set_estop(self, level: int) -> None:
        """The E-stop button as a level: wire.ESTOP_RELEASED / ESTOP_PRESSED / ESTOP_BROKEN."""
        self.feeder.set_estop(level)

    def lead_off(self, channel: int, off: bool = True) -> None:
        self.feeder.set_lead_off(channel, off, off)

    def saturate(self, channel: int, on: bool = True) -> None:
        """EMG input ``channel`` past the AFE rail (or back to the phantom)."""
        self.feeder.hold_input(channel, RAIL_UV if on else None)

    def flatline(self, channel: int, on: bool = True) -> None:
        """EMG input ``channel`` exactly 0 V (a dead input) or back to the phantom."""
        self.feeder.hold_input(channel, 0.0 if on else None)

    def set_battery(self, mv: int) -> None:
        self.feeder.set_battery(mv)

    def hold_passes(self, hold_us: int) -> None:
        """Every loop pass held up ``hold_us`` twice: before its first block and while it works
        through the ring (0: off)."""
        self.feeder.set_pass_hold(hold_us)

    def set_fatigue(self, level: float) -> None:
        """The phantom's muscles rested (0) or tired (up to 1): M-waves lengthen with fatigue."""
        self.feeder.set_fatigue(level)

    def inject_onset(self, channel: int, level: float, delay_s: float = 0.0) -> int:
        """Step the drive of the muscle under ``channel`` to ``level`` at the first sample
        the feeder has not produced yet (+ ``delay_s``); returns that feeder sample index
        (``feeder.afe_index_of()`` maps it to the AFE's conversion index)."""
        return self.feeder.inject_onset(channel, level, delay_s)

    def afe_now(self) -> int:
        return int(self.feeder.conversions)

    def restore(self, channels: int = 8) -> None:
        """Every injected fault removed (impedance nominal, leads on, inputs released, battery full)."""
        f = self.feeder
        f.set_estop(wire.ESTOP_RELEASED)
        f.set_pass_hold(0)
        for ch in range(channels):
            f.set_load(ch)
            f.set_lead_off(ch, False, False)
            f.hold_input(ch, None)
        f.set_battery(4000)

    # -- measurement --
    def mark(self) -> int:
        with self.feeder.pulse_cond:
            return len(self.feeder.pulses)

    def pulses(self, mark: int | None = None, channel: int | None = None) -> list[RigPulse]:
        """Pulses delivered since ``mark`` (default: since this rig was set up)."""
        m = self.base if mark is None else mark
        return [p for p in self.feeder.pulses_since(m) if channel is None or p.channel == channel]

    def wait_pulses(self, n: int, mark: int | None = None, channel: int | None = None,
                    timeout: float = 10.0) -> list[RigPulse]:
        if mark is None:
            mark = self.base
        ok = self.feeder.wait_pulses(
            lambda ps: sum(1 for p in ps[mark:] if channel is None or p.channel == channel) >= n, timeout)
        got = self.pulses(mark, channel)
        assert ok, f"the rig saw {len(got)} of {n} pulses in {timeout} s"
        return got

    def wait_afe(self, samples: int, timeout: float = 10.0) -> None:
        """Wait until the AFE has converted ``samples`` more samples (AFE time passes)."""
        f = self.feeder
        with f.progress:
            start = f.afe_total
            ok = f.progress.wait_for(lambda: f.afe_total - start >= samples, timeout)
        assert ok, (f"the AFE did not convert {samples} samples in {timeout} s (feeder thread alive: "
                    f"{f._thread.is_alive()}, error: {f.error}, sim alive: {self.sim.alive()})")


# ---- standard set-ups -------------------------------------------------------------------------
#: A calibration every test can use: 25 cm^2 electrodes, 300 us at 30 Hz, 20 mA max.
def calib(channel: int, max_ua: int = 20000, motor_ua: int = 10000, sensory_ua: int = 5000,
          area_mm2: int = 2500, width_us: int = 300, freq_hz: int = 30) -> Calibration:
    return Calibration(channel, sensory_ua, motor_ua, max_ua, area_mm2, width_us, freq_hz)


def limits(base: Limits, **changes: int) -> Limits:
    return base.replace(**changes)


def check_pulse_safe(p: Pulse, cal: Calibration | None, lim: Limits) -> str | None:
    """None if the delivered pulse respects the calibration and the limits, else why not.

    Written out here on purpose, NOT derived from ``garmentfw/limits.py``: this is the
    suite's independent oracle for what reached the electrodes, so a wrong rule in the
    firmware's checks cannot make its own test pass."""
    if cal is None:
        return f"pulse on uncalibrated channel {p.channel}: {p}"
    if not 0 < p.amplitude_ua <= cal.max_ua:
        return f"amplitude {p.amplitude_ua} uA outside 1..{cal.max_ua} (calibrated max) on channel {p.channel}"
    if p.amplitude_ua > lim.max_ua:
        return f"amplitude {p.amplitude_ua} uA above limits.max_ua={lim.max_ua}"
    if not 20 <= p.width_us <= lim.max_width_us:
        return f"width {p.width_us} us outside 20..{lim.max_width_us}"
    if p.amplitude_ua * p.width_us > lim.max_charge_nc * 1000:
        return f"charge {p.amplitude_ua * p.width_us / 1000:.0f} nC above limits.max_charge_nc={lim.max_charge_nc}"
    if p.interphase_us <= 0 or p.interphase_us > 1000:
        return f"interphase gap {p.interphase_us} us"
    return None


def match_pulses(reported: list[Pulse], delivered: list[RigPulse], tol_us: int = 20000) -> tuple[list[Pulse], list[RigPulse]]:
    """Pair every pulse the stimulator delivered with one the garment reported (same
    channel, amplitude and width, device times within ``tol_us``: the garment stamps a
    pulse when it decides to fire it, the stimulator when it fires, and a preempted sim
    process can put milliseconds between the two). Returns what is left unpaired on
    each side."""
    pool: dict[tuple[int, int, int], list[int]] = {}
    for i, p in enumerate(reported):
        pool.setdefault((p.channel, p.amplitude_ua, p.width_us), []).append(i)
    used = [False] * len(reported)
    left_rig: list[RigPulse] = []
    for d in delivered:
        best, best_dt = None, tol_us + 1
        for i in pool.get((d.channel, d.amplitude_ua, d.width_us), []):
            if not used[i]:
                dt = abs(wrap_us(d.t_us, reported[i].t_us))
                if dt < best_dt:
                    best, best_dt = i, dt
        if best is None:
            left_rig.append(d)
        else:
            used[best] = True
    return [p for i, p in enumerate(reported) if not used[i]], left_rig


def stamp_skew_us(reported: list[Pulse], delivered: list[RigPulse]) -> list[int]:
    """For each delivered pulse, |stimulator time - reported time| of its match (us)."""
    out = []
    by_key: dict[tuple[int, int, int], list[Pulse]] = {}
    for p in reported:
        by_key.setdefault((p.channel, p.amplitude_ua, p.width_us), []).append(p)
    for d in delivered:
        c = by_key.get((d.channel, d.amplitude_ua, d.width_us), [])
        if c:
            out.append(min(abs(wrap_us(d.t_us, p.t_us)) for p in c))
    return out


def wrap_us(a: int, b: int) -> int:
    """a - b for device microsecond times (mod 2**30)."""
    d = (a - b) % US_MOD
    return d - US_MOD if d >= US_MOD // 2 else d


# ---- decoder models for the closed-loop tests ------------------------------------------------
def off_model() -> bytes:
    """A valid model whose stimulation policy is "off" (closed loop silent)."""
    return envelope_model(stim={"preset": "off", "params": {}})


def envelope_model(**kw: Any) -> bytes:
    """The proportional envelope model (stim channel i follows EMG channel i's MAV)."""
    from garment.models.presets import envelope_model as preset

    return preset(**kw)


# ---- the bench every safety test stands on ----------------------------------------------------
class StimBench:
    """An authenticated garment in a known stimulation state, its pulse log, its rig (None
    on hardware), and everything needed to put it back as it was."""

    def __init__(self, g: GarmentClient, rig: SimRig | None) -> None:
        self.g = g
        self.rig = rig
        self.log = PulseLog(g)
        self.n = 0
        self.limits0: Limits | None = None
        self.cals0: list[Calibration] = []
        self.model_changed = False
        self.model0: str | None = None  # CRC of the model active before the test
        self.fs = 2000

    @classmethod
    async def open(cls, g: GarmentClient, sim: SimGarment | None) -> "StimBench":
        from garment.auth import ensure_authenticated

        b = cls(g, SimRig(sim) if sim is not None else None)
        await ensure_authenticated(g)
        for ch in range(wire.MAX_CHANNELS):
            try:
                b.cals0.append(await g.get_calibration(ch))
            except DeviceError as e:
                if e.code != wire.E_OUT_OF_RANGE:
                    raise
                break
        b.n = len(b.cals0)
        assert b.n >= 1, "the garment has no stimulation channel"
        b.limits0 = await g.get_limits()
        b.fs = (await g.get_config()).fs
        b.model0 = ((await g.model_info()).get("active") or {}).get("crc")
        await b.safe_start()
        return b

    async def safe_start(self) -> None:
        """Disarmed, no fault, no calibration, default-ish limits, closed loop silent."""
        g = self.g
        if self.rig is not None:
            self.rig.restore()
            self.rig.wait_afe(self.fs // 5)  # the EMG checks see clean samples again
        with contextlib.suppress(DeviceError):
            await g.disarm()
        with contextlib.suppress(DeviceError):
            await g.fault_reset()
        for ch in range(self.n):
            await g.set_calibration(Calibration(ch, 0, 0, 0, 0, 0, 0))
        info = await g.model_info()
        active = info.get("active") or {}
        stim = active.get("stim") or (info.get("stim") if isinstance(info.get("stim"), dict) else None)
        if info.get("verified") and (not isinstance(stim, dict) or stim.get("preset") != "off"):
            await g.upload_model(off_model())
            self.model_changed = True

    async def restore(self) -> None:
        """Back to the calibrations and limits the garment had before the test."""
        g = self.g
        try:
            await self.safe_start()
            if self.limits0 is not None:
                await g.set_limits(self.limits0)
            for c in self.cals0:
                if c.max_ua > 0:
                    await g.set_calibration(c)
            if self.model_changed and self.model0 is not None:
                # best effort (the garment keeps two models): back to the one before the
                # test if it is still the previous one
                info = await g.model_info()
                active = (info.get("active") or {}).get("crc")
                previous = (info.get("previous") or {}).get("crc")
                if active != self.model0 and previous == self.model0:
                    with contextlib.suppress(DeviceError):
                        await g.model_rollback()
        finally:
            self.log.close()

    def need_rig(self) -> SimRig:
        if self.rig is None:
            pytest.skip("needs the HIL rig (fault injection / pulse measurement); this device has none")
        return self.rig

    async def calibrate(self, ch: int, **kw: int) -> Calibration:
        c = calib(ch, **kw)
        got = await self.g.set_calibration(c)
        assert got == c
        return c

    async def set_limits(self, **changes: int) -> Limits:
        lim = limits(await self.g.get_limits(), **changes)
        assert await self.g.set_limits(lim) == lim
        return lim

    async def let_time_pass(self, seconds: float) -> None:
        """AFE time passes (rig reports on the sim; the device's own uptime on hardware)."""
        if self.rig is not None:
            rig = self.rig
            fs = rig.feeder.fs or self.fs  # the rate the AFE runs at now
            await asyncio.get_running_loop().run_in_executor(None, rig.wait_afe, max(1, int(seconds * fs)))
            return
        st = await self.g.status()
        start = st.uptime_ms
        while (await self.g.status()).uptime_ms - start < seconds * 1000:
            pass

    def states(self, since: int = 0) -> list[tuple[float, StimState]]:
        return [(t, StimState.unpack(b)) for t, b in self.log.states[since:]]

    async def wait_state(self, pred: Callable[[StimState], bool], timeout: float = 5.0,
                         since: int = 0, what: str = "a stim state") -> tuple[float, StimState]:
        """The first unsolicited stim-state report (from index ``since``) that satisfies ``pred``."""
        def find() -> tuple[float, StimState] | None:
            for t, st in self.states(since):
                if pred(st):
                    return t, st
            return None

        await self.log.wait(lambda: find() is not None, timeout, what)
        got = find()
        assert got is not None
        return got

    def event(self, needle: str, since: int = 0) -> tuple[float, int, int, str] | None:
        for ev in self.log.events[since:]:
            if needle in ev[3]:
                return ev
        return None

    def event_host_time(self, ev: tuple[float, int, int, str]) -> float:
        """When the device made an event (its uptime mapped by sync_uptime's round trips)."""
        return self.log.ms.to_host(ev[1], ev[0])

    def pulse_times(self, mark: int = 0, rig_mark: int | None = None, channel: int | None = None) -> list[float]:
        """Host times of delivered pulses: the rig's (exact) on the sim, else the garment's
        reports (mapped conservatively: never earlier than they happened)."""
        if self.rig is not None:
            return [self.rig.host_time(p) for p in self.rig.pulses(rig_mark, channel)]
        return [self.log.host_time(p) for p in self.log.since(mark, channel)]

    async def wait_pulses(self, n: int, channel: int | None = None, mark: int = 0, timeout: float = 10.0) -> list[Pulse]:
        got = await self.log.wait_pulses(n, mark, channel, timeout)
        return [p.pulse for p in got]

    async def wait_amplitude(self, channel: int, amplitude_ua: int, mark: int = 0, timeout: float = 10.0) -> list[Pulse]:
        """Wait until a pulse on ``channel`` reaches ``amplitude_ua``; the pulses so far."""
        await self.log.wait(lambda: any(p.pulse.amplitude_ua >= amplitude_ua for p in self.log.since(mark, channel)),
                            timeout, f"channel {channel} at {amplitude_ua} uA")
        return [p.pulse for p in self.log.since(mark, channel)]


@contextlib.asynccontextmanager
async def own_garment(tmp_path: Path, timeout: float = 3.0, **sim_options: int) -> AsyncIterator[tuple[SimGarment, "SimRig", GarmentClient]]:
    """A simulated garment of the test's own (a fresh flash: no model, no calibration, a
    dose window at zero), its rig, and a connected, authenticated client; closed and
    stopped afterwards."""
    async with open_device("sim", timeout, sim=SimGarment(state_dir=tmp_path / "flash", **sim_options)) as conn:
        assert conn.sim is not None
        await ensure_authenticated(conn.client)
        yield conn.sim, SimRig(conn.sim), conn.client
