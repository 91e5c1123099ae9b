"""Motor units screen: calibration started from the screen with the person guided, then the
units live (raster, rates, SIL) and a unit whose filter fails reported lost."""
from __future__ import annotations

import numpy as np
from textual.widgets import DataTable, RichLog, Static
from tui_fakes import FakeDiscovery
from tui_helpers import press, wait_for

from garment.motorunits.source import PhantomHDSource
from garment.tui.app import GarmentApp
from garment.tui.screens.motorunits import MotorUnitsScreen, guidance, raster_line


def test_guidance_and_raster() -> None:
    assert guidance(0.5, 2.0, 8.0).startswith("Relax")
    assert guidance(2.0, 2.0, 8.0).startswith("Slowly")
    assert guidance(5.0, 2.0, 8.0).startswith("Hold")
    assert raster_line(np.array([0, 2048, 4095]), 4096, 2048.0, 4) == "| ||"  # 0 s, 1 s and the last sample of a 2 s window


async def test_calibrate_from_the_screen_then_units_live(monkeypatch) -> None:
    orig = MotorUnitsScreen.__init__

    def small(self, source_factory=None, calibrate_seconds=5.0):  # a short baseline, a small pool
        orig(self, lambda: PhantomHDSource("isometric", 30.0, 5.0, seed=3, n_units=100), 5.0)

    monkeypatch.setattr(MotorUnitsScreen, "__init__", small)
    app = GarmentApp(discovery=FakeDiscovery(), start_mode="motorunits")
    async with app.run_test(size=(140, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, MotorUnitsScreen)
        status = screen.query_one("#mu-status", Static)
        assert "press c" in str(status.render())
        await press(pilot, "c")
        await wait_for(pilot, lambda: "Calibrating" in str(status.render()), 5, "the guided calibration")
        assert "Relax" in str(status.render())
        await wait_for(pilot, lambda: screen.state == "tracking", 180, "the calibration")
        n = screen.tracker.n_units
        assert n >= 3
        await wait_for(pilot, lambda: sum(len(t) for t in screen.trains) > 5 * n, 60, "discharges")
        table = screen.query_one("#mu-table", DataTable)
        assert table.row_count == n
        assert "|" in str(screen.query_one("#mu-raster", Static).render())
        assert "tracked" in str(status.render())
        k = int(np.argmin(screen.tracker.onset))
        screen.tracker.a[k] = 0.0  # its filter stops separating it
        screen.tracker.f[k] = 0.0
        log = screen.query_one("#mu-events", RichLog)
        await wait_for(pilot, lambda: any(f"unit {k} lost" in s.text for s in log.lines), 60, "the lost unit")
        assert table.get_row_at(k)[-1] == "lost"
    assert app.internal_errors == []
