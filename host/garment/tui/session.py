"""One connected garment as the companion app sees it.

A :class:`GarmentSession` owns the :class:`~garment.client.GarmentClient` (and, for
``sim``, the :class:`~garment.sim.SimGarment` it started), streams samples into a
:class:`TraceBuffer` and into any attached sinks (recordings, calibration captures),
keeps the heartbeat, drains pulses and decoder outputs, and collects the garment's
events, stimulation state transitions and faults into a log. Screens only read its
state; nothing here touches the interface, so it is tested on its own.

The ``ingest_*`` methods are the single entry points of data: the background tasks call
them with what the garment sends, and tests call them with deterministic data.
"""
from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from garment.client import (
    DecoderOutput,
    DeviceError,
    DeviceTimeout,
    GarmentClient,
    Pulse,
    SampleBlock,
    Status,
    StimState,
    StreamConfig,
)
from garment.heartbeat import Heartbeat
from garment.protocol import Packet, wire
from garment.stimcontrol import Ramp, RampResult, search_thresholds
from garment.stimulation import Calibration, Limits
from garment.transports import TransportClosed, TransportError
from garment.tui.errors import describe

LEVELS = ("info", "warning", "error")


@dataclass(frozen=True)
class LogEntry:
    """One line of the session log."""

    t: float  # host wall clock (time.time())
    source: str  # "garment", "stim", "link", "host"
    level: str  # "info" | "warning" | "error"
    text: str


class EventLog:
    """Everything worth telling the user after the fact: garment events, stimulation
    state transitions and faults, link problems, the app's own errors. Shared by all
    sessions of one app run (the log screen follows ``serial``)."""

    def __init__(self, maxlen: int = 5000) -> None:
        self.entries: deque[LogEntry] = deque(maxlen=maxlen)
        self.serial = 0  # entries ever added

    def add(self, source: str, level: str, text: str, t: float | None = None) -> LogEntry:
        e = LogEntry(time.time() if t is None else t, source, level, text)
        self.entries.append(e)
        self.serial += 1
        return e

    def since(self, serial: int) -> list[LogEntry]:
        """Entries added after ``serial`` (as many as are still kept)."""
        n = min(self.serial - serial, len(self.entries))
        return list(self.entries)[len(self.entries) - n :] if n > 0 else []


class TraceBuffer:
    """The last ``seconds`` of every channel in microvolts (a ring), for the live traces."""

    def __init__(self, n_ch: int, fs: int, seconds: float = 2.0) -> None:
        self.n_ch = n_ch
        self.fs = fs
        self.n = max(4, int(round(fs * seconds)))
        self._data = np.zeros((self.n, n_ch), dtype=np.float32)
        self._pos = 0
        self.total = 0  # samples pushed so far

    def push(self, uV: np.ndarray) -> None:
        x = np.asarray(uV, dtype=np.float32)
        if len(x) >= self.n:
            self._data[:] = x[-self.n :]
            self._pos = 0
        else:
            k = min(len(x), self.n - self._pos)
            self._data[self._pos : self._pos + k] = x[:k]
            rest = len(x) - k
            if rest:
                self._data[:rest] = x[k:]
            self._pos = (self._pos + len(x)) % self.n
        self.total += len(x)

    def latest(self) -> np.ndarray:
        """All ``n`` samples, oldest first (zeros before enough arrived), shape (n, n_ch)."""
        return np.concatenate([self._data[self._pos :], self._data[: self._pos]])

    def rms(self, seconds: float = 0.1) -> np.ndarray:
        """Per-channel RMS of the last ``seconds`` (microvolts)."""
        k = max(1, min(self.n, self.total, int(self.fs * seconds)))
        x = self.latest()[-k:]
        out: np.ndarray = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=0))
        return out


