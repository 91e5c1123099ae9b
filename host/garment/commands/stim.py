"""Stimulation from the command line, and the closed-loop latency benchmark.

``garment stim``: one ramped test train on one channel for as long as the user holds it
(a key held down in a terminal - the auto-repeat keeps it alive, releasing the key stops
it - or until a pipe on stdin reaches end of file). What the channel's calibration or
the garment's limits do not allow is refused with a one-line error before anything is
sent, and the garment refuses it again on its own (it is the authority).

``garment bench latency``: EMG onset -> first stimulation change, end to end on a garment
with a rig (the simulated one): the rig steps the drive of a muscle of the EMG phantom at a
known feeder sample, the AFE converts it at a known conversion index, the on-device
decoder (an envelope model, :func:`envelope_model`) and its proportional policy turn it
into a target amplitude, and the stimulator reports its first pulse (``RIG_PULSE``, with the
AFE index at that moment). Latency = (pulse AFE index - onset AFE index) / fs. The first
pulse of a start comes at most ``FIRST_PULSE_US`` (10 ms) after the target changes, so
the figure includes that scheduling delay, as a user would feel it.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import numpy as np

from garment.client import Calibration, DeviceError, GarmentClient, Limits
from garment.commands.common import CliError, float_range, int_range
from garment.protocol import wire

#: MAV (ADC codes, after the device's filters) that the envelope model maps to activation 1.0.
#: On the phantom at gain 24: rest ~60-150 codes, drive 0.2 ~2300, drive 0.5 ~7000.
ENVELOPE_FULL_SCALE = 10000
#: the longest one hold of ``garment stim`` may last (the train's own duration)
MAX_HOLD_S = 60.0


# ---- models for the closed loop --------------------------------------------------------------
def envelope_model(
    fs: int = 2000,
    n_ch: int = 8,
    outputs: int = 4,
    window_ms: int = 100,
    increment_ms: int = 20,
    full_scale: int = ENVELOPE_FULL_SCALE,
    stim: dict[str, Any] | None = None,
) -> bytes:
    """A regression decoder whose output ``i`` is the EMG envelope (MAV) of channel ``i``
    divided by ``full_scale`` (activation 1.0), with a proportional stimulation policy
    (stim channel ``i`` follows output ``i``) unless ``stim`` says otherwise. It is the
    simplest closed loop - stimulation in proportion to effort - and what the latency
    benchmark and the HIL closed-loop tests run on the garment."""
    from garment.features.reference import FeatureConfig
    from garment.models import modelfile
    from garment.models.quantize import FloatLayer, FloatNet, quantize

    window = max(4, fs * window_ms // 1000)
    inc = max(1, fs * increment_ms // 1000)
    cfg = FeatureConfig(fs=fs, n_ch=n_ch, window=window, increment=inc, features=("MAV",))
    W = np.zeros((outputs, n_ch))
    for i in range(min(outputs, n_ch)):
        W[i, i] = 1.0 / full_scale
    net = FloatNet(np.zeros(n_ch), np.ones(n_ch), [FloatLayer(W, np.zeros(outputs))], "regression",
                   [f"envelope{i}" for i in range(outputs)])
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 2 * full_scale, size=(4000, n_ch)).round().astype(np.int64)
    X[:8] = 0
    policy = stim if stim is not None else {
        "preset": "proportional",
        "params": {"gain": 1.0, "deadband": 0.1, "inputs": list(range(outputs))},
    }
    qm = quantize(net, X, clip_percentile=(0.0, 100.0), features=cfg.to_dict(), stim=policy,
                  info={"trainer": "garment.commands.stim.envelope_model", "full_scale": full_scale})
    return modelfile.to_bytes(qm)


# ---- the hold-to-stimulate loop ---------------------------------------------------------------
class HoldInput:
    """Tells whether the user still holds the control.

    A terminal (read in cbreak mode): the train starts on the first key press and goes on
    while the key's auto-repeat keeps arriving; ``REPEAT_S`` without a byte (the key was
    released) stops it. A pipe or file: the train starts at once and stops at end of
    file. ``q``, ``Esc`` or ``Ctrl-C`` stop it at once either way."""

    #: a held key's first repeat comes after the keyboard's repeat delay (typically 250-660 ms)
    FIRST_REPEAT_S = 0.8
    REPEAT_S = 0.25
    STOP_KEYS = (b"q", b"\x03", b"\x1b")

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.tty = os.isatty(self.fd)
        self._saved: Any = None
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._was_blocking = True
        self.eof = False

    @staticmethod
    def unusable(fd: int | None = None) -> str | None:
        """Why stdin cannot be held (None if it can): it must be a terminal or a pipe. A
        closed stdin, ``/dev/null`` or a file is at its end before anything is held."""
        import stat

        how = "hold a key in a terminal, or pipe the hold (e.g. sleep 2 | garment stim ...)"
        try:
            fd = sys.stdin.fileno() if fd is None else fd
            mode = os.fstat(fd).st_mode
        except (AttributeError, ValueError, OSError):
            return f"stdin is closed: {how}"
        if os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            return None
        what = "/dev/null" if stat.S_ISCHR(mode) else "a file"
        return f"stdin is {what}, which holds nothing: {how}"

    def __enter__(self) -> "HoldInput":
        self._loop = asyncio.get_running_loop()
        if self.tty:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        self._was_blocking = os.get_blocking(self.fd)
        os.set_blocking(self.fd, False)
        self._loop.add_reader(self.fd, self._readable)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.remove_reader(self.fd)
        os.set_blocking(self.fd, self._was_blocking)
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            assert self._loop is not None
            self._loop.remove_reader(self.fd)  # EOF stays EOF
        self._queue.put_nowait(data)

    async def _next(self, timeout: float | None) -> bytes | None:
        """The next bytes (b"" at EOF), or None after ``timeout``."""
        if self.eof:
            return b""
        try:
            data = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None
        if not data:
            self.eof = True
        return data

    async def wait_press(self) -> bool:
        """Terminal: wait for the first key press (False if it is a stop key or EOF).
        Pipe: True unless it is already at end of file."""
        if not self.tty:
            try:
                data = await asyncio.wait_for(self._queue.get(), 0.05)
            except asyncio.TimeoutError:
                return True  # open and quiet: held until EOF
            if not data:
                self.eof = True
                return False
            return not any(k in data for k in self.STOP_KEYS)
        got = await self._next(None)
        return bool(got) and not any(k in got for k in self.STOP_KEYS if got)

    async def held(self, first: bool) -> bool:
        """Wait for the next sign of life; False once the control is released."""
        timeout = None if not self.tty else (self.FIRST_REPEAT_S if first else self.REPEAT_S)
        data = await self._next(timeout)
        if data is None or not data:
            return False  # key released (no auto-repeat), or end of file
        return not any(k in data for k in self.STOP_KEYS)


@dataclass
class TrainRequest:
    channel: int
    amplitude_ua: int
    width_us: int
    freq_hz: int
    duration_ms: int


def check_train(req: TrainRequest, cal: Calibration, lim: Limits) -> str | None:
    """Why the calibration or the limits do not allow this train (None if they do)."""
    ch = req.channel
    if cal.max_ua <= 0:
        return f"channel {ch} has no calibration: calibrate it first"
    if req.amplitude_ua <= 0:
        return "amplitude must be > 0"
    if req.amplitude_ua > cal.max_ua:
        return (f"{req.amplitude_ua / 1000:g} mA is above channel {ch}'s calibrated maximum "
                f"of {cal.max_ua / 1000:g} mA")
    if req.amplitude_ua > lim.max_ua:
        return f"{req.amplitude_ua / 1000:g} mA is above the garment's limit of {lim.max_ua / 1000:g} mA"
    if not 20 <= req.width_us <= lim.max_width_us:
        return f"pulse width {req.width_us} us outside 20..{lim.max_width_us} us"
    if not lim.min_freq_hz <= req.freq_hz <= lim.max_freq_hz:
        return f"frequency {req.freq_hz} Hz outside {lim.min_freq_hz}..{lim.max_freq_hz} Hz"
    if req.amplitude_ua * req.width_us > lim.max_charge_nc * 1000:
        return (f"charge per phase {req.amplitude_ua * req.width_us / 1e6:.1f} uC above the limit of "
                f"{lim.max_charge_nc / 1000:g} uC")
    lhs = req.amplitude_ua**2 * 2 * req.width_us * req.freq_hz
    if cal.area_mm2 <= 0 or lhs > (20 * cal.area_mm2) ** 2 * 10**6:
        return (f"rms current density above 2 mA/cm^2 for channel {ch}'s {cal.area_mm2 / 100:g} cm^2 electrodes")
    return None


async def _heartbeat(g: GarmentClient, period: float) -> None:
    while True:
        await g.ping()
        await asyncio.sleep(period)


async def hold_train(
    g: GarmentClient,
    req: TrainRequest,
    held: Callable[[bool], Any],
    say: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Arm, run the train while ``await held(first)`` is True, then disarm. Returns a summary.

    The train is sent with ``req.duration_ms`` (the longest a hold may last); releasing
    stops it at once (T_DISARM: a stop is immediate). The heartbeat runs throughout, so
    a host that dies mid-train leaves the garment to zero the output by itself."""
    pulses: list[tuple[int, int]] = []

    def on_packet(pkt: Any) -> None:
        if pkt.type == wire.R_PULSES and pkt.body:
            for i in range(pkt.body[0]):
                _t, ch, amp, _w, _ip = struct.unpack_from(wire.PULSE_FMT, pkt.body, 1 + i * wire.PULSE_LEN)
                if ch == req.channel:
                    pulses.append((_t, amp))

    g.listeners.append(on_packet)
    hb = asyncio.create_task(_heartbeat(g, 0.1), name="heartbeat")
    t0 = time.monotonic()
    try:
        await g.arm()
        await g.stim_test(req.channel, req.amplitude_ua, req.width_us, req.freq_hz, req.duration_ms)
        say(f"stimulating channel {req.channel}: ramping to {req.amplitude_ua / 1000:g} mA, "
            f"{req.width_us} us, {req.freq_hz} Hz - release to stop")
        first = True
        deadline = t0 + req.duration_ms / 1000
        while time.monotonic() < deadline:
            left = deadline - time.monotonic()
            try:
                still = await asyncio.wait_for(held(first), max(left, 0.01))
            except asyncio.TimeoutError:
                break  # the train's own end
            if not still:
                break
            first = False
    finally:
        with contextlib.suppress(Exception):
            await g.disarm()
        hb.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await hb
        g.listeners.remove(on_packet)
    return {
        "channel": req.channel,
        "pulses": len(pulses),
        "peak_ua": max((a for _, a in pulses), default=0),
        "held_s": round(time.monotonic() - t0, 3),
    }


