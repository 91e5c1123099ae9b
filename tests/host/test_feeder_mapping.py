"""The EMG feeder places each evoked response after its own pulse, also when its AFE ran dry.

The test plays the simulated garment's end of the rig port (the wire contract: ``RIG_AFE``
reports, ``RIG_PULSE``, the feeder's ``RIG_FEED``), with an AFE that converts on a script:
a host stall is the feeder getting no report while conversions go on past its input.
"""
from __future__ import annotations

import socket
import struct
import threading

import numpy as np

from garment.protocol import Deframer, encode_packet, wire
from garment.sim.feeder import EmgFeeder

FS = 2000


class RecordingSource:
    """An EMG source that records where it was asked to render each pulse's response."""

    def __init__(self, fs: int) -> None:
        self.fs = fs
        self.position = 0
        self.rendered: list[int] = []  # source samples

    def next_block(self, n: int) -> np.ndarray:
        self.position += n
        return np.zeros((n, 8), np.float32)

    def stimulate_now(self, t_s: float, channel: int, amplitude_ma: float, width_us: float) -> tuple[int, np.ndarray]:
        start = int(round(t_s * self.fs))
        self.rendered.append(start)
        return start, np.zeros((0, 8))


class ScriptedAfe:
    """The sim's end: counts the samples fed, converts on command (taking queued input,
    converting nothing past it: a dry AFE), reports and pulses as the firmware does."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self.fed = 0
        self.conv = 0
        self.consumed = 0  # input samples converted
        self.fed_cond = threading.Condition()
        self._seq = 0

    def accept(self) -> None:
        self.conn, _ = self.server.accept()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        d = Deframer()
        assert self.conn is not None
        while True:
            data = self.conn.recv(65536)
            if not data:
                return
            for pkt in d.feed(data):
                if pkt.type == wire.RIG_FEED:
                    n, _k = struct.unpack_from(wire.RIG_FEED_HDR_FMT, pkt.body)
                    with self.fed_cond:
                        self.fed += n
                        self.fed_cond.notify_all()

    def _send(self, ptype: int, body: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(encode_packet(ptype, self._seq, body))
        self._seq = (self._seq + 1) & 0xFFFF

    def convert(self, n: int) -> None:
        self.conv += n
        self.consumed = min(self.fed, self.consumed + n)

    def report(self, wait_fed: int | None = None) -> None:
        """Report as RIG_AFE does; then wait until the feeder has fed ``wait_fed`` in all."""
        with self.fed_cond:
            fed = self.fed
        self._send(wire.RIG_AFE, struct.pack(wire.RIG_AFE_FMT, FS, 8, self.conv, fed - self.consumed, fed))
        if wait_fed is not None:
            with self.fed_cond:
                assert self.fed_cond.wait_for(lambda: self.fed >= wait_fed, 5), (self.fed, wait_fed)

    def pulse(self, afe_index: int) -> None:
        self._send(wire.RIG_PULSE, struct.pack(wire.RIG_PULSE_FMT, 0, afe_index, 0, 20000, 300))


def test_a_pulse_during_a_dry_spell_is_answered_where_its_conversion_really_was() -> None:
    afe = ScriptedAfe()
    sources: list[RecordingSource] = []

    def factory(fs: int) -> RecordingSource:
        sources.append(RecordingSource(fs))
        return sources[-1]

    feeder = EmgFeeder("127.0.0.1", afe.port, factory, lead_s=0.05)  # 100 samples ahead
    t = threading.Thread(target=afe.accept)
    t.start()
    feeder.start(FS)
    t.join()
    try:
        afe.report(wait_fed=100)  # conversions 0, nothing queued: the feeder fills its lead
        afe.convert(20)
        afe.report(wait_fed=120)  # sample k is converted at k: offset 0
        afe.pulse(60)
        afe.convert(180)  # the host stalls: conversions 120..199 find no input
        afe.pulse(150)  # during the dry spell
        afe.report(wait_fed=220)  # dry
        afe.convert(10)  # input again: sample 120 was converted at 200
        afe.report(wait_fed=230)
        afe.pulse(215)
        afe.convert(10)
        afe.report(wait_fed=240)
        with feeder.pulse_cond:
            assert feeder.pulse_cond.wait_for(lambda: len(feeder.pulses) == 3, 5)
        assert feeder.error is None
        src = sources[-1]
        with feeder.progress:
            assert feeder.progress.wait_for(lambda: feeder.reports == 5, 5)
        offset_after = 80  # the mapping the dry spell left: conversion = sample + 80
        # 60: before the spell, offset 0. 150: its conversion took no input; on the mapping
        # from the end of the spell on its answer falls on samples converted already (lost,
        # as the dry conversions carried no signal), not 80 samples (40 ms) late on new
        # input. 215: after the spell.
        assert src.rendered == [60, 150 - offset_after, 215 - offset_after], src.rendered
        assert feeder.dry_reports == 2  # the first report (nothing fed yet) and the spell
    finally:
        feeder.stop()
        if afe.conn is not None:
            afe.conn.close()
        afe.server.close()
