"""The companion's logic without an interface: traces, calibration, ramp, training
windows, HIL output parsing, settings, discovery, error lines."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from garment.client import DeviceError, DeviceTimeout, SampleBlock
from garment.protocol import wire
from garment.transports import TransportClosed
from garment.tui import config
from garment.tui.calibration import (
    ChannelThresholds,
    Ramp,
    StimSettings,
    electrode_verdict,
    muscle_name,
    mvc_level,
    rest_baseline,
    train_ms,
)
from garment.tui.discovery import ble_entry
from garment.tui.errors import describe
from garment.tui.hil import HilCounts, k_expression
from garment.tui.session import EventLog, TraceBuffer
from garment.tui.training import Prompt, confusion_matrix, parse_labels, window_labels
from garment.tui.widgets.traces import BRAILLE, block_row, braille_band, column_stats, nice_scale


def test_trace_buffer_keeps_the_newest_samples_in_order() -> None:
    tb = TraceBuffer(2, fs=10, seconds=1.0)  # 10 samples
    tb.push(np.arange(14, dtype=np.float32).reshape(7, 2))
    tb.push(np.arange(14, 26, dtype=np.float32).reshape(6, 2))
    x = tb.latest()
    assert x.shape == (10, 2) and tb.total == 13
    assert x[:, 0].tolist() == [6, 8, 10, 12, 14, 16, 18, 20, 22, 24]
    assert tb.rms(0.2)[1] == pytest.approx(np.sqrt((23**2 + 25**2) / 2))


def test_braille_band_draws_min_max_per_dot_column() -> None:
    lo = np.array([-1.0, 0.9, -1.0, -0.1])
    hi = np.array([1.0, 1.0, -0.9, 0.1])
    rows = braille_band(lo, hi, scale=1.0, rows=1)
    assert len(rows) == 1 and len(rows[0]) == 2
    a, b = (ord(c) - BRAILLE for c in rows[0])
    assert a == 0x01 | 0x02 | 0x04 | 0x40 | 0x08  # full left column, top dot of the right one
    assert b == 0x40 | 0x10 | 0x20  # bottom-left dot; the middle two dots on the right


def test_column_stats_decimates_without_losing_a_spike() -> None:
    x = np.zeros(1000, dtype=np.float32)
    x[537] = 250.0
    lo, hi, rms = column_stats(x, 50)
    assert len(hi) == 50 and hi.max() == 250.0 and int(np.argmax(hi)) == 537 // 20
    assert block_row(np.array([0.0, 5.0, 10.0]), 10.0) == " ▄█"
    assert nice_scale(230) == 300 and nice_scale(0.2, floor=5) == 5 and nice_scale(1000) == 1000


def test_calibration_arithmetic() -> None:
    fs = 1000
    rng = np.random.default_rng(1)
    rest = rng.normal(0, 5.0, (2000, 2))
    b = rest_baseline(rest, fs)
    assert b[0].rms_uV == pytest.approx(5.0, rel=0.1) and b[0].p95_uV > b[0].rms_uV
    burst = np.concatenate([rng.normal(0, 5, 500), rng.normal(0, 200, 300), rng.normal(0, 5, 500)])
    assert mvc_level(burst, fs) == pytest.approx(200, rel=0.15)
    with pytest.raises(ValueError):
        rest_baseline(np.zeros((0, 2)), fs)
    assert muscle_name("R_BF") == "right biceps femoris" and muscle_name("EMG3") == "EMG3"
    assert electrode_verdict(True, 1.0).startswith("OFF") and electrode_verdict(False, 3.0) == "OK"
    cal = ChannelThresholds(3000, 9000, None).calibration(2, StimSettings(ceiling_ua=12000))
    assert (cal.channel, cal.sensory_ua, cal.motor_ua, cal.max_ua) == (2, 3000, 9000, 12000)  # 1.5x, capped
    with pytest.raises(ValueError, match="both"):
        ChannelThresholds(3000, None).calibration(0, StimSettings())
    assert train_ms(10000, 20000, 1.0) == 1500 and train_ms(10**9, 1, 1.0) == 60000


async def test_ramp_rises_until_contraction_and_records_thresholds() -> None:
    sent: list[tuple[int, int]] = []
    ramp: Ramp

    async def send(amp: int, ms: int) -> None:
        sent.append((amp, ms))
        if amp == 2000:
            ramp.felt()
        if amp == 3000:
            ramp.contraction()

    ramp = Ramp(StimSettings(start_ua=1000, step_ua=500, ceiling_ua=10000, step_s=0.01), send,
                train_ms=lambda amp: 5)
    res = await asyncio.wait_for(ramp.run(), 5)
    assert [a for a, _ in sent] == [1000, 1500, 2000, 2500, 3000]
    assert (res.reason, res.sensory_ua, res.motor_ua) == ("motor", 2000, 3000)


async def test_ramp_stops_at_its_ceiling_and_on_request() -> None:
    async def send(amp: int, ms: int) -> None:
        pass

    r = Ramp(StimSettings(start_ua=1000, step_ua=1000, ceiling_ua=3000, step_s=0.01), send, train_ms=lambda a: 1)
    res = await asyncio.wait_for(r.run(), 5)
    assert (res.reason, res.last_ua, res.motor_ua) == ("ceiling", 3000, None)

    r2: Ramp

    async def send2(amp: int, ms: int) -> None:
        r2.stop()

    r2 = Ramp(StimSettings(step_s=10), send2)  # the stop must not wait for the step
    res = await asyncio.wait_for(r2.run(), 2)
    assert (res.reason, res.last_ua) == ("stopped", 1000)
    with pytest.raises(ValueError):
        StimSettings(start_ua=5000, ceiling_ua=1000).check()


def test_training_windows_lie_inside_prompts() -> None:
    fs, window, inc = 1000, 200, 50
    prompts = [Prompt("flex", 0, 1.0, 1.0), Prompt("rest", 1, 3.0, 1.0)]
    idx, labels, groups = window_labels(5000, fs, window, inc, prompts, settle_s=0.3)
    ends = np.arange(window - 1, 5000, inc)[idx]
    starts = ends - window + 1
    flex = np.array(labels) == "flex"
    assert flex.any() and (~flex).any()
    assert (starts[flex] >= 1300).all() and (ends[flex] < 2000).all()
    assert set(groups[flex].tolist()) == {0} and set(groups[~flex].tolist()) == {1}
    assert parse_labels("rest, extend;flex,,") == ["rest", "extend", "flex"]
    m = confusion_matrix(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert m.tolist() == [[1, 1], [0, 1]]


def test_hil_counts_follow_pytest_verbose_output() -> None:
    c = HilCounts()
    lines = [
        "hil_tests/test_link.py::test_ping PASSED",
        "hil_tests/test_link.py::test_loss FAILED",
        "hil_tests/test_rig.py::test_lead_off SKIPPED (needs the HIL rig)",
        "hil_tests/test_link.py::test_ping ERROR",  # teardown error after a pass
        "=========== 1 failed, 1 passed, 1 skipped, 1 error in 3.21s ===========",
    ]
    got = [c.feed(x) for x in lines]
    assert got[:3] == ["PASSED", "FAILED", "SKIPPED"]
    assert c.counts["PASSED"] == 0 and c.counts["ERROR"] == 1 and c.counts["FAILED"] == 1
    assert not c.ok and "1 failed" in c.final
    assert k_expression("link, estop") == "link or estop"


def test_settings_and_profiles_live_in_the_user_folders(user_dirs: object) -> None:
    assert config.last_device() is None
    config.remember_device("serial:/dev/ttyACM0")
    assert config.last_device() == "serial:/dev/ttyACM0"
    assert str(config.settings_path()).startswith(str(user_dirs))
    p = config.save_profile("Ann B/../x", {"emg": {"mvc_uV": {"L_RF": 300.0}}})
    assert p.parent == config.profiles_dir() and p.name == "Ann_B_.._x.json"
    assert json.loads(p.read_text())["emg"]["mvc_uV"]["L_RF"] == 300.0


def test_ble_scan_results_of_any_shape_become_entries() -> None:
    class Dev:
        address, name, rssi = "AA:BB", "garment-1", -60

    assert ble_entry(Dev()).spec == "ble:AA:BB" and "RSSI -60" in ble_entry(Dev()).detail
    assert ble_entry(("CC:DD", "g2")).spec == "ble:CC:DD"
    assert ble_entry("ble:EE:FF").spec == "ble:EE:FF"


def test_errors_are_one_readable_line() -> None:
    e = describe(DeviceError(wire.E_UNKNOWN_TYPE, "unknown request type 0x24"), "E-STOP")
    assert e.startswith("E-STOP: the garment's firmware does not implement") and "\n" not in e
    assert "no reply" in describe(DeviceTimeout("x: no reply\nwithin 2 s"))
    assert "link to the garment lost" in describe(TransportClosed("closed"))
    assert describe(FileNotFoundError(2, "No such file", "/x.gmdl")) == "file not found: /x.gmdl"


def test_event_log_since() -> None:
    log = EventLog(maxlen=3)
    for i in range(5):
        log.add("host", "info", str(i))
    assert [e.text for e in log.since(3)] == ["3", "4"]
    assert [e.text for e in log.since(0)] == ["2", "3", "4"]  # older ones are gone
    assert log.since(5) == []


def test_sample_block_to_trace_in_microvolts() -> None:
    from tui_fakes import FakeClient, snapshot_session

    s = snapshot_session(FakeClient())
    before = s.trace.total
    s.ingest_block(SampleBlock(0, np.full((10, 8), 1000, dtype=np.int32), wire.STREAM_FILTERED))
    assert s.trace.total == before + 10
    assert s.trace.latest()[-1, 0] == pytest.approx(1000 * 22351742 / 1e9, rel=1e-6)