def _parse_device_error(e: DeviceError) -> str:
    return str(e).split(": ", 1)[-1]


async def cmd_stim(args: argparse.Namespace) -> int:
    """``garment stim``: one ramped test train while the control is held."""
    from garment.auth import ensure_authenticated
    from garment.devices import connect

    bad = HoldInput.unusable()
    if bad:
        raise CliError(f"refused: {bad}; nothing was sent")
    amp = int(round(args.amplitude * 1000))
    if amp <= 0:
        raise CliError("refused: --amplitude must be > 0 mA")
    if not 0 <= args.channel < wire.MAX_CHANNELS:
        raise CliError(f"refused: --channel must be 0..{wire.MAX_CHANNELS - 1}")
    async with connect(args.device) as g:
        try:
            cal = await g.get_calibration(args.channel)
        except DeviceError as e:
            raise CliError(f"refused by the garment: {_parse_device_error(e)}") from None
        lim = await g.get_limits()
        req = TrainRequest(args.channel, amp, args.width or cal.width_us, args.freq or cal.freq_hz,
                           max(1, int(args.max_seconds * 1000)))
        bad = check_train(req, cal, lim)
        if bad:
            raise CliError(f"refused: {bad}")
        await ensure_authenticated(g)
        say = (lambda s: None) if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
        with HoldInput() as hold:
            if hold.tty:
                say(f"hold any key to stimulate channel {req.channel} at {req.amplitude_ua / 1000:g} mA "
                    f"(release to stop, q to quit)")
            if not await hold.wait_press():
                summary: dict[str, Any] = {"channel": req.channel, "pulses": 0, "peak_ua": 0, "held_s": 0.0}
            else:
                try:
                    summary = await hold_train(g, req, hold.held, say=say)
                except DeviceError as e:
                    raise CliError(f"refused by the garment: {_parse_device_error(e)}") from None
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"stopped: {summary['pulses']} pulses on channel {summary['channel']}, "
              f"peak {summary['peak_ua'] / 1000:g} mA, {summary['held_s']} s")
    return 0


