"""Fuzz: 10 000 random commands from an authenticated host - every request type, valid
stimulation requests with out-of-range values, random calibrations and limits, random
bytes, E-stops, resets, model rollbacks, configuration changes - while a heartbeat runs.
Afterwards: no pulse the garment delivered ever exceeded the limits or the calibration
in force when it was delivered, every delivered pulse was reported, no request crashed a
handler (E_INTERNAL), and the garment still answers.

"In force" is tracked from the garment's own answers: every R_LIMITS and R_CALIB updates
the host's copy, every R_PULSES record is checked against it as it arrives (the garment
sends the pulses delivered before a state change ahead of it, and changes limits and
calibrations only while disarmed, so arrival order is delivery order)."""
from __future__ import annotations

import os
import random
import struct
import time
from pathlib import Path
from typing import AsyncIterator

import pytest

from garment import auth
from garment.client import Calibration, DeviceError, GarmentClient, Limits, Pulse
from garment.devices import make_transport
from garment.protocol import Packet, wire
from garment.sim import SimGarment
from rig import StimBench, check_pulse_safe, heartbeat, match_pulses, stamp_skew_us

N_COMMANDS = int(os.environ.get("GARMENT_FUZZ_N", "10000"))
SEED = int(os.environ.get("GARMENT_FUZZ_SEED", "20261124"))