@dataclass(frozen=True)
class LinkView:
    """Link quality and device status, as shown by the link widget."""

    rate_sps: float = 0.0  # samples per second per channel, measured
    samples: int = 0
    dropped: int = 0
    gaps: int = 0
    packets_lost: int = 0
    crc_errors: int = 0
    malformed: int = 0
    rtt_ms: float | None = None
    rssi_dbm: float | None = None
    battery_mv: int | None = None
    tx_dropped: int = 0
    afe_overruns: int = 0
    lead_off_mask: int = 0
    state: str = ""
    connected: bool = True
    problem: str = ""


class SampleCollector:
    """A sink that keeps what it receives in memory (calibration captures, training);
    ``done`` is set once ``target`` samples arrived (never, for target 0)."""

    def __init__(self, target: int = 0) -> None:
        self.codes: list[np.ndarray] = []
        self.uV: list[np.ndarray] = []
        self.n = 0
        self.target = target
        self.done = asyncio.Event()

    def open(self, meta: Any) -> None:
        pass

    def block(self, block: SampleBlock, uV: np.ndarray) -> None:
        self.codes.append(block.data)
        self.uV.append(np.asarray(uV, dtype=np.float32))
        self.n += len(block.data)
        if self.target and self.n >= self.target:
            self.done.set()

    def event(self, event: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def samples_uV(self) -> np.ndarray:
        return np.concatenate(self.uV) if self.uV else np.zeros((0, 0), dtype=np.float32)

    def samples_codes(self) -> np.ndarray:
        return np.concatenate(self.codes) if self.codes else np.zeros((0, 0), dtype=np.int32)


class GarmentSession:
    """A connected garment: streaming, heartbeat, telemetry and log (see module doc)."""

    HEARTBEAT_S = 0.1  # pings on their own schedule, well inside the garment's default 500 ms timeout
    POLL_S = 0.2  # link rate and stimulation state (5 Hz while armed, else 1 Hz)
    RATE_WINDOW_S = 1.0

    def __init__(
        self,
        client: GarmentClient,
        spec: str,
        info: dict[str, Any],
        config: StreamConfig,
        *,
        url: str | None = None,
        sim: Any = None,
        clock: Callable[[], float] = time.monotonic,
        trace_seconds: float = 2.0,
        log: EventLog | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.url = url or spec
        self.sim = sim
        self.info = info
        self.config = config
        self.clock = clock
        self.n_ch = config.channels
        self.fs = config.fs
        montage = list(info.get("montage") or [])
        self.channel_names = [
            montage[i] if i < len(montage) else f"EMG{i + 1}" for i in range(self.n_ch)
        ]
        self.uV_per_code = float(info.get("lsb_fv", 0)) / 1e9 or 1.0
        self.trace = TraceBuffer(self.n_ch, self.fs, trace_seconds)
        self.log = log if log is not None else EventLog()
        self.sinks: list[Any] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.connected = True
        self.lost_reason: str | None = None
        self.stalled = False
        self.rtt_ms: float | None = None
        self.rate_sps = 0.0
        self._rate_mark: tuple[float, int] | None = None
        # stimulation
        self.stim: StimState | None = client.last_stim_state
        self.pulse_times: list[deque[float]] = [deque(maxlen=400) for _ in range(8)]
        self.last_pulse: list[Pulse | None] = [None] * 8
        self.pulses_total = 0
        # decoder
        self.decoder: DecoderOutput | None = None
        self.decoder_history: deque[int] = deque(maxlen=64)
        self.decoder_count = 0
        self.model_labels: list[str] = []
        self.model: dict[str, Any] | None = None
        # e-stop bookkeeping (the garment's own state is the truth: self.stim)
        self.estop_pending = False
        self.estop_error: str | None = None
        self.estop_sent_at: float | None = None
        self.on_alert: Callable[[str, str], None] | None = None
        self._last_status_state: str | None = None
        self._last_lead_off = 0
        self._closed = False
        self._stack: contextlib.AsyncExitStack | None = None  # the device opened by open()
        self._needs_provisioning: bool | None = None  # see needs_provisioning (asked once)
        client.listeners.append(self._on_packet)
        # The one path of every stimulation state into the app: replies and unsolicited reports.
        client.on_stim_state = self._on_stim_state

    # ---- opening and closing -------------------------------------------------------
    @classmethod
    async def open(cls, spec: str, timeout: float = 2.0, **kw: Any) -> "GarmentSession":
        """Connect to ``spec`` (:func:`garment.devices.open_device`: ``sim`` and ``ble:sim``
        start a simulated garment, in a thread so the interface keeps running); not yet
        streaming. :meth:`close` closes the device again."""
        from garment.devices import open_device

        stack = contextlib.AsyncExitStack()
        try:
            conn = await stack.enter_async_context(open_device(spec, timeout))
            info = await conn.client.info()
            config = await conn.client.get_config()
        except BaseException:
            await stack.aclose()
            raise
        session = cls(conn.client, spec, info, config, url=conn.url, sim=conn.sim, **kw)
        session._stack = stack
        return session

    async def start(self, background: bool = True) -> None:
        """Ask what the garment knows (stimulation, model), start streaming and the tasks."""
        self.add_log("link", "info", f"connected to {self.title} ({self.url})")
        await self._probe()
        if background:
            await self.client.start_stream()
            self._rate_mark = (self.clock(), self.client.stats.samples)
            for coro, name in (
                (self._pump_samples(), "samples"),
                (self._pump_pulses(), "pulses"),
                (self._pump_decoder(), "decoder"),
                (self._heartbeat(), "heartbeat"),
            ):
                self.tasks.append(asyncio.create_task(coro, name=f"garment-{name}"))

    async def _probe(self) -> None:
        try:
            await self.client.stim_state()  # the reply reaches ingest_stim_state (on_stim_state)
        except (DeviceError, TransportError) as e:
            self.add_log("stim", "warning", describe(e, "stimulation state"))
        await self.refresh_model()

    async def refresh_model(self) -> dict[str, Any] | None:
        """The garment's model information (labels of the active decoder)."""
        try:
            self.model = await self.client.model_info()
        except (DeviceError, TransportError) as e:
            self.add_log("host", "warning", describe(e, "model information"))
            return None
        active = self.model.get("active") or {}
        self.model_labels = [str(x) for x in active.get("labels") or []]
        return self.model

    async def close(self) -> None:
        """Stop streaming, close the link, stop the simulated garment (idempotent)."""
        if self._closed:
            return
        self._closed = True  # the loops also check it: wait_for may swallow a cancel (3.11)
        for t in self.tasks:
            t.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=2.0)
        self.tasks.clear()
        if self.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.stop_stream(), 1.0)
        with contextlib.suppress(Exception):
            await self.client.close()
        self.connected = False
        for s in list(self.sinks):
            with contextlib.suppress(Exception):
                s.close()
        self.sinks.clear()
        if self._stack is not None:  # the device: its radio, the simulated garment started for it
            stack, self._stack = self._stack, None
            with contextlib.suppress(Exception):
                await stack.aclose()
        self.sim = None

    # ---- descriptions --------------------------------------------------------------
    @property
    def title(self) -> str:
        kind = {"sim": "simulated garment", "ble:sim": "simulated garment (BLE)"}.get(self.spec, self.spec)
        return f"{kind} {self.info.get('uid', '')}".strip()

    @property
    def firmware(self) -> str:
        return str(self.info.get("version", "?"))

    # ---- log -----------------------------------------------------------------------
    def add_log(self, source: str, level: str, text: str) -> None:
        self.log.add(source, level, text)

    def alert(self, text: str, severity: str = "warning") -> None:
        if self.on_alert is not None:
            self.on_alert(text, severity)

    # ---- data in -------------------------------------------------------------------
    def attach(self, sink: Any) -> None:
        """Give ``sink`` every block from now on (``block(block, uV)``)."""
        self.sinks.append(sink)

    def detach(self, sink: Any) -> None:
        with contextlib.suppress(ValueError):
            self.sinks.remove(sink)

    async def capture(self, seconds: float, on_progress: Callable[[float], None] | None = None,
                      stall_s: float = 3.0) -> SampleCollector:
        """Collect the next ``seconds`` of samples (progress 0..1 reported as they come)."""
        target = max(1, int(round(seconds * self.fs)))
        col = SampleCollector(target)
        self.attach(col)
        last_n, last_t = 0, self.clock()
        try:
            while not col.done.is_set():
                if not self.connected:
                    raise TransportClosed(self.lost_reason or "link lost")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(col.done.wait(), 0.1)
                if on_progress is not None:
                    on_progress(min(1.0, col.n / target))
                if col.n != last_n:
                    last_n, last_t = col.n, self.clock()
                elif self.clock() - last_t > stall_s:
                    raise DeviceTimeout(f"no samples from the garment for {stall_s:.0f} s")
        finally:
            self.detach(col)
        if col.n > target:  # the last block may overshoot: keep exactly the request
            codes, uV = col.samples_codes()[:target], col.samples_uV()[:target]
            col.codes, col.uV, col.n = [codes], [uV], target
        return col

    def ingest_block(self, block: SampleBlock) -> None:
        uV = block.data.astype(np.float32) * np.float32(self.uV_per_code)
        self.trace.push(uV)
        for s in list(self.sinks):
            try:
                s.block(block, uV)
            except Exception as e:  # a failing sink must not stop the live view
                self.detach(s)
                self.add_log("host", "error", describe(e, "recording"))
                self.alert(describe(e, "recording stopped"), "error")

    def ingest_pulse(self, p: Pulse, now: float | None = None) -> None:
        ch = p.channel
        if 0 <= ch < len(self.pulse_times):
            self.pulse_times[ch].append(self.clock() if now is None else now)
            self.last_pulse[ch] = p
        self.pulses_total += 1

    def ingest_decoder(self, d: DecoderOutput) -> None:
        self.decoder = d
        self.decoder_history.append(d.label)
        self.decoder_count += 1

    def _on_stim_state(self, st: StimState, unsolicited: bool) -> None:
        # The client calls this from its receive loop for every state the garment sends.
        try:
            self.ingest_stim_state(st, source="garment" if unsolicited else "reply")
        except Exception as e:  # noqa: BLE001 - never break the receive loop
            self.add_log("host", "warning", f"stimulation state not shown: {e}")

    def ingest_stim_state(self, st: StimState, source: str = "garment") -> None:
        """Take one stimulation state (``source``: "garment" for a change it reported by
        itself, "reply" for the answer to a request); transitions go to the log, and a
        fault other than the E-STOP (which the user pressed) is an alert."""
        prev = self.stim
        self.stim = st
        if prev is None or (prev.state, prev.fault) != (st.state, st.fault):
            level = "error" if st.state == "fault" else "info"
            text = f"stimulation {st.state}" + (f", fault {st.fault}" if st.fault != "none" else "")
            self.add_log("stim", level, text)
            if st.state == "fault" and st.fault != "estop":
                self.alert(f"stimulation fault: {st.fault} (outputs off, latched)", "error")
        if prev is not None and prev.lead_off_mask != st.lead_off_mask and st.lead_off_mask:
            self.add_log("stim", "warning", f"stimulation electrode off: mask {st.lead_off_mask:08b}")

    def update_rate(self, now: float | None = None) -> None:
        """Measure samples per second since the last call (at most every RATE_WINDOW_S)."""
        now = self.clock() if now is None else now
        n = self.client.stats.samples
        if self._rate_mark is None:
            self._rate_mark = (now, n)
            return
        t0, n0 = self._rate_mark
        if now - t0 >= self.RATE_WINDOW_S:
            self.rate_sps = (n - n0) / (now - t0)
            self._rate_mark = (now, n)

    def _on_packet(self, pkt: Packet) -> None:
        # Called by the client's receive loop for every packet: must not block or raise.
        try:
            t = pkt.type
            if t == wire.R_EVENT and len(pkt.body) >= 5:
                up, code = struct.unpack_from("<IB", pkt.body)
                text = bytes(pkt.body[5:]).decode("utf-8", "replace")
                self.add_log("garment", "info", f"[{up / 1000:9.3f} s] {text} (event {code})")
            elif t == wire.R_ERROR and len(pkt.body) >= 3:
                ref = pkt.body[0] | (pkt.body[1] << 8)
                if ref == wire.NO_REF:
                    msg = bytes(pkt.body[3:]).decode("utf-8", "replace")
                    name = wire.ERROR_NAMES.get(pkt.body[2], str(pkt.body[2]))
                    self.add_log("garment", "error", f"garment reports {name}: {msg}")
            elif t == wire.R_STATUS and len(pkt.body) >= 2 + wire.STATUS_LEN:
                f = struct.unpack_from(wire.STATUS_FMT, pkt.body, 2)
                state = wire.STATE_NAMES.get(f[1], str(f[1]))
                if state != self._last_status_state:
                    if self._last_status_state is not None:
                        self.add_log("garment", "info", f"state {self._last_status_state} -> {state}")
                    self._last_status_state = state
                lead_off = f[7]
                if lead_off != self._last_lead_off:
                    names = [self.channel_names[i] for i in range(self.n_ch) if lead_off >> i & 1]
                    if names:
                        self.add_log("garment", "warning", "EMG electrode off: " + ", ".join(names))
                    else:
                        self.add_log("garment", "info", "EMG electrodes all on")
                    self._last_lead_off = lead_off
        except Exception as e:  # noqa: BLE001 - never break the receive loop
            self.add_log("host", "warning", f"undecodable packet 0x{pkt.type:02x}: {e}")

    # ---- background tasks ----------------------------------------------------------
    async def _pump_samples(self) -> None:
        while not self._closed:
            try:
                block = await self.client.next_block(timeout=2.0)
            except TransportError as e:
                if self.client.closed_reason is not None:
                    self._lost(self.client.closed_reason)
                    return
                if not self.stalled:
                    self.stalled = True
                    self.add_log("link", "warning", describe(e))
                    self.alert("no samples from the garment for 2 s", "warning")
                continue
            if self._closed:
                return
            if self.stalled:
                self.stalled = False
                self.add_log("link", "info", "samples flowing again")
            self.ingest_block(block)

    async def _pump_pulses(self) -> None:
        while not self._closed:
            self.ingest_pulse(await self.client.pulses.get())

    async def _pump_decoder(self) -> None:
        while not self._closed:
            self.ingest_decoder(await self.client.decoder_outputs.get())

    async def _heartbeat(self) -> None:
        # The pings keep their own schedule (garment.heartbeat.Heartbeat): a slow reply or
        # the stimulation poll below never delays the next one.
        misses = 0

        def replied(rtt_s: float) -> None:
            nonlocal misses
            self.rtt_ms = rtt_s * 1000.0
            misses = 0

        def failed(e: Exception) -> None:
            nonlocal misses
            if isinstance(e, TransportError) and self.client.closed_reason is not None:
                self._lost(self.client.closed_reason)
                return
            misses += 1
            if misses == 1:
                self.add_log("link", "warning", describe(e, "heartbeat"))

        hb = Heartbeat(self.client, self.HEARTBEAT_S, on_reply=replied, on_error=failed)
        hb.start()
        tick = 0
        try:
            while self.connected and not self._closed:
                tick += 1
                self.update_rate()
                await self._poll_stim(tick)
                await asyncio.sleep(self.POLL_S)
        finally:
            hb.cancel()

    async def _poll_stim(self, tick: int) -> None:
        # The garment reports state changes itself; amplitudes are polled: 5 Hz while
        # armed or stimulating, 1 Hz otherwise (the reply reaches ingest_stim_state).
        active = self.stim is not None and self.stim.state in ("armed", "stimulating")
        if not active and tick % 5:
            return
        try:
            await self.client.stim_state()
        except DeviceError as e:
            if self.stim is None:
                self.add_log("stim", "warning", describe(e, "stimulation state"))
        except TransportError:
            pass  # the heartbeat reports link problems

    def _lost(self, reason: str) -> None:
        if not self.connected:
            return
        self.connected = False
        self.lost_reason = reason
        self.add_log("link", "error", f"link lost: {reason}")
        self.alert(f"link to the garment lost: {reason}", "error")

    # ---- views ---------------------------------------------------------------------
    def link_view(self) -> LinkView:
        st = self.client.stats
        status = self.client.last_status
        rssi = self.client.transport.rssi
        return LinkView(
            rate_sps=self.rate_sps,
            samples=st.samples,
            dropped=st.dropped,
            gaps=st.gaps,
            packets_lost=st.packets_lost,
            crc_errors=st.crc_errors,
            malformed=st.malformed,
            rtt_ms=self.rtt_ms,
            rssi_dbm=float(rssi) if isinstance(rssi, (int, float)) else None,
            battery_mv=status.battery_mv if status else None,
            tx_dropped=status.tx_dropped if status else 0,
            afe_overruns=status.afe_overruns if status else 0,
            lead_off_mask=status.lead_off_mask if status else 0,
            state=status.state if status else "",
            connected=self.connected,
            problem=(f"link lost: {self.lost_reason}" if not self.connected and self.lost_reason
                     else "no samples" if self.stalled else ""),
        )

    def channel_amplitude_ua(self, channel: int, now: float | None = None, recent_s: float = 0.5) -> int:
        """The present amplitude of a stimulation channel: the supervisor's state, or the
        last delivered pulse when that is more recent than the last state report."""
        st = self.stim
        amp = st.amplitude_ua[channel] if st is not None and channel < len(st.amplitude_ua) else 0
        p = self.last_pulse[channel] if channel < len(self.last_pulse) else None
        times = self.pulse_times[channel] if channel < len(self.pulse_times) else None
        now = self.clock() if now is None else now
        if p is not None and times and now - times[-1] <= recent_s:
            return max(amp, p.amplitude_ua)
        return amp

    def pulse_rate(self, channel: int, now: float | None = None, window: float = 1.0) -> float:
        now = self.clock() if now is None else now
        times = self.pulse_times[channel]
        return sum(1 for t in times if now - t <= window) / window

    @property
    def estop_latched(self) -> bool:
        st = self.stim
        return st is not None and st.state == "fault" and st.fault == "estop"

    # ---- requests that the screens share ---------------------------------------------
    async def estop(self) -> StimState:
        """Send the emergency stop now; the garment's reply (or error) is kept for the bar."""
        self.estop_pending = True
        self.estop_error = None
        self.estop_sent_at = time.time()
        self.add_log("stim", "warning", "E-STOP sent")
        try:
            st = await self.client.estop()
        except BaseException as e:
            self.estop_error = describe(e) if isinstance(e, Exception) else "cancelled"
            self.add_log("stim", "error", f"E-STOP not confirmed: {self.estop_error}")
            raise
        finally:
            self.estop_pending = False
        # the reply has reached ingest_stim_state already (client.on_stim_state)
        if (st.state, st.fault) != ("fault", "estop"):
            self.add_log("stim", "warning", f"E-STOP answered with state {st.state}, fault {st.fault}")
        return st

    def instruct(self, what: str | None, channel: int | None = None) -> None:
        """What the app now asks of the person: ``rest``, ``mvc`` of ``channel``, a movement
        label, or None (nothing in particular). On the simulated garment its person does it
        (:class:`garment.sim.person.SimPerson`); a real person reads the screen."""
        person = getattr(self.sim, "person", None) if self.sim is not None else None
        if person is None:
            return
        try:
            person.follow(what, channel)
        except (RuntimeError, ValueError, OSError) as e:
            self.add_log("host", "warning", f"the simulated person cannot follow ({what}): {e}")

    PROVISION_HINT = ("this computer holds no key for the garment, and keys are given over USB only: "
                      "connect it once by USB (F1, its serial port), then BLE works")

    @property
    def needs_provisioning(self) -> bool:
        """True when no privileged request (the E-STOP reset included) can work: a BLE link
        to a garment this computer holds no secret for (provisioning is USB-only)."""
        if self.client.signer is not None or not self.spec.startswith("ble:"):
            return False
        if self._needs_provisioning is None:
            from garment import auth

            try:
                self._needs_provisioning = auth.load_secret(str(self.info.get("uid"))) is None
            except Exception:  # noqa: BLE001 - an unreadable secret is reported when used
                self._needs_provisioning = False
        return self._needs_provisioning

    async def ensure_auth(self) -> None:
        """Open an authenticated session for privileged requests (once per connection).

        Uses (and if needed provisions) this user's secret for the garment
        (:func:`garment.auth.ensure_authenticated`); raises what it raises."""
        if self.client.signer is not None:
            return
        from garment import auth

        await auth.ensure_authenticated(self.client)
        self.add_log("host", "info", "authenticated session opened")

    # ---- requests for the screens (they call these, never the client) -------------------
    @property
    def last_status(self) -> Status | None:
        """The garment's latest status report (battery, lead-off, counters)."""
        return self.client.last_status

    async def arm(self) -> StimState:
        """Arm the stimulator (authenticated); every start afterwards ramps from zero."""
        await self.ensure_auth()
        return await self.client.arm()

    async def disarm(self) -> StimState:
        """Outputs off at once (authenticated; the E-STOP needs no session: :meth:`estop`)."""
        await self.ensure_auth()
        return await self.client.disarm()

    async def fault_reset(self) -> StimState:
        """Clear a latched fault or E-STOP (authenticated); stimulation stays off until armed."""
        await self.ensure_auth()
        st = await self.client.fault_reset()
        self.estop_error = None
        return st

    async def get_limits(self) -> Limits:
        return await self.client.get_limits()

    async def get_calibration(self, channel: int) -> Calibration:
        return await self.client.get_calibration(channel)

    async def set_calibration(self, cal: Calibration) -> Calibration:
        """Store one channel's calibration on the garment (authenticated); the stored one back."""
        await self.ensure_auth()
        return await self.client.set_calibration(cal)

    async def search_thresholds(self, channel: int, ramp: Ramp) -> RampResult:
        """The calibration ramp on ``channel`` (:func:`garment.stimcontrol.search_thresholds`):
        provisional calibration, arm, ``ramp`` until the user stops it, disarm, the previous
        calibration back. The session's heartbeat keeps the garment supervised; a
        cancellation (the E-STOP cancels stimulation work) still disarms (which keeps
        the E-STOP latched) and puts the calibration back."""
        await self.ensure_auth()
        return await search_thresholds(self.client, channel, ramp, heartbeat_s=None)

    async def upload_model(self, data: bytes, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Upload, verify and activate a model (authenticated); the garment's model info
        (:meth:`refresh_model` reads it back)."""
        await self.ensure_auth()
        return await self.client.upload_model(data, progress=progress)

    async def model_rollback(self) -> dict[str, Any]:
        """Back to the previous model (authenticated)."""
        await self.ensure_auth()
        return await self.client.model_rollback()

    async def set_filters(self, *, highpass: bool | None = None, notch: bool | None = None,
                          mains: int | None = None) -> StreamConfig:
        """Change the garment's high-pass, mains notch or mains frequency (privileged):
        the stream pauses for the change and resumes; returns the garment's new settings."""
        from dataclasses import replace

        await self.ensure_auth()
        c = self.config
        want = replace(c, highpass=c.highpass if highpass is None else highpass,
                       notch=c.notch if notch is None else notch, mains=c.mains if mains is None else mains)
        await self.client.stop_stream()
        try:
            self.config = await self.client.set_config(want)
        finally:
            await self.client.start_stream()
        self.add_log("host", "info", f"filters: high-pass {'on' if self.config.highpass else 'off'}, "
                                     f"notch {'on' if self.config.notch else 'off'} at {self.config.mains} Hz")
        return self.config

    async def stream_meta(self) -> Any:
        """The recording metadata of this garment's stream (``garment.acquire.stream_meta``)."""
        from garment.acquire import stream_meta

        return await stream_meta(self.client, self.spec)
