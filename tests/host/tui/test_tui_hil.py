"""HIL screen: runs ``pytest <suite> --device <url>`` in a subprocess and shows the
results line by line with pass/fail counts (a small stand-in suite keeps this fast)."""
from __future__ import annotations

from pathlib import Path

from textual.widgets import RichLog
from tui_fakes import FakeDiscovery
from tui_helpers import logged, press, text_of, wait_for

from garment.tui.app import GarmentApp

SUITE = '''
import pytest

def test_link(device):
    assert device == "socket://127.0.0.1:9"

def test_estop_latency():
    assert 12 < 10, "e-stop took 12 ms"

@pytest.mark.skip(reason="needs the rig")
def test_rig():
    pass
'''
CONFTEST = '''
import pytest

def pytest_addoption(parser):
    parser.addoption("--device", default="sim")

@pytest.fixture
def device(request):
    return request.config.getoption("--device")
'''


async def test_hil_suite_streams_results_and_counts(tmp_path: Path) -> None:
    suite = tmp_path / "hil_tests"
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "test_fake_hil.py").write_text(SUITE)
    app = GarmentApp(discovery=FakeDiscovery(), hil_path=str(suite), start_mode="hil")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        screen.query_one("#hil-device").value = "socket://127.0.0.1:9"
        await press(pilot, "ctrl+t")
        await wait_for(pilot, lambda: screen.running, 5, "the suite to start")
        await press(pilot, "space")  # the E-STOP still answers while the suite runs
        assert logged(app, "E-STOP: no garment is connected")
        await wait_for(pilot, lambda: not screen.running and screen.returncode is not None, 60, "the suite to end")
        c = screen.counts
        assert (c.counts["PASSED"], c.counts["FAILED"], c.counts["SKIPPED"]) == (1, 1, 1)
        assert screen.returncode == 1
        lines = [strip.text for strip in screen.query_one("#hil-output", RichLog).lines]
        assert any("test_estop_latency FAILED" in x for x in lines)
        assert any("e-stop took 12 ms" in x for x in lines)
        counts = text_of(screen.query_one("#hil-counts"))
        assert "1 passed" in counts and "1 failed" in counts and "1 skipped" in counts
        assert logged(app, "HIL suite failed (exit 1): 1 passed, 1 failed", "error")
    assert app.internal_errors == []


async def test_the_real_hil_suite_runs_against_the_simulated_garment() -> None:
    from garment.tui.hil import default_hil_path

    assert default_hil_path() is not None, "run from the source checkout"
    app = GarmentApp(discovery=FakeDiscovery(), start_mode="hil")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert screen.query_one("#hil-device").value == "sim"
        screen.query_one("#hil-k").value = "test_handshake_and_version"
        await press(pilot, "ctrl+t")
        await wait_for(pilot, lambda: screen.returncode is not None and not screen.running, 120, "the HIL run")
        assert screen.returncode == 0, [s.text for s in screen.query_one("#hil-output", RichLog).lines][-20:]
        assert screen.counts.counts["PASSED"] == 1 and screen.counts.total == 1
    assert app.internal_errors == []
