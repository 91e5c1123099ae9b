"""The asyncio client of one garment, over any :class:`~garment.transports.Transport`.

Requests are matched to replies by sequence number; telemetry (samples, status,
events) flows into queues. Every gap is counted: lost packets (sequence numbers),
lost samples (the AFE sample counter), CRC failures and malformed frames.
"""
from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from garment.contracts import load_contract
from garment.protocol import Deframer, Packet, encode_packet, wire
from garment.stimulation import Calibration, Limits
from garment.transports.base import Transport, TransportClosed, TransportError

__all__ = [
    "Calibration", "DecoderOutput", "DeviceError", "DeviceTimeout", "Event", "GarmentClient", "Limits",
    "Pulse", "ReplyAuthError", "SampleBlock", "Signer", "Status", "StimState", "StreamConfig", "StreamStats", "decode_samples",
    "model_id",
]


class DeviceError(Exception):
    """The garment refused a request; ``code``/``name`` are the wire error code."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.name = wire.ERROR_NAMES.get(code, f"error{code}")
        super().__init__(f"{self.name}: {message}")


class ReplyAuthError(RuntimeError):
    """A reply to a privileged request failed its reply MAC: forged, or a genuine reply
    replayed for another request. The request's outcome is unknown: check the garment's
    state (e.g. ``stim_state()``) before relying on it."""


class DeviceTimeout(TransportError):
    """No reply within the timeout: the garment stopped answering."""


@dataclass(frozen=True)
class StreamConfig:
    """Acquisition settings (``T_SET_CONFIG``)."""

    fs: int = 2000
    channels: int = 8
    mains: int = 50
    kind: int = wire.STREAM_FILTERED
    highpass: bool = True
    notch: bool = True

    def pack(self) -> bytes:
        return struct.pack(
            wire.CONFIG_FMT, self.fs, self.channels, self.mains, self.kind, int(self.highpass), int(self.notch)
        )

    @classmethod
    def unpack(cls, body: bytes) -> "StreamConfig":
        fs, ch, mains, kind, hp, notch = struct.unpack(wire.CONFIG_FMT, body)
        return cls(fs, ch, mains, kind, bool(hp), bool(notch))


@dataclass(frozen=True)
class Status:
    """A device status report."""

    uptime_ms: int
    state: str
    streaming: bool
    afe_overruns: int
    rx_crc_errors: int
    rx_malformed: int
    tx_dropped: int
    lead_off_mask: int
    battery_mv: int
    afe_counter: int

    @classmethod
    def unpack(cls, body: bytes) -> "Status":
        f = struct.unpack(wire.STATUS_FMT, body)
        return cls(f[0], wire.STATE_NAMES.get(f[1], str(f[1])), bool(f[2]), *f[3:])


#: A model file's id as MODEL_BEGIN and MODEL_INFO state it (the model format contract's).
model_id: Callable[[bytes], int] = load_contract("model_format").model_id


@dataclass(frozen=True)
class StimState:
    """The safety supervisor's state and the present amplitude of each channel."""

    state: str
    fault: str
    armed_mask: int
    lead_off_mask: int
    amplitude_ua: tuple[int, ...]

    @classmethod
    def unpack(cls, body: bytes) -> "StimState":
        f = struct.unpack(wire.STIM_STATE_FMT, body)
        return cls(wire.SS_NAMES.get(f[0], str(f[0])), wire.FAULT_NAMES.get(f[1], str(f[1])), f[2], f[3], tuple(f[4:]))


@dataclass(frozen=True)
class Pulse:
    """One delivered stimulation pulse, as reported by the garment."""

    t_us: int
    channel: int
    amplitude_ua: int
    width_us: int
    interphase_us: int


@dataclass(frozen=True)
class DecoderOutput:
    """The on-device decoder's result for one feature window."""

    window_end: int
    label: int  # class index, -1 when rejected
    outputs: tuple[int, ...]