# ---- the latency benchmark ------------------------------------------------------------------------
@dataclass
class LatencyResult:
    latencies_ms: list[float]
    trials: int
    failed: int
    notes: list[str]

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        med = statistics.median(lat) if lat else float("nan")
        p99 = float(np.percentile(lat, 99)) if lat else float("nan")
        return {"median_ms": round(med, 1), "p99_ms": round(p99, 1), "trials": len(lat)}


@contextlib.asynccontextmanager
async def _bench_garment(device: str) -> AsyncIterator[tuple[GarmentClient, Any]]:
    """A garment with a rig: ``sim`` (started here, on a quiet phantom) or a socket URL of a
    simulated garment whose SimGarment is not ours (no rig: refused)."""
    from garment.devices import make_transport
    from garment.sim import SimGarment

    if device != "sim":
        raise CliError("the latency benchmark needs the HIL rig to inject EMG onsets: use --device sim "
                       "(a hardware rig is not supported yet)")

    def quiet(fs: int) -> Any:
        from garment.phantom import PhantomStream

        return PhantomStream("rest", fs=fs, channels=8, seed=7)

    sim = SimGarment(source_factory=quiet)
    sim.start()
    try:
        g = GarmentClient(make_transport(sim.url), timeout=5.0)
        await g.connect()
        try:
            yield g, sim
        finally:
            await g.close()
    finally:
        sim.stop()


