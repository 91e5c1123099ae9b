"""Runs the simulated garment on virtual time, in lockstep with a host model of the body.

The rig port drives the garment's clock (``RIG_RUN``, firmware ``sim/rig_clock.py``): this
driver feeds the AFE's input for the next stretch plus a lead, lets the garment's clock run
that stretch, and gets every pulse the garment delivered meanwhile (``RIG_PULSE``) before
the run's answer (``RIG_RAN``). A run stops after any pass that delivered a pulse, so the
body answers it (the muscle's M-wave, ``RIG_ADD``) before the AFE converts those samples.
Nothing waits for the wall clock: a ride is deterministic and takes as long as the host and
the firmware need to compute it. Without the rig (socket closed, or nothing from the host
on the rig or the link for ``wire.RIG_CLOCK_GUARD_MS`` of wall time: a hung host) the
garment's clock follows the wall clock again, and the firmware says so on its console
(:data:`HANDBACK_LINE`). So a host must never be that long silent while it holds the
clock: slow one-time work (imports, building a model) comes before :meth:`LockstepRig.connect`.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Callable

from garment.protocol import Deframer, encode_packet, wire

from .feeder import RIG_PULSE, EmgSource, RigPulse, add_bodies, feed_bodies


#: the firmware's console line when a host silent for ``wire.RIG_CLOCK_GUARD_MS`` of wall
#: time had the garment's clock handed back to the wall clock (sim/rig_clock.py): from
#: there the run is no longer lockstep, nor deterministic
HANDBACK_LINE = "rig clock: the host was silent for"

#: input samples the AFE model queues (sim/ads1299_model.py's default capacity) less the
#: room the rig port wants before it reads more: a lead past it would stall the rig
AFE_INPUT_ROOM = 4096 - 256 - 512


@dataclass(frozen=True)
class Ran:
    """The garment's answer to one run (``RIG_RAN``)."""

    ran_us: int  # how far its clock moved during the run
    ticks_us: int
    conversions: int  # AFE conversions since its last START
    queued: int  # input samples waiting in the AFE model
    fed: int  # input samples received since this rig connected
    fs: int