class Signer(Protocol):
    """Appends the authentication trailer to privileged requests (see garment.auth)."""

    def sign(self, ptype: int, seq: int, body: bytes) -> bytes: ...

    def open_reply(self, trailer: bytes, rtype: int, body: bytes) -> bytes:
        """The reply's body without its reply tag; raises ReplyAuthError unless the
        garment sent it for the request signed with ``trailer``."""
        ...


@dataclass(frozen=True)
class SampleBlock:
    """Consecutive samples: ``data`` is int32 ADC codes, shape (n, channels)."""

    first_index: int  # unwrapped AFE sample counter of data[0]
    data: np.ndarray
    kind: int


@dataclass
class StreamStats:
    """What arrived and what was lost on the way."""

    samples: int = 0
    dropped: int = 0
    gaps: int = 0
    packets: int = 0
    packets_lost: int = 0
    crc_errors: int = 0
    malformed: int = 0
    forged_replies: int = 0  # replies to privileged requests refused by their reply MAC
    forged_unsolicited: int = 0  # events, pulse reports, state changes refused by their tag


@dataclass(frozen=True)
class Event:
    uptime_ms: int
    code: int
    text: str


def decode_samples(body: bytes) -> tuple[int, int, int, np.ndarray]:
    """``R_SAMPLES`` body -> (first_index, n_ch, kind, int32 array (n, n_ch)) in AFE codes.

    Kind ``STREAM_FILTERED16`` (int16 of code >> FILTERED16_SHIFT) is scaled back to codes.
    """
    first, n, nch, kind = struct.unpack_from(wire.SAMPLES_HDR_FMT, body)
    width = wire.SAMPLE16_BYTES if kind == wire.STREAM_FILTERED16 else wire.SAMPLE_BYTES
    need = wire.SAMPLES_HDR_LEN + n * nch * width
    if len(body) != need or nch == 0:
        raise ValueError(f"samples packet of {len(body)} bytes, header says {need}")
    if kind == wire.STREAM_FILTERED16:
        v16 = np.frombuffer(body, dtype="<i2", offset=wire.SAMPLES_HDR_LEN).astype(np.int32)
        return first, nch, kind, (v16 << wire.FILTERED16_SHIFT).reshape(n, nch)
    raw = np.frombuffer(body, dtype=np.uint8, offset=wire.SAMPLES_HDR_LEN).reshape(-1, 3).astype(np.int32)
    v = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
    v = (v ^ 0x800000) - 0x800000  # sign-extend 24 -> 32 bits
    return first, nch, kind, v.reshape(n, nch)


# Device packets whose body does not start with a request's ref.
_UNREFERENCED = frozenset((wire.R_SAMPLES, wire.R_PULSES, wire.R_DECODER, wire.R_EVENT, wire.R_MU_ACTIVITY))
# What the garment sends by itself and tags under a session (wire.EVENT_TAG_LEN), with
# the R_STIM_STATE whose ref is NO_REF. Samples and decoder outputs are not tagged: they
# are the stream (their cost per packet), and change no state on the host.
_UNSOLICITED_TAGGED = frozenset((wire.R_PULSES, wire.R_EVENT))
_NO_REF = struct.pack("<H", wire.NO_REF)


@dataclass
class _Pending:
    future: asyncio.Future[Packet]
    ptype: int
    trailer: bytes | None = None  # a signed request's trailer: its replies must carry the reply tag
    signer: "Signer | None" = None  # who signed it (and checks its reply)
    on_reply: "Callable[[Packet], None] | None" = None  # runs as its reply is dispatched


