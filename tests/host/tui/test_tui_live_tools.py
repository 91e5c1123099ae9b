"""Live's tools against the simulated garment: the record button, channel toggles, the
garment's filter settings, the spectrum and electrode panels."""
from __future__ import annotations

import numpy as np
from tui_helpers import connected, logged, press, text_of, wait_for

from garment.recordings import read_edf
from garment.tui.app import GarmentApp
from garment.tui.spectrum import spectra


def test_spectrum_finds_the_band_and_the_mains() -> None:
    fs = 2000
    t = np.arange(4000) / fs
    emg, hum = spectra(np.c_[np.sin(2 * np.pi * 130 * t), np.sin(2 * np.pi * 50 * t)], fs, 50).__iter__()
    assert abs(emg.median_hz - 130) < 8 and emg.band_share[1] > 0.99 and emg.mains_share < 0.01
    assert hum.mains_share > 0.9
    assert spectra(np.zeros((10, 2)), fs)[0].rms_uV == 0.0  # too short: no spectrum, no error


async def test_record_toggle_channels_and_filters(sim: object) -> None:
    app = GarmentApp(device=sim.url)  # type: ignore[attr-defined]
    async with app.run_test(size=(140, 50)) as pilot:
        session = await connected(pilot)
        screen = app.screen
        await wait_for(pilot, lambda: "med" in str(screen.query_one("#spectrum").render()), 5, "the spectrum panel")
        assert "impedance: not measured" in str(screen.query_one("#electrodes-live").render())
        # record button: r starts, r stops and saves
        await press(pilot, "r")
        await wait_for(pilot, lambda: screen.recorder is not None, 10, "the recording to start")
        path = screen.record_path
        start = session.trace.total
        await wait_for(pilot, lambda: session.trace.total - start >= 4000, 15, "2 s of samples")
        await press(pilot, "r")
        await wait_for(pilot, lambda: logged(app, f"Recording saved: {path}"), 10, "the recording to be saved")
        rec = read_edf(path)
        assert rec.n_channels == session.n_ch and rec.n_samples >= 4000
        # channel toggles
        await press(pilot, "2")
        await wait_for(pilot, lambda: not screen.query_one("#trace-1").parent.display, 5, "channel 2 hidden")
        await press(pilot, "2")
        await wait_for(pilot, lambda: screen.query_one("#trace-1").parent.display, 5, "channel 2 shown")
        # filters: n turns the garment's notch off (and back on), m switches the mains
        await press(pilot, "n")
        await wait_for(pilot, lambda: not session.config.notch, 10, "the notch off")
        assert not (await session.client.get_config()).notch
        await press(pilot, "n")
        await press(pilot, "m")
        await wait_for(pilot, lambda: session.config.notch and session.config.mains == 60, 10, "notch on at 60 Hz")
        assert (await session.client.get_config()).mains == 60
        start = session.trace.total
        await wait_for(pilot, lambda: session.trace.total - start >= 2000, 10, "the stream to go on")
        await press(pilot, "m")
        await wait_for(pilot, lambda: session.config.mains == 50, 10, "back to 50 Hz")
    assert app.internal_errors == []