async def measure_latency(g: GarmentClient, sim: Any, trials: int, channel: int = 0,
                          level: float = 0.5, progress: Callable[[str], None] | None = None) -> LatencyResult:
    """Onset -> first pulse latency over ``trials`` onsets on ``channel`` (see the module doc)."""
    from garment.auth import ensure_authenticated
    from garment.client import StreamConfig

    feeder = sim.feeder
    if feeder is None:
        raise CliError("the simulated garment runs without its EMG feeder")
    await ensure_authenticated(g)
    await g.set_config(StreamConfig(fs=2000, channels=8))
    fs = 2000
    await g.upload_model(envelope_model(fs=fs, n_ch=8))
    cal = Calibration(channel, 5000, 10000, 20000, 2500, 300, 30)
    await g.set_calibration(cal)
    # The device's own limits: its default blank window (18 ms after each pulse) keeps
    # the decoder from reading the muscle's evoked M-waves as effort, so the loop falls
    # quiet between trials; it does not touch the measurement (a trial's first pulse has
    # no blank window before it).
    notes: list[str] = []
    lat: list[float] = []
    failed = 0
    hb = asyncio.create_task(_heartbeat(g, 0.1))
    loop = asyncio.get_running_loop()
    try:
        feeder.inject_onset(channel, 0.0)  # hold the muscle quiet
        await _afe_wait(feeder, int(0.3 * fs))
        await g.arm()
        for k in range(trials):
            await _afe_wait(feeder, int(0.4 * fs))  # rest: the envelope window empties
            if not await _quiet(feeder, channel, fs):
                notes.append(f"trial {k}: still stimulating after the rest; re-armed")
                await g.disarm()
                await g.arm()
                await _afe_wait(feeder, int(0.2 * fs))
            mark = len(feeder.pulses_since(0))
            sample = feeder.inject_onset(channel, level, delay_s=0.002)
            off0 = feeder.afe_offset
            got = await loop.run_in_executor(
                None, feeder.wait_pulses,
                lambda ps, m=mark: any(p.channel == channel for p in ps[m:]), 2.0)
            off1 = feeder.afe_offset
            onset_idx = None if off0 is None else sample + off0
            # the feeder->AFE mapping is read from the sim's reports (+-1 sample of jitter);
            # a bigger move means the AFE ran dry in between: the trial cannot be timed
            moved = off0 is None or off1 is None or abs(off1 - off0) > 2
            if not got or onset_idx is None or moved:
                failed += 1
                notes.append(f"trial {k}: " + ("no pulse within 2 s" if not got else
                                                f"AFE/feeder mapping moved ({off0} -> {off1})"))
            else:
                first = next(p for p in feeder.pulses_since(mark) if p.channel == channel)
                d = (first.afe_index - onset_idx) & (wire.COUNTER_MOD - 1)
                lat.append(d * 1000.0 / fs)
            feeder.inject_onset(channel, 0.0)  # release: the loop must stop on its own
            await _afe_wait(feeder, int(0.1 * fs))
            if progress is not None and lat:
                progress(f"trial {k + 1}/{trials}: {lat[-1]:.1f} ms")
            st = await g.stim_state()
            if st.state == "fault":
                notes.append(f"trial {k}: fault {st.fault}; re-armed")
                await g.fault_reset()
                await g.arm()
    finally:
        with contextlib.suppress(Exception):
            await g.disarm()
        hb.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await hb
    return LatencyResult(lat, trials, failed, notes)