class LockstepRig:
    """The simulated garment's rig port, driven synchronously (one thread).

    ``source_factory(fs)`` gives the EMG source once :meth:`start_source` is called (after
    the stream is configured); a source with ``stimulate_now`` answers delivered pulses.
    ``on_pulse`` sees every pulse after the source has rendered its response.
    """

    def __init__(self, port: int, source_factory: Callable[[int], EmgSource], lead_s: float = 0.1,
                 host: str = "127.0.0.1", timeout_s: float = 30.0) -> None:
        self.addr = (host, port)
        self.source_factory = source_factory
        self.lead_s = lead_s
        self.timeout_s = timeout_s
        self.source: EmgSource | None = None
        self.source_base = 0  # fed-sample index of the source's sample 0
        self.sent = 0  # samples sent since this connection
        self.elapsed_us = 0  # garment time this driver has run
        self.last: Ran | None = None
        self.pulses = 0
        self.runs = 0
        #: the AFE-to-fed-sample mapping moved (the AFE ran dry, or restarted): 0 in a ride
        self.offset_changes = 0
        self._offset: int | None = None
        self.on_pulse: Callable[[RigPulse], None] | None = None
        self._sock: socket.socket | None = None
        self._seq = 0
        self._out = bytearray()
        self._deframer = Deframer()
        self._fs = 0

    # ---- connection -----------------------------------------------------------------
    def connect(self) -> Ran:
        """Connect and put the garment's clock on virtual time (a run of 0 us)."""
        self._sock = socket.create_connection(self.addr, timeout=self.timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.run(0)

    def close(self) -> None:
        """Leave the garment's clock (it follows the wall clock again)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def seconds(self) -> float:
        """Garment time this driver has run, in seconds (a clock for the host side)."""
        return self.elapsed_us / 1e6

    # ---- signals ----------------------------------------------------------------------
    def start_source(self) -> None:
        """Make the EMG source for the AFE's present rate (call once the stream is set up)."""
        r = self.last
        if r is None or not r.fs:
            raise RuntimeError("the AFE reported no sampling rate yet (connect and configure first)")
        if self.lead_s * r.fs > AFE_INPUT_ROOM:
            raise ValueError(f"a lead of {self.lead_s} s at {r.fs} Hz does not fit the AFE model's input queue "
                             f"({AFE_INPUT_ROOM} samples)")
        self._fs = r.fs
        self.source = self.source_factory(r.fs)
        self.source_base = self.sent

    def _available(self) -> int:
        """Input samples the AFE will have once everything sent has arrived."""
        r = self.last
        assert r is not None
        return r.queued + (self.sent - r.fed) % wire.COUNTER_MOD

    def _feed_for(self, us: int) -> None:
        if self.source is None:
            return
        want = int(round((us / 1e6 + self.lead_s) * self._fs)) - self._available()
        if want > 0:
            block = self.source.next_block(want)
            for body in feed_bodies(block):
                self._send(wire.RIG_FEED, body)
            self.sent += want

    def send(self, ptype: int, body: bytes) -> None:
        """Any rig message; it reaches the garment before the next run's time passes."""
        self._send(ptype, body)

    # ---- time -------------------------------------------------------------------------
    def run(self, us: int, stop_at_pulse: bool = True) -> Ran:
        """Let the garment's clock run ``us`` microseconds (feeding its AFE ahead first),
        answering every delivered pulse on the way; the last run's answer."""
        left = int(us)
        while True:
            self._feed_for(max(left, 0))
            self._send(wire.RIG_RUN, struct.pack(wire.RIG_RUN_FMT, max(left, 0), wire.RUN_STOP_AT_PULSE if stop_at_pulse else 0))
            self._flush()
            r = self._until_ran()
            self.runs += 1
            # garment time of the run only: what the firmware slept while it answered a
            # request is in that reply's own clock (the host re-anchors on it)
            self.elapsed_us += r.ran_us
            left -= r.ran_us
            if left <= 0:
                return r

    def _until_ran(self) -> Ran:
        assert self._sock is not None
        while True:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("the simulated garment closed its rig port")
            ran = None
            for pkt in self._deframer.feed(data):
                if pkt.type == RIG_PULSE:
                    self._pulse(RigPulse(*struct.unpack(wire.RIG_PULSE_FMT, pkt.body)))
                elif pkt.type == wire.RIG_RAN:
                    ran = Ran(*struct.unpack(wire.RIG_RAN_FMT, pkt.body))
                    self.last = ran
                    if ran.queued:
                        off = ran.conversions - (ran.fed - ran.queued)
                        if self._offset is not None and off != self._offset and self.source is not None:
                            self.offset_changes += 1
                        self._offset = off
            if ran is not None:
                return ran

    def _pulse(self, p: RigPulse) -> None:
        self.pulses += 1
        src, r = self.source, self.last
        render = getattr(src, "stimulate_now", None)
        if render is not None and r is not None and self._fs:
            # AFE index -> fed sample: the next conversion takes the oldest queued sample
            offset = r.conversions - (r.fed - r.queued)
            sample = p.afe_index - offset - self.source_base
            start, head = render(sample / self._fs, p.channel, p.amplitude_ua / 1000.0, p.width_us)
            for body in add_bodies(start + self.source_base + offset, head):
                self._send(wire.RIG_ADD, body)
        if self.on_pulse is not None:
            self.on_pulse(p)

    def _send(self, ptype: int, body: bytes) -> None:
        """Queue one packet; the run's RIG_RUN sends everything queued in one write."""
        self._out += encode_packet(ptype, self._seq, body)
        self._seq = (self._seq + 1) & 0xFFFF

    def _flush(self) -> None:
        assert self._sock is not None
        if self._out:
            self._sock.sendall(self._out)
            self._out = bytearray()
