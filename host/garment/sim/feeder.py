"""Feeds electrode signals into the simulated garment's AFE model through its rig port.

The AFE model keeps time (its conversions follow the wall clock at the configured
rate); the feeder keeps its input queue about ``lead_s`` ahead, using the AFE's own
reports (``RIG_AFE``: samples queued and samples received), so a rig-injected event
reaches the AFE within ``lead_s``.

A host stalled past ``lead_s`` lets the AFE's input run dry: it converts samples with no
electrode signal, and every sample fed after that is converted later than before. Until a
report shows the new mapping, a delivered pulse's evoked response waits: rendered on the old
one it would land that much after its pulse (``dry_reports`` counts such spells).
"""
from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from garment.protocol import Deframer, encode_packet, wire

N_INPUTS = 8  # the AFE has 8 electrode inputs whatever the channel count in use

# Rig messages of the stimulation rig (sim board), as the wire contract defines them.
RIG_PULSE = wire.RIG_PULSE  # sim -> rig: RIG_PULSE_FMT, one per delivered pulse
RIG_IMPEDANCE = wire.RIG_IMPEDANCE  # rig -> sim: channel u8, ohms u32
RIG_BATTERY = wire.RIG_BATTERY  # rig -> sim: battery_mv u16
RIG_ESTOP = wire.RIG_ESTOP  # rig -> sim: the board's emergency-stop button
RIG_PULSE_FMT = wire.RIG_PULSE_FMT  # t_us, afe_index, channel, amplitude_ua, width_us
RIG_IMPEDANCE_FMT = wire.RIG_IMPEDANCE_FMT
RIG_BATTERY_FMT = wire.RIG_BATTERY_FMT
#: what "at the rail" feeds: past the ADS1299's +-187.5 mV input range at gain 24
RAIL_UV = 250_000.0


@dataclass(frozen=True)
class RigPulse:
    """A pulse as the simulated stimulator delivered it (``RIG_PULSE``)."""

    t_us: int  # device clock (ticks_us, wraps at 2**30)
    afe_index: int  # AFE conversion index at that moment (since START)
    channel: int
    amplitude_ua: int
    width_us: int


class EmgSource(Protocol):
    """Anything that produces consecutive blocks of electrode signals in microvolts."""

    def next_block(self, n: int) -> np.ndarray:  # (n, 8) float, microvolts
        ...


class NoiseEmgSource:
    """A plain stand-in signal: amplitude-modulated band-limited noise per channel,
    quadriceps and hamstrings alternating over an 80 rpm pedal cycle."""

    def __init__(self, fs: int, seed: int = 0, cadence_rpm: float = 80.0) -> None:
        self.fs = fs
        self.rng = np.random.default_rng(seed)
        self.t = 0
        self.cadence_hz = cadence_rpm / 60.0
        self._prev = np.zeros(N_INPUTS)

    def next_block(self, n: int) -> np.ndarray:
        t = (self.t + np.arange(n)) / self.fs
        self.t += n
        phase = 2 * np.pi * self.cadence_hz * t
        # channel order L_RF L_VL L_BF L_ST R_RF R_VL R_BF R_ST; right leg half a cycle later
        offs = np.array([0, 0, np.pi, np.pi, np.pi, np.pi, 0, 0])
        env = 20 + 180 * np.clip(np.sin(phase[:, None] + offs[None, :]), 0, None) ** 2
        white = self.rng.standard_normal((n, N_INPUTS))
        # first difference crudely whitens towards the EMG band (removes the low end)
        x = np.diff(np.vstack([self._prev, white]), axis=0)
        self._prev = white[-1]
        return (env * x / np.sqrt(2)).astype(np.float32)


def default_source(fs: int) -> EmgSource:
    """The signal the simulated garment gets by default."""
    try:
        from garment.phantom import PhantomStream  # the biophysical phantom, when present

        # The sim's stimulator model couples the artefact into the AFE at the exact pulse
        # sample; the phantom adds the physiology: the evoked M-wave.
        return PhantomStream("cycling", fs=fs, channels=N_INPUTS, seed=0, stim_artefact=False)  # type: ignore[no-any-return]
    except ImportError:
        return NoiseEmgSource(fs)


def add_bodies(first: int, head: np.ndarray, n_inputs: int = N_INPUTS) -> list[bytes]:
    """RIG_ADD bodies that add ``head`` ((n, k) microvolts, k <= ``n_inputs``) onto the AFE's
    queued input from conversion index ``first`` on (e.g. an evoked M-wave's head)."""
    nv = np.rint(np.asarray(head, dtype=np.float64) * 1000.0)
    pad = np.zeros((len(nv), n_inputs))
    if len(nv):
        pad[:, : nv.shape[1]] = nv
    step = (wire.MAX_BODY - struct.calcsize(wire.RIG_ADD_HDR_FMT)) // (4 * n_inputs)
    out = []
    for i in range(0, len(pad), step):
        part = pad[i : i + step].astype("<i4")
        out.append(struct.pack(wire.RIG_ADD_HDR_FMT, first + i, len(part)) + part.tobytes())
    return out


