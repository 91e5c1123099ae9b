"""Snapshot tests (pytest-textual-snapshot): every screen rendered from deterministic
data (phantom EMG of a fixed seed, a fake client, a frozen clock, fixed results).

Update after an intended change of the look: ``pytest tests/host/tui/test_tui_snapshots.py
--snapshot-update`` and review the SVGs in ``__snapshots__/`` (the report names them).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tui_fakes import FakeClient, FakeDiscovery, snapshot_session
from tui_helpers import wait_for

from garment.client import StimState
from garment.tui.app import GarmentApp
from garment.tui.session import LogEntry
from garment.tui.training import TrainResult

SIZE = (120, 40)


def app_with(mode: str, client: FakeClient | None = None, stimulating: bool = True) -> GarmentApp:
    return GarmentApp(session=snapshot_session(client, stimulating), discovery=FakeDiscovery(), start_mode=mode)


def steady_cursors(pilot: Any) -> None:
    """A focused input's cursor blinks every 0.5 s: hold it still so the picture is one."""
    from textual.widgets import Input

    for inp in pilot.app.screen.query(Input):
        inp.cursor_blink = False


async def painted(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: getattr(app.screen, "frames", 10) >= 10, 10, "painted frames")
    await pilot.pause(0.2)


def test_connect_screen(snap_compare: Any) -> None:
    assert snap_compare(GarmentApp(discovery=FakeDiscovery(last="sim")), terminal_size=SIZE)


def test_live_screen(snap_compare: Any) -> None:
    assert snap_compare(app_with("live"), terminal_size=SIZE, run_before=painted)


def test_live_screen_estop_latched(snap_compare: Any) -> None:
    client = FakeClient(stim=StimState("fault", "estop", 0, 0, (0,) * 8))
    assert snap_compare(app_with("live", client), terminal_size=SIZE, run_before=painted)


def test_calibrate_screen(snap_compare: Any) -> None:
    async def ready(pilot: Any) -> None:
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.query_one("#electrodes").row_count == 8, 10, "the electrode table")
        await pilot.pause(0.2)

    assert snap_compare(app_with("calibrate", stimulating=False), terminal_size=SIZE, run_before=ready)


def test_train_results(snap_compare: Any) -> None:
    result = TrainResult(
        labels=["extend", "flex", "rest"], n_windows=270, n_groups=5, cv_float=0.912, cv_int8=0.907,
        cv_agreement=0.994, float_acc=0.95, int8_acc=0.948, agreement=0.996,
        confusion=np.array([[82, 5, 3], [4, 80, 6], [2, 4, 84]]), model_bytes=1234, seconds=0.8,
        summary="lda classification: 5-fold group CV over 5 groups",
        model_path=Path("/home/user/.local/share/garment/models/decoder-20250101-120000.gmdl"),
    )

    async def show(pilot: Any) -> None:
        screen = pilot.app.screen
        screen.show_result(result)
        screen.query_one("#train-prompt").update("Done: int8 accuracy 90.7% (cross-validated)")
        screen.query_one("#train-progress").update(total=100, progress=100)
        await pilot.pause(0.2)

    assert snap_compare(app_with("train", stimulating=False), terminal_size=SIZE, run_before=show)


def test_hil_screen(snap_compare: Any) -> None:
    lines = [
        "hil_tests/test_link.py::test_handshake_and_version PASSED",
        "hil_tests/test_link.py::test_config_round_trip[2000-8] PASSED",
        "hil_tests/test_safety.py::test_estop_latency FAILED",
        "hil_tests/test_rig.py::test_lead_off SKIPPED (needs the HIL rig)",
        "========== 1 failed, 2 passed, 1 skipped in 12.34s ==========",
    ]

    async def feed(pilot: Any) -> None:
        from rich.text import Text

        from garment.tui.screens.hil import OUTCOME_STYLE

        screen = pilot.app.screen
        log = screen.query_one("#hil-output")
        for line in lines:
            outcome = screen.counts.feed(line)
            log.write(Text(line, style=OUTCOME_STYLE.get(outcome or "", "")))
        screen.returncode = 1
        screen.show_counts()
        steady_cursors(pilot)
        await pilot.pause(0.2)

    assert snap_compare(app_with("hil", stimulating=False), terminal_size=SIZE, run_before=feed)


def test_log_screen(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from garment.tui.screens.log import LogScreen

    monkeypatch.setattr(LogScreen, "SHOW_CLOCK", False)
    app = app_with("log", stimulating=False)
    log = app.event_log
    log.entries.clear()
    t = time.time()
    for source, level, text in [
        ("link", "info", "connected to simulated garment sim-snapshot (socket://127.0.0.1:7300)"),
        ("garment", "info", "[    0.201 s] stream start (event 1)"),
        ("stim", "info", "stimulation armed"),
        ("stim", "warning", "E-STOP sent"),
        ("stim", "error", "stimulation fault, fault estop"),
        ("garment", "warning", "EMG electrode off: R_BF"),
        ("host", "error", "Upload: the garment refused the model (model: upload CRC mismatch)"),
    ]:
        log.entries.append(LogEntry(t, source, level, text))
    log.serial = len(log.entries)
    assert snap_compare(app, terminal_size=SIZE, run_before=lambda pilot: pilot.pause(0.3))
