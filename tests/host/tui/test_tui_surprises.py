"""A companion app that never surprises: the E-STOP is the mouse's and the space bar's,
never Tab's; Enter does the shown step; no screen key is lost to a text input; the
garment's refusals reach the person in their words with the key that fixes them; over BLE
the reset says how to provision when it cannot work."""
from __future__ import annotations

from typing import Any

import pytest
from textual.binding import Binding
from textual.widgets import Button, DataTable, Input, OptionList, Select
from tui_fakes import FakeClient, FakeDiscovery, snapshot_session
from tui_helpers import logged, press, text_of, wait_for

from garment.client import DeviceError, StimState
from garment.protocol import wire
from garment.tui.app import SCREEN_CLASSES, GarmentApp
from garment.tui.errors import describe
from garment.tui.widgets.estop import EStopBar


def _keys(bindings: Any) -> set[str]:
    out: set[str] = set()
    for b in bindings:
        key = b.key if isinstance(b, Binding) else b[0]
        out.update(k.strip() for k in key.split(","))
    return out


def _screen_classes() -> list[type]:
    import importlib

    classes = []
    for name in SCREEN_CLASSES:
        module, _, cls = SCREEN_CLASSES[name].partition(":")
        classes.append(getattr(importlib.import_module(module), cls))
    return classes


def test_no_screen_key_is_lost_to_a_focused_widget() -> None:
    """A screen's key that a text input, table, list or select also binds must be a
    priority binding, or it does nothing while that widget has the focus (Ctrl+U in an
    Input clears it instead of uploading). Printable keys are exempt: in an input they type."""
    widget_keys = {w.__name__: _keys(w.BINDINGS) for w in (Input, DataTable, OptionList, Select, Button)}
    lost = []
    for screen in _screen_classes():
        for b in screen.BINDINGS:
            for key in _keys([b]):
                if len(key) == 1 or b.priority:
                    continue
                for widget, keys in widget_keys.items():
                    if key in keys:
                        lost.append(f"{screen.__name__}: {key} ({b.action}) is also {widget}'s")
    assert not lost, lost


async def test_tab_never_reaches_the_estop_but_the_mouse_does() -> None:
    app = GarmentApp(discovery=FakeDiscovery())
    async with app.run_test(size=(120, 40)) as pilot:
        for mode in ("connect", "calibrate", "upload", "train"):
            app.switch_mode(mode)
            await pilot.pause()
            seen = set()
            for _ in range(40):
                await press(pilot, "tab")
                f = app.focused
                seen.add(f.id if f is not None else None)
            assert "estop-button" not in seen, (mode, seen)
            assert len(seen) > 1  # Tab does move the focus on this screen
        await pilot.click("#estop-button")
        await wait_for(pilot, lambda: logged(app, "E-STOP: no garment is connected, nothing was sent"), 5,
                       "the mouse's E-STOP")


async def test_enter_does_the_calibrate_steps_primary_action() -> None:
    app = GarmentApp(discovery=FakeDiscovery(), start_mode="calibrate")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        done: list[str] = []
        screen.start_rest = lambda: done.append("rest")  # type: ignore[method-assign]
        screen.start_mvc = lambda: done.append("mvc")  # type: ignore[method-assign]
        screen.query_one("#cal-steps", OptionList).focus()
        await press(pilot, "enter")  # step 1: on to the rest baseline
        await wait_for(pilot, lambda: screen.query_one("#cal-panels").current == "step-rest", 5, "step 2")
        screen.query_one("#cal-steps", OptionList).focus()
        await press(pilot, "enter")
        await wait_for(pilot, lambda: done == ["rest"], 5, "Enter to record the rest")
        screen.show_step("step-mvc")
        screen.query_one("#mvc-table", DataTable).focus()
        await press(pilot, "enter")
        await wait_for(pilot, lambda: done == ["rest", "mvc"], 5, "Enter to record the MVC")
        # in a text input Enter stays the input's: nothing starts
        screen.show_step("step-stim")
        started: list[str] = []
        screen.start_ramp = lambda: started.append("ramp")  # type: ignore[method-assign]
        screen.query_one("#stim-width", Input).focus()
        await wait_for(pilot, lambda: app.focused is screen.query_one("#stim-width", Input), 5, "the input's focus")
        await press(pilot, "enter")
        await pilot.pause()
        assert started == []


async def test_ctrl_u_in_the_path_input_uploads() -> None:
    app = GarmentApp(discovery=FakeDiscovery(), start_mode="upload")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        asked: list[str] = []
        screen.action_upload = lambda: asked.append("upload")  # type: ignore[method-assign]
        box = next(iter(screen.query(Input)))
        box.focus()
        box.value = "/tmp/m.gmdl"
        await wait_for(pilot, lambda: app.focused is box, 5, "the input's focus")
        await press(pilot, "ctrl+u")
        await wait_for(pilot, lambda: asked == ["upload"], 5, "Ctrl+U to upload")
        assert box.value == "/tmp/m.gmdl"  # not cleared by the Input's own Ctrl+U


@pytest.mark.parametrize("code,message,said", [
    (wire.E_BAD_STATE, "fault 'estop' latched: send T_FAULT_RESET first", "press Ctrl+R to reset it"),
    (wire.E_BAD_STATE, "no channel is calibrated: send T_CALIB_SET first", "F3 Calibrate"),
    (wire.E_BAD_STATE, "not armed (state calibrated): send T_ARM first", "Ctrl+A"),
    (wire.E_OUT_OF_RANGE, "amplitude_ua=80000 outside 0..50000 (limits.max_ua)",
     "amplitude 80 mA outside 0..50 mA (the garment's limit)"),
])
def test_refusals_in_the_users_words(code: int, message: str, said: str) -> None:
    text = describe(DeviceError(code, message), "Arm")
    assert said in text and "T_" not in text and "_ua" not in text and "\n" not in text, text


async def test_over_ble_without_a_key_the_bar_says_how_to_provision(user_dirs: Any) -> None:
    client = FakeClient()
    client.last_stim_state = StimState("fault", "estop", 0, 0, (0,) * 8)
    session = snapshot_session(client, stimulating=False)
    session.spec = "ble:C4:DE:E2:12:34:56"
    app = GarmentApp(session=session, discovery=FakeDiscovery())
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: "LATCHED" in text_of(app.screen.query_one(EStopBar).query_one("#estop-state")),
                       5, "the latched bar")
        bar = " ".join(text_of(app.screen.query_one(EStopBar).query_one("#estop-state")).split())
        assert "Ctrl+R cannot reset it over BLE yet" in bar and "by USB" in bar, bar
        await press(pilot, "ctrl+r")
        await wait_for(pilot, lambda: logged(app, "Reset E-stop: this computer holds no key"), 5, "the hint")
        assert app.screen.__class__.__name__ != "ConfirmScreen"
        session.spec = "sim"  # wired: Ctrl+R asks to confirm the reset as always
        await press(pilot, "ctrl+r")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen", 5, "the reset dialog")


def test_a_decoder_at_chance_says_why_and_what_to_check() -> None:
    import numpy as np

    from garment.tui.screens.train import chance_warning
    from garment.tui.training import TrainResult

    def result(acc: float, n: int) -> TrainResult:
        return TrainResult([f"c{i}" for i in range(n)], 100, 3, acc, acc, 1.0, acc, acc, 1.0, np.eye(n), 100, 0.1)

    why = chance_warning(result(0.36, 3))
    assert why is not None and "close to chance (33.3% for 3 classes)" in why and "Ctrl+T" in why
    assert chance_warning(result(0.95, 3)) is None