def feed_bodies(block: np.ndarray) -> list[bytes]:
    """RIG_FEED bodies for ``block`` ((n, k) microvolts, k inputs), as many samples per
    packet as fit the rig's MAX_BODY (31 at 8 inputs)."""
    nv = np.clip(np.rint(np.asarray(block, dtype=np.float64) * 1000.0), -2**31, 2**31 - 1).astype("<i4")
    k = nv.shape[1]
    step = (wire.MAX_BODY - struct.calcsize(wire.RIG_FEED_HDR_FMT)) // (4 * k)
    return [struct.pack(wire.RIG_FEED_HDR_FMT, len(nv[i : i + step]), k) + nv[i : i + step].tobytes()
            for i in range(0, len(nv), step)]


class EmgFeeder:
    """A thread that keeps the simulated AFE's input queue filled from an EmgSource."""

    def __init__(
        self,
        host: str,
        port: int,
        source_factory: Callable[[int], EmgSource],
        lead_s: float = 0.05,
        n_inputs: int = N_INPUTS,
    ) -> None:
        self.addr = (host, port)
        #: electrode inputs of the AFE (8; the HD garment's daisy chain: 64), each RIG_FEED's width
        self.n_inputs = n_inputs
        #: samples per RIG_FEED packet: as many as fit the rig's MAX_BODY (31 at 8 inputs, 3 at 64)
        self._per_packet = (wire.MAX_BODY - struct.calcsize(wire.RIG_FEED_HDR_FMT)) // (4 * n_inputs)
        self.source_factory = source_factory
        self.lead_s = lead_s
        self.source: EmgSource | None = None
        self.fs = 0
        self.sent = 0
        self.fed_reported = 0
        self.queued = 0
        self.conversions = 0
        self.reports = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emg-feeder", daemon=True)
        self._sock: socket.socket | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._pending_lead_off: list[bytes] = []
        self.on_block: Callable[[int, np.ndarray], None] | None = None
        #: notified on every AFE report (tests wait on it for AFE time to pass)
        self.progress = threading.Condition()
        # HIL rig: messages to the sim, signal overrides, delivered pulses.
        self._pending_rig: list[tuple[int, bytes]] = []
        self._override: dict[int, float] = {}  # input -> constant microvolts (rail, dead)
        #: every pulse the simulated stimulator reported, in order; guarded by ``pulse_cond``
        self.pulses: list[RigPulse] = []
        self.pulse_cond = threading.Condition()
        #: called (feeder thread) for every RIG_PULSE; must not block
        self.on_pulse: Callable[[RigPulse], None] | None = None
        #: AFE conversion index minus feeder sample index (None until known); see afe_index_of()
        self.afe_offset: int | None = None
        self.offset_changes = 0  # the mapping moved (the AFE ran dry or restarted)
        #: reports that found the AFE's input queue empty: the feeder fell behind (a host
        #: stall longer than ``lead_s``) and the AFE converted samples with no electrode signal
        self.dry_reports = 0
        # The mapping holds for conversions below this (the last report's conversion count
        # plus the samples queued then); a pulse past it may fall after a dry spell, which
        # moves the mapping by its unknown length: such pulses wait for the next report.
        self._mapped_until: int | None = None
        self._deferred: list[RigPulse] = []
        #: held while the source produces a block (hooks like inject_onset take it too)
        self.source_lock = threading.Lock()
        self.produced = 0  # samples taken from the source (= ``sent`` once they are out)
        self.evoked = 0  # pulses the source rendered an evoked response for
        self.source_base = 0  # feeder sample index of the current source's first sample
        #: AFE conversions seen since this feeder started, across AFE restarts (a new
        #: configuration restarts the AFE's own count): what "AFE time passing" waits on
        self.afe_total = 0

    def start(self, fs: int = 2000) -> None:
        # Build the source before connecting: a phantom takes a moment to set up, and
        # the AFE must not run dry meanwhile.
        self.fs = fs
        self.source = self.source_factory(fs)
        self._sock = socket.create_connection(self.addr, timeout=5)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.settimeout(0.5)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def set_lead_off(self, channel: int, p: bool = True, n: bool = True) -> None:
        """Rig fault injection: an electrode of ``channel`` comes off (or back on)."""
        with self._lock:
            self._pending_lead_off.append(struct.pack(wire.RIG_LEAD_OFF_FMT, channel, int(p), int(n)))

    def send_rig(self, ptype: int, body: bytes) -> None:
        """Queue any rig message for the sim (sent from the feeder thread)."""
        with self._lock:
            self._pending_rig.append((ptype, bytes(body)))

    def set_impedance(self, channel: int, ohms: int) -> None:
        """Rig: the stimulation electrode pair of ``channel`` now measures ``ohms``."""
        self.send_rig(RIG_IMPEDANCE, struct.pack(RIG_IMPEDANCE_FMT, channel, ohms))

    def set_load(self, channel: int, series_ohm: int = 0, interface_ohm: int = 0, interface_nf: int = 0) -> None:
        """Rig: the electrode-skin load of ``channel`` in the current-source model: series
        resistance plus the interface as a parallel R-C (all 0: the nominal electrode pair)."""
        self.send_rig(wire.RIG_LOAD, struct.pack(wire.RIG_LOAD_FMT, channel, series_ohm, interface_ohm, interface_nf))

    def set_estop(self, level: int) -> None:
        """Rig: the E-stop button's level (wire.ESTOP_RELEASED / ESTOP_PRESSED / ESTOP_BROKEN)."""
        self.send_rig(RIG_ESTOP, bytes((level,)))

    def set_pass_hold(self, hold_us: int) -> None:
        """Rig: every loop pass of the sim garment is held up ``hold_us`` before its first
        sample block and again before the next, its DRDY interrupts firing meanwhile (RIG_HOLD; 0: off)."""
        self.send_rig(wire.RIG_HOLD, struct.pack(wire.RIG_HOLD_FMT, hold_us))

    def set_battery(self, mv: int) -> None:
        """Rig: the simulated battery now reads ``mv`` millivolts (RIG_BATTERY)."""
        self.send_rig(RIG_BATTERY, struct.pack(RIG_BATTERY_FMT, mv))

    def press_estop(self) -> None:
        """Rig: press the simulated garment's E-stop button (it stays held: ``set_estop``)."""
        self.set_estop(wire.ESTOP_PRESSED)

    def hold_input(self, channel: int, microvolts: float | None) -> None:
        """Feed a constant ``microvolts`` on electrode input ``channel`` from the next
        block on (``RAIL_UV``: at the rail; 0.0: a dead, flat input); None releases it."""
        with self._lock:
            if microvolts is None:
                self._override.pop(channel, None)
            else:
                self._override[channel] = float(microvolts)

    def saturate(self, channel: int, on: bool = True) -> None:
        """Drive input ``channel`` past the AFE's rail (or release it)."""
        self.hold_input(channel, RAIL_UV if on else None)

    def inject_onset(self, channel: int, level: float, delay_s: float = 0.0) -> int:
        """Step the drive of the muscle under ``channel`` to ``level`` at the first sample
        not produced yet (+ ``delay_s``); returns that feeder sample index. Needs a source
        with ``inject_onset`` (the phantom)."""
        with self.source_lock:
            src = self.source
            if src is None or not hasattr(src, "inject_onset"):
                raise RuntimeError("the feeder's EMG source has no inject_onset (not a phantom)")
            d = int(round(delay_s * self.fs))
            src.inject_onset((src.position + d) / src.fs, channel, level)  # type: ignore[attr-defined]
            return self.produced + d

    def set_drive(self, channel: int, level: float | None) -> None:
        """Hold the drive of the muscle under ``channel`` at ``level`` (0..1) from the next
        sample on; None hands it back to the source's scenario (needs a phantom source)."""
        with self.source_lock:
            src = self.source
            if src is None or not hasattr(src, "set_drive"):
                raise RuntimeError("the feeder's EMG source has no set_drive (not a phantom)")
            src.set_drive(channel, level)  # type: ignore[attr-defined]

    @property
    def muscles(self) -> list[str]:
        """The muscle type under each input (``RF``, ``VL``...; empty without a phantom)."""
        with self.source_lock:
            sites = getattr(self.source, "sites", None) or []
            return [str(getattr(s, "muscle", "")) for s in sites]

    def set_fatigue(self, level: float) -> None:
        """Every muscle's fatigue state, 0 (rested) .. 1 (needs a phantom source)."""
        with self.source_lock:
            src = self.source
            if src is None or not hasattr(src, "set_fatigue"):
                raise RuntimeError("the feeder's EMG source has no set_fatigue (not a phantom)")
            src.set_fatigue(level)  # type: ignore[attr-defined]

    def afe_index_of(self, sample: int) -> int | None:
        """The AFE conversion index that converts feeder sample ``sample`` (None until known)."""
        return None if self.afe_offset is None else sample + self.afe_offset

    def pulses_since(self, start: int = 0) -> list[RigPulse]:
        with self.pulse_cond:
            return self.pulses[start:]

    def wait_pulses(self, predicate: Callable[[list[RigPulse]], bool], timeout: float) -> bool:
        """Wait until ``predicate(all pulses so far)`` holds; False on timeout."""
        with self.pulse_cond:
            return self.pulse_cond.wait_for(lambda: predicate(self.pulses), timeout)

    def _on_pulse(self, body: bytes) -> None:
        if len(body) != struct.calcsize(RIG_PULSE_FMT):
            return
        p = RigPulse(*struct.unpack(RIG_PULSE_FMT, body))
        with self.pulse_cond:
            self.pulses.append(p)
            self.pulse_cond.notify_all()
        if self._mapped_until is not None and p.afe_index < self._mapped_until:  # set with afe_offset
            self._evoke(p)
        else:
            self._deferred.append(p)
        if self.on_pulse is not None:
            self.on_pulse(p)

    def _evoke(self, p: "RigPulse") -> None:
        # The muscle answers the garment's stimulation: the source (a phantom) renders the
        # M-wave at the feeder sample that the pulse's AFE conversion corresponds to.
        # Its head falls on samples already fed (the feeder runs ahead of the AFE): those
        # go to the AFE's input queue as a correction (RIG_ADD), before they are converted.
        src = self.source
        render = getattr(src, "stimulate_now", None)
        if render is None or self.afe_offset is None or not self.fs:
            return
        with self.source_lock:
            base = self.source_base
            sample = p.afe_index - self.afe_offset - base  # in the source's own samples
            start, head = render(sample / self.fs, p.channel, p.amplitude_ua / 1000.0, p.width_us)
        self.evoked += 1
        for body in add_bodies(start + base + self.afe_offset, head, self.n_inputs):
            self._send(wire.RIG_ADD, body)

    def _send(self, ptype: int, body: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(encode_packet(ptype, self._seq, body))
        self._seq = (self._seq + 1) & 0xFFFF

    def _run(self) -> None:
        d = Deframer()
        assert self._sock is not None
        try:
            while not self._stop.is_set():
                try:
                    data = self._sock.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                with self._lock:
                    lo, self._pending_lead_off = self._pending_lead_off, []
                    rig, self._pending_rig = self._pending_rig, []
                for body in lo:
                    self._send(wire.RIG_LEAD_OFF, body)
                for ptype, body in rig:
                    self._send(ptype, body)
                for pkt in d.feed(data):
                    if pkt.type == wire.RIG_AFE:
                        self._on_report(pkt.body)
                    elif pkt.type == RIG_PULSE:
                        self._on_pulse(pkt.body)
        except OSError as e:
            if not self._stop.is_set():
                self.error = str(e)

    def _on_report(self, body: bytes) -> None:
        fs, _nch, conv, queued, fed = struct.unpack(wire.RIG_AFE_FMT, body)
        # The next conversion takes the oldest queued sample: feeder sample fed - queued.
        offset = conv - (fed - queued) if queued else None
        if offset is not None and offset != self.afe_offset:
            if self.afe_offset is not None:
                self.offset_changes += 1
            self.afe_offset = offset
        if offset is None:
            self.dry_reports += 1
            self._mapped_until = None
        else:
            self._mapped_until = conv + queued
            # Pulses reported while the mapping was in doubt: this mapping holds from the
            # end of any dry spell on, which is where their responses can still be heard.
            deferred, self._deferred = self._deferred, []
            for p in deferred:
                self._evoke(p)
        with self.progress:
            self.reports += 1
            step = conv - self.conversions
            self.afe_total += step if step >= 0 else conv  # a smaller count: the AFE restarted
            self.conversions, self.queued, self.fed_reported = conv, queued, fed
            self.progress.notify_all()
        if fs != self.fs or self.source is None:
            self.fs = fs
            with self.source_lock:
                self.source = self.source_factory(fs)
                self.source_base = self.produced  # the new source's sample 0, in feeder samples
        in_flight = (self.sent - fed) % wire.COUNTER_MOD  # both count since this connection
        want = int(self.lead_s * fs) - queued - in_flight
        while want > 0:
            n = min(want, self._per_packet)  # 31 x 8 x 4 B + 3 fits MAX_BODY
            with self.source_lock:
                block = self.source.next_block(n)
                self.produced += n
            if self._override:
                block = np.array(block, dtype=np.float32)
                with self._lock:
                    for ch, uv in self._override.items():
                        block[:, ch] = uv
            nv = np.clip(np.rint(np.asarray(block, dtype=np.float64) * 1000.0), -2**31, 2**31 - 1).astype("<i4")
            if self.on_block is not None:
                self.on_block(self.sent, block)
            self._send(wire.RIG_FEED, struct.pack(wire.RIG_FEED_HDR_FMT, n, self.n_inputs) + nv.tobytes())
            self.sent += n
            want -= n