class Tracker:
    """The limits and calibrations in force, from the garment's answers; checks pulses."""

    def __init__(self, lim: Limits, cals: list[Calibration | None]) -> None:
        self.lim = lim
        self.cal = list(cals)
        self.pulses: list[Pulse] = []
        self.violations: list[str] = []
        self.max_seen: dict[int, int] = {}
        self.recent: dict[int, list[int]] = {}  # per channel: the last second of pulse times (us)

    def on_packet(self, pkt: Packet) -> None:
        t = pkt.type
        if t == wire.R_LIMITS and len(pkt.body) == 2 + 30:
            self.lim = Limits.unpack(pkt.body[2:])
        elif t == wire.R_CALIB and len(pkt.body) == 2 + 19:
            c = Calibration.unpack(pkt.body[2:])
            if 0 <= c.channel < len(self.cal):
                self.cal[c.channel] = c if c.max_ua > 0 else None
        elif t == wire.R_PULSES and pkt.body:
            for i in range(pkt.body[0]):
                p = Pulse(*struct.unpack_from(wire.PULSE_FMT, pkt.body, 1 + i * wire.PULSE_LEN))
                self.pulses.append(p)
                cal = self.cal[p.channel] if p.channel < len(self.cal) else None
                bad = check_pulse_safe(p, cal, self.lim) or self._interval(p)
                if bad:
                    self.violations.append(f"{bad} (limits {self.lim}, calibration {cal})")
                self.max_seen[p.channel] = max(self.max_seen.get(p.channel, 0), cal.max_ua if cal else 0)


    def _interval(self, p: Pulse) -> str | None:
        """Pulse intervals against limits.max_freq_hz: never closer than half its period
        (no double pulse), never more than max_freq_hz + 1 pulses in any second."""
        ts = self.recent.setdefault(p.channel, [])
        t = p.t_us
        if ts:
            d = (t - ts[-1]) % wire.COUNTER_MOD
            if d < (1_000_000 // self.lim.max_freq_hz) // 2:
                return f"channel {p.channel}: pulses {d} us apart (max_freq_hz {self.lim.max_freq_hz})"
        ts.append(t)
        while ts and (t - ts[0]) % wire.COUNTER_MOD >= 1_000_000:
            ts.pop(0)
        if len(ts) > self.lim.max_freq_hz + 1:
            return f"channel {p.channel}: {len(ts)} pulses in one second (max_freq_hz {self.lim.max_freq_hz})"
        return None


def _near(rng: random.Random, v: int, spread: float = 0.25) -> int:
    return max(0, int(v * (1 + rng.uniform(-spread, spread))))


def _gen(rng: random.Random, n: int, tr: Tracker) -> tuple[int, bytes, bool]:
    """One random request: (type, body, privileged)."""
    r = rng.random()
    ch = rng.randrange(n + 1) if rng.random() < 0.1 else rng.randrange(n)
    cal = tr.cal[ch] if ch < n else None
    lim = tr.lim
    if r < 0.22:  # a test train: mostly allowed, often at or just past an edge
        top = cal.max_ua if cal else 20000
        w0 = cal.width_us if cal else 300
        f0 = cal.freq_hz if cal else 40
        if rng.random() < 0.6:
            amp, width, freq, dur = rng.randrange(1, top + 1), w0, f0, rng.randrange(200, 3000)
        else:
            amp = rng.choice([_near(rng, top, 0.3), top, top + 1, rng.randrange(0, 120000), rng.randrange(1, top + 1)])
            width = rng.choice([w0, lim.max_width_us, lim.max_width_us + 1, 19, 20, rng.randrange(0, 1200)])
            freq = rng.choice([f0, lim.min_freq_hz - 1, lim.max_freq_hz, lim.max_freq_hz + 1, rng.randrange(0, 200)])
            dur = rng.choice([rng.randrange(1, 3000), 0, 60000, 60001, 65535])
        return wire.T_STIM_TEST, struct.pack(wire.STIM_TEST_FMT, ch & 0xFF, min(amp, 2**32 - 1), min(width, 65535),
                                             min(max(freq, 0), 65535), dur), True
    if r < 0.36:
        return wire.T_ARM, b"", True
    if r < 0.40:
        return wire.T_FAULT_RESET, b"", True
    if r < 0.42:
        return wire.T_DISARM, b"", True
    if r < 0.43:
        return wire.T_ESTOP, b"", False
    if r < 0.52:  # calibrations: mostly plausible, some out of range, a few clears
        if rng.random() < 0.6:
            mx = rng.randrange(9000, 25000)
            c = Calibration(ch, 4000, rng.randrange(5000, mx + 1), mx, rng.choice([2500, 2000]),
                            rng.choice([200, 300]), rng.choice([30, 40]))
        else:
            mx = rng.choice([rng.randrange(1000, 30000), rng.randrange(0, 120000), 0])
            mo = rng.choice([rng.randrange(0, mx + 1) if mx else 0, mx + 1])
            se = rng.choice([rng.randrange(0, mo + 1) if mo else 0, mo + 1])
            area = rng.choice([2500, 1000, 100, 0, rng.randrange(0, 65536)])
            c = Calibration(ch, se, mo, mx, area, rng.choice([300, 200, 500, 501, rng.randrange(0, 1100)]),
                            rng.choice([40, 30, 60, 9, rng.randrange(0, 200)]))
            if rng.random() < 0.1:
                c = Calibration(ch, 0, 0, 0, 0, 0, 0)  # clear the channel
        body = struct.pack(wire.CALIB_FMT, c.channel & 0xFF, *(min(v, 2**32 - 1) for v in
                           (c.sensory_ua, c.motor_ua, c.max_ua)), min(c.area_mm2, 65535), min(c.width_us, 65535),
                           min(c.freq_hz, 65535))
        return wire.T_CALIB_SET, body, True
    if r < 0.60:  # limits: perturb a few fields of the present ones
        vals = lim.as_dict()
        for k in rng.sample(sorted(vals), rng.randrange(1, 4)):
            v = vals[k]
            vals[k] = rng.choice([_near(rng, v, 0.5), v + 1, max(v - 1, 0), rng.randrange(0, 2 * v + 2)])
        fmt_max = {"max_width_us": 65535, "min_freq_hz": 65535, "max_freq_hz": 65535, "heartbeat_ms": 65535,
                   "blank_us": 65535}
        for k, m in fmt_max.items():
            vals[k] = min(vals[k], m)
        if rng.random() < 0.5:  # keep the heartbeat reachable most of the time
            vals["heartbeat_ms"] = max(vals["heartbeat_ms"], 300)
        return wire.T_SET_LIMITS, Limits(**vals).pack(), True
    if r < 0.64:
        return wire.T_CRANK, struct.pack("<HH", rng.randrange(0, 40000), rng.randrange(0, 20000)), True
    if r < 0.66:
        return wire.T_MODEL_ROLLBACK, b"", True
    if r < 0.68:
        t = rng.choice([wire.T_MODEL_BEGIN, wire.T_MODEL_CHUNK, wire.T_MODEL_COMMIT])
        body = {wire.T_MODEL_BEGIN: struct.pack("<II", rng.randrange(0, 5000), rng.getrandbits(32)),
                wire.T_MODEL_CHUNK: struct.pack("<I", rng.randrange(0, 3000)) + rng.randbytes(rng.randrange(0, 200)),
                wire.T_MODEL_COMMIT: b""}[t]
        return t, body, True
    if r < 0.70:
        fs = rng.choice(list(wire.ALLOWED_FS) + [3000])
        return wire.T_SET_CONFIG, struct.pack(wire.CONFIG_FMT, fs, rng.randrange(0, 10), rng.choice([50, 60, 55]),
                                              rng.randrange(0, 3), rng.randrange(0, 2), rng.randrange(0, 2)), False
    if r < 0.80:  # the harmless ones
        t = rng.choice([wire.T_STIM_STATE, wire.T_GET_LIMITS, wire.T_CALIB_GET, wire.T_STATUS, wire.T_PING,
                        wire.T_HELLO, wire.T_MODEL_INFO, wire.T_GET_CONFIG, wire.T_AUTH_CHALLENGE])
        body = {wire.T_CALIB_GET: bytes((rng.randrange(0, 10),)), wire.T_PING: rng.randbytes(4)}.get(t, b"")
        return t, body, False
    # random bytes: any type (but not a new secret, nor a 2 kHz telemetry flood that would
    # only slow the run down), any body, signed or not
    t = rng.randrange(0, 0x80)
    while t in (wire.T_PROVISION, wire.T_STREAM_START):
        t = rng.randrange(0, 0x80)
    return t, rng.randbytes(rng.choice([0, 1, 4, 11, 19, 30, rng.randrange(0, 300)])), rng.random() < 0.5


@pytest.fixture
async def fuzz_bench(device_spec: str, url: str, tmp_path: Path) -> AsyncIterator[StimBench]:
    """The fuzz wears a garment out (thousands of pulses: the phantom's muscles fatigue, the
    rolling dose fills up): on the sim it gets a garment of its own."""
    sim = None
    if device_spec == "sim":
        sim = SimGarment(state_dir=tmp_path / "flash")
        url = sim.start()
    g = GarmentClient(make_transport(url), timeout=5)
    await g.connect()
    try:
        b = await StimBench.open(g, sim)
        try:
            yield b
        finally:
            await b.restore()
    finally:
        await g.close()
        if sim is not None:
            sim.stop()


async def test_fuzz_no_pulse_ever_exceeds_limits_or_calibration(fuzz_bench: StimBench) -> None:
    bench = fuzz_bench
    g = bench.g
    rng = random.Random(SEED)
    n = bench.n
    cals: list[Calibration | None] = []
    for ch in range(n):
        cals.append(await bench.calibrate(ch, max_ua=rng.choice([12000, 16000, 20000]), motor_ua=9000,
                                          sensory_ua=4000, freq_hz=rng.choice([30, 40]), width_us=rng.choice([200, 300])))
    tr = Tracker(await g.get_limits(), cals)
    g.listeners.append(tr.on_packet)
    rig_mark = bench.rig.mark() if bench.rig else None
    counts: dict[str, int] = {}
    internal: list[str] = []
    per_type: dict[int, float] = {}
    t0 = time.monotonic()
    try:
        async with heartbeat(g, period=0.04):
            for i in range(N_COMMANDS):
                ptype, body, privileged = _gen(rng, n, tr)
                tq = time.monotonic()
                try:
                    await g.request(ptype, body, privileged=privileged, timeout=5)
                    counts["ok"] = counts.get("ok", 0) + 1
                except DeviceError as e:
                    counts[e.name] = counts.get(e.name, 0) + 1
                    if e.code == wire.E_INTERNAL:
                        internal.append(f"#{i} type 0x{ptype:02x} body {body.hex()}: {e}")
                    if e.code == wire.E_UNAUTHORIZED and privileged and ptype in (wire.T_ARM, wire.T_STIM_TEST):
                        raise AssertionError(f"#{i}: the session was lost: {e}") from None
                per_type[ptype] = per_type.get(ptype, 0.0) + time.monotonic() - tq
                if rng.random() < 0.05:  # now and then let the garment stimulate for a while
                    await bench.let_time_pass(rng.uniform(0.02, 0.3))
                if ptype == wire.T_AUTH_END or (i % 500 == 499 and rng.random() < 0.5):  # a new session
                    await auth.end_session(g)
                    await auth.ensure_authenticated(g)
            await g.estop()
        await g.stop_stream()
        await bench.let_time_pass(0.3)
    finally:
        g.listeners.remove(tr.on_packet)
    elapsed = time.monotonic() - t0
    print("slowest request types (s):", sorted(((round(v, 2), hex(k)) for k, v in per_type.items()), reverse=True)[:5])
    print("fuzz:", {"commands": N_COMMANDS, "seconds": round(elapsed, 1), "pulses": len(tr.pulses), **counts})
    assert internal == [], internal[:5]
    bugs = [ev[3] for ev in bench.log.events if "FAULT internal" in ev[3]]
    assert bugs == [], f"the supervisor caught a bug upstream (FAULT_INTERNAL): {bugs[:3]}"
    assert tr.violations == [], f"{len(tr.violations)} pulses broke the rules in force: {tr.violations[:5]}"
    assert len(tr.pulses) >= max(50, N_COMMANDS // 20), f"only {len(tr.pulses)} pulses in {N_COMMANDS} commands: the fuzz stimulated too little"
    assert counts.get("ok", 0) > N_COMMANDS // 5 and counts.get("out_of_range", 0) > N_COMMANDS // 20, counts
    if bench.rig is not None:
        delivered = bench.rig.pulses(rig_mark)
        unreported, unknown = match_pulses(tr.pulses, delivered)
        lost = g.stats.packets_lost
        skew = stamp_skew_us(tr.pulses, delivered)
        print("pulse stamp skew (us): median", sorted(skew)[len(skew) // 2] if skew else None, "max", max(skew, default=0))
        if lost == 0:
            if unknown:
                for u in unknown[:3]:
                    near = [p for p in tr.pulses if abs(((p.t_us - u.t_us + 2**29) % 2**30) - 2**29) < 200000]
                    allr = delivered
                    k = allr.index(u)
                    print("UNREPORTED", u, "index", k, "of", len(allr), "neighbours", allr[max(0, k - 2):k + 3],
                          "reported near", near[:6])
            assert unknown == [], f"{len(unknown)} delivered pulses never reported: {unknown[:3]}"
        else:  # telemetry was lost: judge the unreported ones against the most permissive calibration seen
            for p in unknown:
                assert p.amplitude_ua <= max(tr.max_seen.values(), default=0), p
        assert unreported == [], f"{len(unreported)} reported pulses that were never delivered: {unreported[:3]}"
    assert await g.hello() == g.hello_version
    st = await g.stim_state()
    assert st.amplitude_ua == (0,) * 8
