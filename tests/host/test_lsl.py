"""LSL outlets on loopback: resolve, channel metadata, exact samples and timestamps, markers.

liblsl discovers streams by multicast on every interface by default. This sandbox
(and CI) has no multicast network and must not send traffic beyond 127.0.0.1, so
before any LSL object exists this module points LSLAPICFG at a machine-local
lsl_api.cfg (ResolveScope=machine, MachineAddresses/KnownPeers={127.0.0.1}, IPv6
off) with a SessionID private to this process, which also hides streams of other
test runs on the same machine. liblsl reads its config once per process, at first
use, hence module import time. No sleeps: everything waits through pylsl timeouts.
"""
from __future__ import annotations

import os
import tempfile
import time
import uuid

from garment.streaming.lsl import EmgOutlet, MarkerOutlet, local_only_config, use_local_only_config

_CFG = use_local_only_config(tempfile.mkdtemp(prefix="garment-lsl-test-"),
                             session_id=f"garment-test-{os.getpid()}-{uuid.uuid4().hex[:8]}", force=True)

import numpy as np  # noqa: E402
import pylsl  # noqa: E402
import pytest  # noqa: E402

TIMEOUT = 10.0


def _resolve(source_id: str, stream_type: str) -> pylsl.StreamInfo:
    found = pylsl.resolve_bypred(f"source_id='{source_id}' and type='{stream_type}'", 1, TIMEOUT)
    assert len(found) == 1, f"stream {source_id}/{stream_type} not resolved within {TIMEOUT} s"
    return found[0]


def _connect(outlet: EmgOutlet | MarkerOutlet, source_id: str, stream_type: str) -> pylsl.StreamInlet:
    inlet = pylsl.StreamInlet(_resolve(source_id, stream_type), max_buflen=60, recover=False)
    inlet.open_stream(timeout=TIMEOUT)
    assert outlet.wait_for_consumers(TIMEOUT)
    return inlet


def _pull(inlet: pylsl.StreamInlet, n: int) -> tuple[np.ndarray, np.ndarray]:
    data: list = []
    stamps: list = []
    deadline = time.monotonic() + TIMEOUT
    while len(data) < n and time.monotonic() < deadline:
        d, t = inlet.pull_chunk(timeout=1.0, max_samples=n - len(data))
        data += d
        stamps += t
    assert len(data) == n, f"received {len(data)} of {n} samples"
    return np.asarray(data), np.asarray(stamps)


def _channels(info: pylsl.StreamInfo) -> list[tuple[str, str, str]]:
    out = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("unit"), ch.child_value("type")))
        ch = ch.next_sibling()
    return out


def test_config_is_machine_local() -> None:
    text = _CFG.read_text()
    assert os.environ["LSLAPICFG"] == str(_CFG)
    for line in ("ResolveScope = machine", "KnownPeers = {127.0.0.1}", "MachineAddresses = {127.0.0.1}",
                 "IPv6 = disable"):
        assert line in text
    assert "SessionID = abc" in local_only_config("abc")


def test_emg_stream_metadata_and_exact_samples() -> None:
    sid = f"garment-test-emg-{uuid.uuid4().hex}"
    with EmgOutlet("garment EMG", ["RF", "BF", "FX"], ["uV", "uV", "deg"], 2000.0, sid,
                   channel_types=["EMG", "EMG", "MISC"]) as out:
        inlet = _connect(out, sid, "EMG")
        try:
            info = inlet.info(timeout=TIMEOUT)
            assert info.type() == "EMG" and info.source_id() == sid and info.name() == "garment EMG"
            assert info.channel_count() == 3 and info.nominal_srate() == 2000.0
            assert info.channel_format() == pylsl.cf_float32
            assert _channels(info) == [("RF", "uV", "EMG"), ("BF", "uV", "EMG"), ("FX", "deg", "MISC")]
            assert info.desc().child("acquisition").child_value("manufacturer") == "garment"

            # values exactly representable in float32: must arrive bit-identical
            block1 = (np.arange(300, dtype=np.float64).reshape(100, 3) - 150.0) / 64.0
            block2 = -block1[:50]
            t0 = pylsl.local_clock()
            out.push_block(block1, timestamp=t0)
            out.push_block(block2, timestamp=t0 + 100 / 2000.0)
            data, stamps = _pull(inlet, 150)
            np.testing.assert_array_equal(data, np.vstack([block1, block2]))
            np.testing.assert_allclose(stamps, t0 + np.arange(150) / 2000.0, rtol=0, atol=1e-7)

            with pytest.raises(ValueError, match="expected"):
                out.push_block(np.zeros((4, 2)))
        finally:
            inlet.close_stream()


def test_double64_stream_is_bit_exact() -> None:
    sid = f"garment-test-emg64-{uuid.uuid4().hex}"
    with EmgOutlet("garment EMG f64", ["c1", "c2"], ["mV", "mV"], 1000.0, sid, channel_format="double64") as out:
        inlet = _connect(out, sid, "EMG")
        try:
            x = np.random.default_rng(5).normal(0, 0.05, (64, 2))
            out.push_block(x)  # timestamp: block ends now
            data, stamps = _pull(inlet, 64)
            np.testing.assert_array_equal(data, x)
            assert np.all(np.diff(stamps) > 0) and abs(stamps[-1] - pylsl.local_clock()) < 5.0
        finally:
            inlet.close_stream()


def test_markers() -> None:
    sid = f"garment-test-markers-{uuid.uuid4().hex}"
    with MarkerOutlet("garment events", sid) as out:
        inlet = _connect(out, sid, "Markers")
        try:
            info = inlet.info(timeout=TIMEOUT)
            assert info.type() == "Markers" and info.channel_format() == pylsl.cf_string
            assert info.nominal_srate() == pylsl.IRREGULAR_RATE
            t = pylsl.local_clock()
            events = ["decoder:extend 0.82", "stim:on ch=2 mA=12", "stim:off ch=2"]
            for k, e in enumerate(events):
                out.push(e, timestamp=t + k * 0.01)
            got = []
            for _ in events:
                sample, ts = inlet.pull_sample(timeout=TIMEOUT)
                assert sample is not None, "marker not received"
                got.append((sample[0], ts))
            assert [g[0] for g in got] == events
            np.testing.assert_allclose([g[1] for g in got], [t, t + 0.01, t + 0.02], atol=1e-9)
        finally:
            inlet.close_stream()


def test_motor_unit_discharges_as_markers_at_their_sample_times() -> None:
    from garment.motorunits.events import DischargeMarkers
    from garment.motorunits.tracker import BatchResult, UnitEvent

    sid = f"garment-test-mu-{uuid.uuid4().hex}"
    with MarkerOutlet("garment motor units", sid) as out:
        inlet = _connect(out, sid, "Markers")
        try:
            t0 = pylsl.local_clock()
            res = BatchResult([np.array([2048, 4096]), np.array([3072])], [UnitEvent(2.5, 1, "lost")], 0.001, 8192)
            assert DischargeMarkers(out, 2048.0, t0).push(res) == 4
            got = []
            for _ in range(4):
                sample, ts = inlet.pull_sample(timeout=TIMEOUT)
                assert sample is not None, "marker not received"
                got.append((sample[0], ts))
            assert [g[0] for g in got] == ["mu:discharge unit=0", "mu:discharge unit=1", "mu:discharge unit=0",
                                           "mu:lost unit=1"]
            np.testing.assert_allclose([g[1] for g in got], [t0 + 1.0, t0 + 1.5, t0 + 2.0, t0 + 2.5], atol=1e-9)
        finally:
            inlet.close_stream()