async def _quiet(feeder: Any, channel: int, fs: int) -> bool:
    """True if no pulse on ``channel`` during the next 0.1 s of AFE time."""
    mark = len(feeder.pulses_since(0))
    await _afe_wait(feeder, fs // 10)
    return not any(p.channel == channel for p in feeder.pulses_since(mark))


async def _afe_wait(feeder: Any, samples: int, timeout: float = 10.0) -> None:
    """Let ``samples`` AFE conversions pass (waits on the feeder's AFE reports)."""
    def wait() -> bool:
        with feeder.progress:
            start = feeder.afe_total
            return bool(feeder.progress.wait_for(lambda: feeder.afe_total - start >= samples, timeout))

    if not await asyncio.get_running_loop().run_in_executor(None, wait):
        raise CliError("the simulated AFE stopped converting")


async def cmd_bench_latency(args: argparse.Namespace) -> int:
    """``garment bench latency``: EMG onset -> stimulation change, median and p99."""
    if args.trials < 1:
        raise CliError("--trials must be >= 1")
    say = None if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
    async with _bench_garment(args.device) as (g, sim):
        res = await measure_latency(g, sim, args.trials, progress=say)
    if not res.latencies_ms:
        raise CliError("no trial produced a stimulation change: " + "; ".join(res.notes[:3]))
    out = res.summary()
    if args.json:
        print(json.dumps(out))
    else:
        print(f"onset -> stimulation: median {out['median_ms']} ms, p99 {out['p99_ms']} ms "
              f"over {out['trials']} trials" + (f" ({res.failed} failed)" if res.failed else ""))
    return 0 if not res.failed else 3


# ---- argparse -----------------------------------------------------------------------------------
def add_parsers(sub: Any) -> None:
    """Register ``stim`` and ``bench latency`` on the ``garment`` CLI's subparsers."""
    sp = sub.add_parser("stim", help="one ramped test train on one channel while you hold a key (or until EOF)")
    sp.add_argument("--device", default="sim", help="sim | serial:PATH | socket://HOST:PORT (default: sim)")
    sp.add_argument("--channel", type=int_range(0, wire.MAX_CHANNELS - 1), required=True, help="stimulation channel")
    sp.add_argument("--amplitude", type=float_range(0.0, lo_open=True, unit="mA"), required=True, metavar="MA",
                    help="current per phase (mA)")
    sp.add_argument("--width", type=int_range(1, None, unit="us"), default=None, metavar="US",
                    help="phase width (default: the calibration's)")
    sp.add_argument("--freq", type=int_range(1, None, unit="Hz"), default=None, metavar="HZ",
                    help="pulse rate (default: the calibration's)")
    sp.add_argument("--max-seconds", type=float_range(0.0, MAX_HOLD_S, lo_open=True, unit="s"), default=30.0,
                    help=f"the longest a hold may last (default 30 s, at most {MAX_HOLD_S:g} s)")
    sp.add_argument("--json", action="store_true", help="print one JSON summary")
    sp.set_defaults(func=cmd_stim)

    bp = sub.add_parser("bench", help="benchmarks against a garment")
    bsub = bp.add_subparsers(dest="bench", required=True)
    lp = bsub.add_parser("latency", help="EMG onset -> stimulation change (needs the rig: --device sim)")
    lp.add_argument("--device", default="sim", help="sim (the simulated garment and its rig)")
    lp.add_argument("--trials", type=int_range(1, None), default=50)
    lp.add_argument("--json", action="store_true", help="print {median_ms, p99_ms, trials}")
    lp.set_defaults(func=cmd_bench_latency)


def main(argv: list[str] | None = None) -> int:
    """``python -m garment.commands.stim stim|bench ...``: these commands on their own,
    with the ``garment`` CLI's error handling (until cli.py registers them)."""
    return _own_main(argv)


def _own_main(argv: list[str] | None) -> int:
    from garment.client import DeviceError as _DeviceError
    from garment.commands.common import print_err
    from garment.transports import TransportError

    p = argparse.ArgumentParser(prog="garment")
    add_parsers(p.add_subparsers(dest="cmd", required=True))
    args = p.parse_args(argv)
    try:
        return int(asyncio.run(args.func(args)) or 0)
    except KeyboardInterrupt:
        return 130
    except (CliError, TransportError, _DeviceError, OSError, RuntimeError) as e:
        print_err(str(e))
        return 2


if __name__ == "__main__":
    sys.exit(main())