class GarmentClient:
    """Talks to one garment. Use ``async with GarmentClient(transport) as g: ...``."""

    def __init__(self, transport: Transport, timeout: float = 2.0) -> None:
        self.transport = transport
        self.timeout = timeout
        self.stats = StreamStats()
        self.events: list[Event] = []
        self.unsolicited_errors: list[DeviceError] = []
        self.last_status: Status | None = None
        self._deframer = Deframer()
        self._seq = 0
        self._pending: dict[int, _Pending] = {}
        # Unbounded on purpose: received samples are never thrown away on the host.
        self._samples: asyncio.Queue[SampleBlock | BaseException] = asyncio.Queue()
        self._rx_task: asyncio.Task[None] | None = None
        self._streaming = False
        self._dev_seq: int | None = None
        self._next_index: int | None = None
        self._last_raw: int | None = None
        self._wraps = 0
        self.closed_reason: str | None = None
        self.hello_version: str | None = None
        self.signer: Signer | None = None
        #: the garment tags what it sends by itself (wire.EVENT_TAG_LEN): from the R_ACK
        #: that opened the session (garment.auth.authenticate) until the session ends;
        #: while True an unsolicited packet without a valid tag is dropped and counted
        self.unsolicited_tags = False
        self._sign_lock = asyncio.Lock()
        self.pulses: asyncio.Queue[Pulse] = asyncio.Queue()
        self.decoder_outputs: asyncio.Queue[DecoderOutput] = asyncio.Queue()
        #: ``R_MU_ACTIVITY`` bodies (the garment's motor-unit stage; garment.motorunits.onboard decodes them)
        self.mu_activity: asyncio.Queue[bytes] = asyncio.Queue()
        self.last_stim_state: StimState | None = None
        #: called with every stimulation state the garment sends, replies to requests
        #: (``unsolicited`` False) and the changes it reports by itself (True), before the
        #: request that asked returns; one owner (the TUI session); must not block or raise
        self.on_stim_state: Callable[[StimState, bool], None] | None = None
        #: called for every packet the garment sends (TUI log, HIL rig); must not block
        self.listeners: list[Callable[[Packet], None]] = []

    async def __aenter__(self) -> "GarmentClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def connect(self) -> str:
        """Open the transport and shake hands; returns the firmware version."""
        await self.transport.open()
        self._rx_task = asyncio.create_task(self._rx_loop(), name="garment-rx")
        try:
            return await self.hello()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._rx_task is not None:
            self._rx_task.cancel()
            try:
                await self._rx_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass
            self._rx_task = None
        await self.transport.close()

    # ---- requests ------------------------------------------------------------------
    async def request(
        self, ptype: int, body: bytes = b"", timeout: float | None = None, privileged: bool = False,
        on_reply: Callable[[Packet], None] | None = None, resend_stale: bool = False,
    ) -> Packet:
        """Send one request; return its reply packet or raise DeviceError / DeviceTimeout.

        ``privileged`` requests carry the session's authentication trailer (``signer``);
        one the garment refused as stamped from its future (a sealed E_STALE: its clock
        runs slower than the host's estimate) is signed and sent again, once.
        ``resend_stale``: also one refused as too old (sealed), for requests that are
        idempotent and cause no stimulation (a model upload's BEGIN and chunks: the model is
        verified before it can run); the held-back copy stays refused, the new one is fresh.
        ``on_reply(pkt)`` runs when a (non-error) reply is dispatched, before any packet
        behind it on the link (the session's opening installs itself there).
        """
        if self.closed_reason is not None:
            raise TransportClosed(self.closed_reason)
        fut: asyncio.Future[Packet] = asyncio.get_running_loop().create_future()
        if privileged and self.signer is not None:
            signer = self.signer
            seq, trailer = await self._send_signed(ptype, body, fut, signer)
            try:
                return await self._await_reply(seq, ptype, fut, timeout)
            except DeviceError as e:
                # Refused as from the future (sealed): the estimate ran ahead of a slow clock
                # and the refusal re-anchored it; signed again (once) it is fresh.
                early = getattr(signer, "stamped_ahead", None)
                sealed = getattr(signer, "refusal_sealed", None)
                again = early is not None and early(trailer) or (
                    resend_stale and sealed is not None and sealed(trailer))
                if e.code != wire.E_STALE or not again or signer is not self.signer:
                    raise
            fut = asyncio.get_running_loop().create_future()
            seq, _ = await self._send_signed(ptype, body, fut, signer)
        else:
            seq = self._next_seq()
            self._pending[seq] = _Pending(fut, ptype, on_reply=on_reply)
            await self._write_or_forget(seq, encode_packet(ptype, seq, body))
        return await self._await_reply(seq, ptype, fut, timeout)

    async def _send_signed(self, ptype: int, body: bytes, fut: "asyncio.Future[Packet]", signer: Signer) -> tuple[int, bytes]:
        # Signed requests must reach the garment in counter order: sign and send as one.
        async with self._sign_lock:
            seq = self._next_seq()
            trailer = signer.sign(ptype, seq, body)
            self._pending[seq] = _Pending(fut, ptype, trailer, signer)
            await self._write_or_forget(seq, encode_packet(ptype, seq, body + trailer))
        return seq, trailer

    async def _write_or_forget(self, seq: int, frame: bytes) -> None:
        try:
            await self.transport.write(frame)
        except BaseException:
            self._pending.pop(seq, None)
            raise

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (seq + 1) & 0xFFFF
        return seq

    async def _await_reply(self, seq: int, ptype: int, fut: "asyncio.Future[Packet]", timeout: float | None) -> Packet:
        try:
            return await asyncio.wait_for(fut, timeout or self.timeout)
        except asyncio.TimeoutError:
            raise DeviceTimeout(
                f"{self.transport.name}: no reply to request 0x{ptype:02x} within {timeout or self.timeout:.1f} s"
            ) from None
        finally:
            self._pending.pop(seq, None)

    async def hello(self) -> str:
        pkt = await self.request(wire.T_HELLO)
        proto = pkt.body[2]
        if proto != wire.PROTOCOL_VERSION:
            raise DeviceError(wire.E_BAD_STATE, f"garment speaks protocol {proto}, host speaks {wire.PROTOCOL_VERSION}")
        self.hello_version = pkt.body[3:].decode()
        return self.hello_version

    async def info(self) -> dict[str, Any]:
        """Board, firmware version, channels, sampling rate, state."""
        pkt = await self.request(wire.T_INFO)
        info: dict[str, Any] = json.loads(pkt.body[2:].decode())
        return info

    async def get_config(self) -> StreamConfig:
        return StreamConfig.unpack((await self.request(wire.T_GET_CONFIG)).body[2:])

    async def set_config(self, config: StreamConfig) -> StreamConfig:
        """Apply a configuration; the garment refuses out-of-range values (DeviceError)."""
        return StreamConfig.unpack((await self.request(wire.T_SET_CONFIG, config.pack(), privileged=True)).body[2:])

    async def start_stream(self) -> None:
        self._next_index = None
        self._last_raw = None
        self._wraps = 0
        await self.request(wire.T_STREAM_START)
        self._streaming = True

    async def stop_stream(self) -> None:
        self._streaming = False
        await self.request(wire.T_STREAM_STOP)

    async def resume(self) -> None:
        """Carry on after the link dropped (``TransportClosed``): reopen the transport
        (``Transport.reconnect()``), shake hands again and restart the stream
        if one was running. Sample indices carry on, so the samples lost meanwhile are counted
        in ``stats`` as one gap. An authenticated session must be opened again."""
        if self._rx_task is not None:
            self._rx_task.cancel()
            try:
                await self._rx_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - it ended with the link
                pass
            self._rx_task = None
        await self.transport.reconnect()
        kept = []  # blocks received before the drop stay; the end-of-link markers go
        while not self._samples.empty():
            item = self._samples.get_nowait()
            if isinstance(item, SampleBlock):
                kept.append(item)
        for block in kept:
            self._samples.put_nowait(block)
        self.closed_reason = None
        self.unsolicited_tags = False  # the session ended with the link: nothing is tagged now
        self._deframer.reset()  # a frame cut by the drop must not swallow the first reply
        self._dev_seq = None  # the garment's packet numbers are compared within one link session
        self._rx_task = asyncio.create_task(self._rx_loop(), name="garment-rx")
        await self.hello()
        if self._streaming:
            await self.request(wire.T_STREAM_START)

    async def ping(self, token: int = 0) -> int:
        pkt = await self.request(wire.T_PING, struct.pack("<I", token))
        return int(struct.unpack_from("<I", pkt.body, 2)[0])

    async def status(self) -> Status:
        return Status.unpack((await self.request(wire.T_STATUS)).body[2:])

    # ---- stimulation ---------------------------------------------------------------
    async def stim_state(self) -> StimState:
        return self._stim((await self.request(wire.T_STIM_STATE)).body)

    @staticmethod
    def _stim(body: bytes) -> StimState:
        return StimState.unpack(body[2:])  # already seen by on_stim_state (_dispatch)

    async def estop(self) -> StimState:
        """Emergency stop: all outputs to zero at once, latched until re-armed. Needs no session."""
        return self._stim((await self.request(wire.T_ESTOP)).body)

    async def arm(self) -> StimState:
        return self._stim((await self.request(wire.T_ARM, privileged=True)).body)

    async def disarm(self) -> StimState:
        return self._stim((await self.request(wire.T_DISARM, privileged=True)).body)

    async def fault_reset(self) -> StimState:
        return self._stim((await self.request(wire.T_FAULT_RESET, privileged=True)).body)

    async def set_calibration(self, cal: Calibration) -> Calibration:
        return Calibration.unpack((await self.request(wire.T_CALIB_SET, cal.pack(), privileged=True)).body[2:])

    async def get_calibration(self, channel: int) -> Calibration:
        return Calibration.unpack((await self.request(wire.T_CALIB_GET, bytes((channel,)))).body[2:])

    async def set_limits(self, limits: Limits) -> Limits:
        return Limits.unpack((await self.request(wire.T_SET_LIMITS, limits.pack(), privileged=True)).body[2:])

    async def get_limits(self) -> Limits:
        return Limits.unpack((await self.request(wire.T_GET_LIMITS)).body[2:])

    async def stim_test(self, channel: int, amplitude_ua: int, width_us: int, freq_hz: int, duration_ms: int) -> StimState:
        """One ramped test train on one channel (refused beyond calibration or limits)."""
        body = struct.pack(wire.STIM_TEST_FMT, channel, amplitude_ua, width_us, freq_hz, duration_ms)
        return self._stim((await self.request(wire.T_STIM_TEST, body, privileged=True)).body)

    async def crank(self, angle_deg: float, cadence_rpm: float) -> None:
        """External crank-angle sensor reading for the cycling policy."""
        body = struct.pack("<HH", int(round(angle_deg * 100)) % 36000, int(round(cadence_rpm * 100)))
        await self.request(wire.T_CRANK, body, privileged=True)  # the garment refuses it unsigned

    async def activation(self, values: Sequence[float]) -> None:
        """Host activations 0..1 per policy input (e.g. each muscle's neural drive), signed.

        The garment treats them as decoder output (policy, calibration clip, slew, supervisor);
        it refuses them unarmed or without a model, and zeroes them if none arrives for
        ``wire.ACTIVATION_STALE_MS``: send at least every 100 ms.

        Raises:
            ValueError: a value outside 0..1 or not finite (refused here too, never clamped).
        """
        q = []
        for v in values:
            if not 0.0 <= float(v) <= 1.0:  # NaN fails this too
                raise ValueError(f"activation {v!r} is not in 0..1")
            q.append(int(round(float(v) * 4096)))
        if not 1 <= len(q) <= 64:
            raise ValueError(f"{len(q)} activations: 1..64")
        await self.request(wire.T_ACTIVATION, struct.pack(f"<B{len(q)}H", len(q), *q), privileged=True)

    # ---- model upload --------------------------------------------------------------
    async def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((await self.request(wire.T_MODEL_INFO)).body[2:].decode())
        return info

    async def upload_model(
        self, data: bytes, chunk: int = 512, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Upload, verify and activate a model file; resumes an interrupted upload of the same file."""
        import binascii

        crc = model_id(data)
        # BEGIN (starts or resumes) and each chunk are idempotent and stimulate nothing: one the
        # garment found too old (its clock jumped ahead of the estimate, e.g. an emulated core
        # catching up after its host slowed it) is signed again once. COMMIT is not.
        pkt = await self.request(wire.T_MODEL_BEGIN, struct.pack(wire.MODEL_BEGIN_FMT, len(data), crc),
                                 privileged=True, resend_stale=True)
        offset, total = struct.unpack_from("<II", pkt.body, 2)
        while offset < total:
            piece = data[offset : offset + chunk]
            pkt = await self.request(wire.T_MODEL_CHUNK, struct.pack("<I", offset) + piece, privileged=True,
                                     resend_stale=True)
            offset, total = struct.unpack_from("<II", pkt.body, 2)
            if progress is not None:
                progress(offset, total)
        info: dict[str, Any] = json.loads(
            (await self.request(wire.T_MODEL_COMMIT, privileged=True, timeout=10)).body[2:].decode()
        )
        return info

    async def model_rollback(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((await self.request(wire.T_MODEL_ROLLBACK, privileged=True)).body[2:].decode())
        return info

    # ---- telemetry -----------------------------------------------------------------
    async def next_block(self, timeout: float | None = None) -> SampleBlock:
        """The next block of samples; raises TransportClosed / DeviceTimeout if none comes."""
        try:
            item = await asyncio.wait_for(self._samples.get(), timeout or self.timeout)
        except asyncio.TimeoutError:
            raise DeviceTimeout(
                f"{self.transport.name}: no samples for {timeout or self.timeout:.1f} s"
            ) from None
        if isinstance(item, BaseException):
            self._samples.put_nowait(item)
            raise item
        return item

    def take_buffered(self) -> list[SampleBlock]:
        """Sample blocks already received and not yet taken (e.g. after the link dropped)."""
        out: list[SampleBlock] = []
        while not self._samples.empty():
            item = self._samples.get_nowait()
            if isinstance(item, SampleBlock):
                out.append(item)
            else:
                self._samples.put_nowait(item)  # keep the end-of-link marker last
                break
        return out

    def _unwrap(self, first: int) -> int:
        # The device counter wraps at COUNTER_MOD; keep a monotonic 64-bit index.
        if self._last_raw is not None and first < self._last_raw and self._last_raw - first > wire.COUNTER_MOD // 2:
            self._wraps += 1
        self._last_raw = first
        return first + self._wraps * wire.COUNTER_MOD

    def _on_samples(self, body: bytes) -> None:
        try:
            first, nch, kind, data = decode_samples(body)
        except ValueError:
            self.stats.malformed += 1
            return
        index = self._unwrap(first)
        st = self.stats
        if self._next_index is not None and index != self._next_index:
            missing = index - self._next_index
            if missing > 0:
                st.dropped += missing
                st.gaps += 1
        self._next_index = index + len(data)
        st.samples += len(data)
        self._samples.put_nowait(SampleBlock(index, data, kind))

    def _dispatch(self, pkt: Packet) -> None:
        st = self.stats
        st.packets += 1
        if self._dev_seq is not None:
            lost = (pkt.seq - self._dev_seq - 1) & 0xFFFF
            st.packets_lost += lost
        self._dev_seq = pkt.seq
        t = pkt.type
        if t not in _UNREFERENCED and len(pkt.body) >= 2:
            # A reply to a signed request: its tag is checked and removed before anyone
            # (listeners, the state it carries, the request) sees it; a forged one is dropped.
            signed = self._pending.get(pkt.body[0] | (pkt.body[1] << 8))
            if signed is not None and signed.trailer is not None and not signed.future.done():
                opened = self._open_reply(signed, pkt)
                if opened is None:
                    return
                pkt = opened
        if t in _UNSOLICITED_TAGGED or (t == wire.R_STIM_STATE and pkt.body[:2] == _NO_REF):
            unsolicited = self._open_unsolicited(pkt)
            if unsolicited is None:
                return
            pkt = unsolicited
        for listener in self.listeners:
            listener(pkt)
        if t == wire.R_SAMPLES:
            self._on_samples(pkt.body)
            return
        if t == wire.R_PULSES:
            n = pkt.body[0] if pkt.body else 0
            for i in range(n):
                f = struct.unpack_from(wire.PULSE_FMT, pkt.body, 1 + i * wire.PULSE_LEN)
                self.pulses.put_nowait(Pulse(*f))
            return
        if t == wire.R_DECODER:
            end, label, n_out = struct.unpack_from(wire.DECODER_HDR_FMT, pkt.body)
            outs = struct.unpack_from("<%di" % n_out, pkt.body, 6)
            self.decoder_outputs.put_nowait(DecoderOutput(end, label, tuple(outs)))
            return
        if t == wire.R_MU_ACTIVITY:
            self.mu_activity.put_nowait(pkt.body)
            return
        if t == wire.R_EVENT:
            up, code = struct.unpack_from("<IB", pkt.body)
            self.events.append(Event(up, code, pkt.body[5:].decode("utf-8", "replace")))
            return
        if len(pkt.body) < 2:
            st.malformed += 1
            return
        ref = pkt.body[0] | (pkt.body[1] << 8)
        if t == wire.R_STIM_STATE:
            try:
                state: StimState | None = StimState.unpack(pkt.body[2:])
            except struct.error:
                state = None
                st.malformed += 1  # a reply still goes to its request, which then fails
            if state is not None:
                self.last_stim_state = state
                if self.on_stim_state is not None:
                    self.on_stim_state(state, ref == wire.NO_REF)
            if ref == wire.NO_REF:
                return  # a change the garment reports by itself
        if t == wire.R_STATUS:
            try:
                self.last_status = Status.unpack(pkt.body[2:])
            except struct.error:
                st.malformed += 1
                return
        pending = self._pending.get(ref)
        if t == wire.R_ERROR:
            err = DeviceError(pkt.body[2] if len(pkt.body) > 2 else 0, pkt.body[3:].decode("utf-8", "replace"))
            if pending is not None and not pending.future.done():
                pending.future.set_exception(err)
            else:
                self.unsolicited_errors.append(err)
            return
        if pending is not None and not pending.future.done():
            if pending.on_reply is not None:
                pending.on_reply(pkt)
            pending.future.set_result(pkt)

    def _open_unsolicited(self, pkt: Packet) -> Packet | None:
        """An unsolicited packet without its tag (garment.auth: ``open_unsolicited``), the
        packet as it came when it carries none and none is expected, or None (dropped,
        counted in ``stats.forged_unsolicited``) when the session expects one."""
        opener = getattr(self.signer, "open_unsolicited", None)
        if opener is not None:
            body = opener(pkt.type, pkt.body)
            if body is not None:
                return Packet(pkt.type, pkt.seq, body)
        if self.unsolicited_tags:
            self.stats.forged_unsolicited += 1
            return None
        return pkt

    def _open_reply(self, pending: _Pending, pkt: Packet) -> Packet | None:
        """A reply to a signed request without its reply tag; None (and the request
        failed with ReplyAuthError) when the tag is wrong. An R_ERROR without a valid tag
        still fails its request (the garment refuses before it can tag: no session, bad
        MAC, replay): a forged one can only make a request look refused, never done."""
        assert pending.trailer is not None and pending.signer is not None
        try:
            body = pending.signer.open_reply(pending.trailer, pkt.type, pkt.body)
        except ReplyAuthError as e:
            if pkt.type == wire.R_ERROR:
                return pkt
            self.stats.forged_replies += 1
            pending.future.set_exception(e)
            return None
        return Packet(pkt.type, pkt.seq, body)

    async def _rx_loop(self) -> None:
        try:
            while True:
                data = await self.transport.read()
                d = self._deframer
                crc0, bad0 = d.crc_errors, d.malformed + d.oversize
                for pkt in d.feed(data):
                    self._dispatch(pkt)
                # Add the frames' counts to the packets' own (a samples packet of the wrong
                # length, a reply too short to name its request): both are malformed input.
                self.stats.crc_errors += d.crc_errors - crc0
                self.stats.malformed += d.malformed + d.oversize - bad0
        except TransportError as e:
            self._fail(e)
        except asyncio.CancelledError:
            self._fail(TransportClosed(f"{self.transport.name}: closed"))
            raise

    def _fail(self, e: TransportError) -> None:
        self.closed_reason = str(e)
        for p in self._pending.values():
            if not p.future.done():
                p.future.set_exception(TransportClosed(str(e)))
        self._samples.put_nowait(TransportClosed(str(e)))
