"""Calibrate: electrode check, rest baseline, MVC per muscle, stimulation thresholds by a
slow ramp that the person stops with a key, then save to the garment and the profile."""
from __future__ import annotations

import asyncio
from typing import Iterable

from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, DataTable, Input, Label, OptionList, ProgressBar, Select, Static
from textual.widgets.option_list import Option

from garment.tui import config
from garment.tui.calibration import (
    CalibrationResults,
    ChannelThresholds,
    Ramp,
    RampResult,
    StimSettings,
    train_ms,
    default_max,
    electrode_verdict,
    muscle_name,
    mvc_level,
    rest_baseline,
)
from garment.tui.screens.base import GarmentScreen
from garment.tui.widgets.inputs import SafeInput

STEPS = (
    ("step-electrodes", "1 Electrodes"),
    ("step-rest", "2 Rest baseline"),
    ("step-mvc", "3 MVC per muscle"),
    ("step-stim", "4 Stim thresholds"),
    ("step-save", "5 Save"),
)
N_STIM = 8


class RampDisplay(Static, can_focus=True):
    """The ramp's present amplitude; holds the focus while ramping so f/c/Esc reach the screen."""


async def countdown(prompt: Static, text: str, seconds: int) -> None:
    for i in range(seconds, 0, -1):
        prompt.update(f"{text}\nstarting in {i}")
        await asyncio.sleep(1.0)


class CalibrateScreen(GarmentScreen):
    MODE = "calibrate"
    BINDINGS = [
        Binding("f", "felt", "Felt it (sensory)"),
        Binding("c", "contraction", "Contraction (motor)"),
        Binding("escape", "stop_ramp", "Stop ramp"),
        Binding("ctrl+n", "next_step", "Next step", priority=True),
        # Enter does the shown step's primary action wherever the focus is (the step list,
        # a table), except where Enter has its own meaning: a button, an input, a select
        Binding("enter", "primary", "Do this step", priority=True),
    ]
    #: each step's primary action: the button that Enter presses
    PRIMARY = {"step-electrodes": "to-rest", "step-rest": "rest-start", "step-mvc": "mvc-start",
               "step-stim": "ramp-start", "step-save": "save"}

    def __init__(self) -> None:
        super().__init__()
        self.results: CalibrationResults | None = None
        self.done: set[str] = set()
        self.ramp: Ramp | None = None
        self.busy = False
        self._session_seen: object = None

    # ---- layout ----------------------------------------------------------------------
    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="cal-body"):
            yield OptionList(*[Option(title, id=sid) for sid, title in STEPS], id="cal-steps")
            with ContentSwitcher(id="cal-panels", initial="step-electrodes"):
                with VerticalScroll(id="step-electrodes"):
                    yield Static("1. Electrode check", classes="screen-title")
                    yield Static("Contact of every EMG electrode (the AFE's lead-off detection) and its noise "
                                 "right now. Ask the person to relax.", classes="hint")
                    yield DataTable(id="electrodes", cursor_type="none", zebra_stripes=True)
                    with Horizontal(classes="buttons"):
                        yield Button("Next: rest baseline (Ctrl+N)", id="to-rest", variant="primary")
                with VerticalScroll(id="step-rest"):
                    yield Static("2. Rest baseline", classes="screen-title")
                    yield Static("", id="rest-hint", classes="hint")
                    yield Static("Press Enter (or the button) when the person is relaxed.", id="rest-prompt",
                                 classes="big-prompt")
                    yield ProgressBar(id="rest-progress", total=100, show_eta=False)
                    with Horizontal(classes="buttons"):
                        yield Button("Record rest", id="rest-start", variant="primary")
                    yield DataTable(id="rest-table", cursor_type="none", zebra_stripes=True)
                with VerticalScroll(id="step-mvc"):
                    yield Static("3. Maximum voluntary contraction (MVC), one muscle at a time", classes="screen-title")
                    yield Static("Pick the muscle (arrows), then record: the person contracts it as hard as "
                                 "they safely can, against resistance.", classes="hint")
                    yield DataTable(id="mvc-table", cursor_type="row", zebra_stripes=True)
                    yield Static("", id="mvc-prompt", classes="big-prompt")
                    yield ProgressBar(id="mvc-progress", total=100, show_eta=False)
                    with Horizontal(classes="buttons"):
                        yield Button("Record MVC of the selected muscle", id="mvc-start", variant="primary")
                with VerticalScroll(id="step-stim"):
                    yield Static("4. Stimulation thresholds (slow ramp)", classes="screen-title")
                    yield Static("The amplitude rises slowly. The PERSON tells you: press f when they first "
                                 "feel it (sensory), c when the muscle visibly contracts (motor: the ramp stops). "
                                 "Esc stops the ramp. SPACE = E-STOP at any time.", classes="hint")
                    with Vertical(classes="form"):
                        with Horizontal():
                            yield Label("Stimulation channel")
                            yield Select([(f"{ch}", ch) for ch in range(N_STIM)], id="stim-channel", allow_blank=False)
                        with Horizontal():
                            yield Label("Pulse width (us)")
                            yield SafeInput("300", id="stim-width", type="integer")
                            yield Label("Frequency (Hz)")
                            yield SafeInput("30", id="stim-freq", type="integer")
                        with Horizontal():
                            yield Label("Start (uA)")
                            yield SafeInput("1000", id="stim-start", type="integer")
                            yield Label("Step (uA per step)")
                            yield SafeInput("500", id="stim-step", type="integer")
                        with Horizontal():
                            yield Label("Ceiling (uA)")
                            yield SafeInput("40000", id="stim-ceiling", type="integer")
                            yield Label("Electrode area (mm2)")
                            yield SafeInput("2500", id="stim-area", type="integer")
                    yield RampDisplay("ramp idle", id="ramp-amp")
                    with Horizontal(classes="buttons"):
                        yield Button("Start ramp", id="ramp-start", variant="warning")
                        yield Button("Felt it (f)", id="ramp-felt", disabled=True)
                        yield Button("Contraction (c)", id="ramp-motor", disabled=True)
                        yield Button("Stop (Esc)", id="ramp-stop", disabled=True)
                    yield DataTable(id="stim-table", cursor_type="none", zebra_stripes=True)
                with VerticalScroll(id="step-save"):
                    yield Static("5. Save", classes="screen-title")
                    yield Static("Stimulation thresholds go to the garment (set_calibration); everything goes to "
                                 "the person's profile on this computer.", classes="hint")
                    with Vertical(classes="form"):
                        with Horizontal():
                            yield Label("Profile (person)")
                            yield SafeInput("default", id="subject", restrict=r"[A-Za-z0-9._-]*")
                    yield Static("", id="save-summary")
                    with Horizontal(classes="buttons"):
                        yield Button("Save to garment and profile", id="save", variant="success")

    def on_mount(self) -> None:
        t = self.query_one("#electrodes", DataTable)
        t.add_columns("Channel", "Muscle", "Contact", "Noise (uV rms)", "Verdict")
        self.query_one("#rest-table", DataTable).add_columns("Channel", "Rest RMS (uV)", "100 ms p95 (uV)")
        self.query_one("#mvc-table", DataTable).add_columns("Channel", "Muscle", "Rest (uV)", "MVC (uV)", "MVC/rest")
        self.query_one("#stim-table", DataTable).add_columns("Channel", "Sensory (mA)", "Motor (mA)", "Max (mA)")
        timings = self.garment_app.timings
        self.query_one("#rest-hint", Static).update(
            f"The person relaxes completely (lying or seated, legs supported) for {timings.rest_s:g} s.")
        self.set_interval(0.5, self.refresh_electrodes)
        self.sync_session()

    def on_screen_resume(self) -> None:
        self.sync_session()
        if self.session is not None:
            self.session.instruct("rest")  # calibrating: the person sits still, relaxed

    def sync_session(self) -> None:
        """Start over when the garment changed."""
        s = self.session
        if s is self._session_seen:
            return
        self._session_seen = s
        names = s.channel_names if s is not None else []
        self.results = CalibrationResults(list(names)) if s is not None else None
        self.done.clear()
        sel = self.query_one("#stim-channel", Select)
        sel.set_options([(f"{ch}: over {names[ch] if ch < len(names) else '?'}", ch) for ch in range(N_STIM)])
        if s is not None:
            sel.value = 0
        self.fill_tables()
        self.refresh_electrodes()

    # ---- steps -----------------------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "cal-steps" and event.option.id:
            self.show_step(event.option.id, move_list=False)

    def show_step(self, sid: str, move_list: bool = True) -> None:
        self.query_one("#cal-panels", ContentSwitcher).current = sid
        if move_list:
            ol = self.query_one("#cal-steps", OptionList)
            ol.highlighted = ol.get_option_index(sid)
        if sid == "step-save":
            self.show_summary()

    def mark_done(self, sid: str) -> None:
        self.done.add(sid)
        ol = self.query_one("#cal-steps", OptionList)
        for step_id, title in STEPS:
            ol.replace_option_prompt(step_id, ("✓ " if step_id in self.done else "  ") + title)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("felt", "contraction", "stop_ramp"):
            return self.ramp is not None
        if action == "primary":
            f = self.app.focused
            if f is not None and any(isinstance(n, (Button, Input, Select)) for n in f.ancestors_with_self):
                return False  # the focused control's own Enter
        return True

    def action_primary(self) -> None:
        """Enter: the shown step's primary button, as if it were pressed."""
        cur = self.query_one("#cal-panels", ContentSwitcher).current or ""
        bid = self.PRIMARY.get(cur)
        if bid is None:
            return
        button = self.query_one(f"#{bid}", Button)
        if not button.disabled:
            button.press()

    def action_next_step(self) -> None:
        cur = self.query_one("#cal-panels", ContentSwitcher).current
        ids = [sid for sid, _ in STEPS]
        i = ids.index(cur) if cur in ids else 0
        self.show_step(ids[min(i + 1, len(ids) - 1)])

    # ---- tables ----------------------------------------------------------------------
    def refresh_electrodes(self) -> None:
        self.sync_session()
        if not self.is_current or self.query_one("#cal-panels", ContentSwitcher).current != "step-electrodes":
            return
        s = self.session
        t = self.query_one("#electrodes", DataTable)
        t.clear()
        if s is None:
            return
        status = s.last_status
        mask = status.lead_off_mask if status is not None else 0
        if self.results is not None:
            self.results.lead_off_mask = mask
        rms = s.trace.rms(0.5) if s.trace.total else None
        for ch, name in enumerate(s.channel_names):
            off = bool(mask >> ch & 1)
            noise = float(rms[ch]) if rms is not None else None
            t.add_row(name, muscle_name(name), "OFF" if off else "on",
                      "-" if noise is None else f"{noise:.1f}", electrode_verdict(off, noise))
        if s.trace.total and "step-electrodes" not in self.done and not mask:
            self.mark_done("step-electrodes")

    def fill_tables(self) -> None:
        r = self.results
        rest = self.query_one("#rest-table", DataTable)
        mvc = self.query_one("#mvc-table", DataTable)
        stim = self.query_one("#stim-table", DataTable)
        cursor = mvc.cursor_row
        for t in (rest, mvc, stim):
            t.clear()
        if r is None:
            return
        for ch, name in enumerate(r.channel_names):
            b = r.baseline[ch] if r.baseline else None
            if b is not None:
                rest.add_row(name, f"{b.rms_uV:.1f}", f"{b.p95_uV:.1f}")
            m = r.mvc_uV.get(ch)
            ratio = f"{m / b.rms_uV:.0f}x" if m is not None and b is not None and b.rms_uV > 0 else "-"
            mvc.add_row(name, muscle_name(name), f"{b.rms_uV:.1f}" if b else "-", f"{m:.1f}" if m is not None else "-",
                        ratio)
        if r.channel_names:
            mvc.move_cursor(row=min(max(cursor, 0), len(r.channel_names) - 1))
        for ch, th in sorted(r.thresholds.items()):
            def ma(v: int | None) -> str:
                return "-" if v is None else f"{v / 1000:.1f}"
            name = r.channel_names[ch] if ch < len(r.channel_names) else str(ch)
            stim.add_row(f"{ch} ({name})", ma(th.sensory_ua), ma(th.motor_ua), ma(th.max_ua))

    # ---- buttons ---------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        bid = event.button.id
        if bid == "to-rest":
            self.show_step("step-rest")
        elif bid == "rest-start":
            self.start_rest()
        elif bid == "mvc-start":
            self.start_mvc()
        elif bid == "ramp-start":
            self.start_ramp()
        elif bid == "ramp-felt":
            self.action_felt()
        elif bid == "ramp-motor":
            self.action_contraction()
        elif bid == "ramp-stop":
            self.action_stop_ramp()
        elif bid == "save":
            self.save()

    def _claim(self, action: str) -> bool:
        if self.busy:
            self.garment_app.report(f"{action}: wait for the current step to finish", "warning")
            return False
        if self.require_session(action) is None:
            return False
        self.sync_session()
        return self.results is not None

    # ---- rest ------------------------------------------------------------------------
    def start_rest(self) -> None:
        if not self._claim("Rest baseline"):
            return
        self.busy = True
        self.garment_app.run_guarded(self._rest(), "Rest baseline", group="cal")

    async def _rest(self) -> None:
        s = self.session
        assert s is not None and self.results is not None
        tm = self.garment_app.timings
        prompt = self.query_one("#rest-prompt", Static)
        bar = self.query_one("#rest-progress", ProgressBar)
        try:
            bar.update(progress=0)
            s.instruct("rest")
            await countdown(prompt, "RELAX completely", tm.countdown_s)
            prompt.update(f"RELAX: recording rest ({tm.rest_s:g} s)")
            col = await s.capture(tm.rest_s, lambda f: bar.update(progress=100 * f))
            self.results.baseline = rest_baseline(col.samples_uV(), s.fs)
            prompt.update("Rest baseline recorded. Next: MVC (Ctrl+N)")
            self.fill_tables()
            self.mark_done("step-rest")
        except BaseException:
            prompt.update("Rest baseline not recorded. Press Enter to try again.")
            raise
        finally:
            self.busy = False

    # ---- MVC -------------------------------------------------------------------------
    def start_mvc(self) -> None:
        if not self._claim("MVC"):
            return
        t = self.query_one("#mvc-table", DataTable)
        ch = max(0, t.cursor_row)
        self.busy = True
        self.garment_app.run_guarded(self._mvc(ch), "MVC", group="cal")

    async def _mvc(self, ch: int) -> None:
        s = self.session
        assert s is not None and self.results is not None
        tm = self.garment_app.timings
        prompt = self.query_one("#mvc-prompt", Static)
        bar = self.query_one("#mvc-progress", ProgressBar)
        name = s.channel_names[ch]
        muscle = muscle_name(name).upper()
        try:
            bar.update(progress=0)
            await countdown(prompt, f"Get ready: {muscle}", tm.countdown_s)
            prompt.update(f"CONTRACT {muscle} AS HARD AS YOU CAN ({tm.mvc_s:g} s)")
            prompt.add_class("-go")
            s.instruct("mvc", ch)
            try:
                col = await s.capture(tm.mvc_s, lambda f: bar.update(progress=100 * f))
            finally:
                s.instruct("rest")
            self.results.mvc_uV[ch] = mvc_level(col.samples_uV()[:, ch], s.fs)
            self.warn_weak_mvc(ch)
            prompt.update(f"{muscle}: MVC {self.results.mvc_uV[ch]:.1f} uV. Relax. Next muscle selected.")
            self.fill_tables()
            t = self.query_one("#mvc-table", DataTable)
            t.move_cursor(row=min(ch + 1, s.n_ch - 1))
            if len(self.results.mvc_uV) == s.n_ch:
                self.mark_done("step-mvc")
        except BaseException:
            prompt.update(f"{muscle}: not recorded. Try again.")
            raise
        finally:
            prompt.remove_class("-go")
            self.busy = False

    #: an MVC less than this many times the rest level cannot be told from rest
    MIN_MVC_RATIO = 3.0

    def warn_weak_mvc(self, ch: int) -> None:
        """Say so when an MVC hardly stands above the rest (a loose electrode, the wrong
        muscle, or no effort): proportional control would then follow noise."""
        r = self.results
        s = self.session
        if r is None or s is None or r.baseline is None or ch >= len(r.baseline):
            return
        rest = r.baseline[ch].rms_uV
        mvc = r.mvc_uV.get(ch)
        if mvc is None or rest <= 0 or mvc / rest >= self.MIN_MVC_RATIO:
            return
        name = muscle_name(s.channel_names[ch])
        self.garment_app.report(
            f"MVC of the {name} is only {mvc / rest:.1f}x its rest level: check that electrode's contact and that "
            f"the person contracts that muscle, then record it again (Enter)", "warning", timeout=15)

    # ---- stimulation ramp ------------------------------------------------------------
    def stim_settings(self) -> StimSettings:
        def num(wid: str) -> int:
            v = self.query_one(f"#{wid}", Input).value.strip()
            if not v:
                raise ValueError(f"{wid.replace('stim-', '')}: enter a number")
            return int(v)

        s = StimSettings(width_us=num("stim-width"), freq_hz=num("stim-freq"), area_mm2=num("stim-area"),
                         start_ua=num("stim-start"), step_ua=num("stim-step"), ceiling_ua=num("stim-ceiling"),
                         step_s=self.garment_app.timings.ramp_step_s)
        s.check()
        return s

    def start_ramp(self) -> None:
        if not self._claim("Stimulation ramp"):
            return
        try:
            settings = self.stim_settings()
        except ValueError as e:
            self.garment_app.report_error(e, "Stimulation ramp")
            return
        ch = self.query_one("#stim-channel", Select).value
        if not isinstance(ch, int):
            self.garment_app.report("Stimulation ramp: choose a channel", "warning")
            return
        assert self.results is not None
        self.busy = True
        self._ramp_buttons(True)
        display = self.query_one("#ramp-amp", RampDisplay)
        display.update(f"channel {ch}: preparing (provisional calibration, arming)...")
        display.focus()
        self.results.stim = settings
        self.garment_app.run_guarded(self._ramp_session(ch, settings), "Stimulation ramp", group="stim")

    async def _ramp_session(self, ch: int, settings: StimSettings) -> None:
        """The threshold search on one channel (``GarmentSession.search_thresholds``: the
        provisional calibration, arm, ramp, disarm and restore are the session's); this
        screen only shows the steps and takes the f / c / Esc keys."""
        s = self.session
        assert s is not None and self.results is not None
        display = self.query_one("#ramp-amp", RampDisplay)

        def on_step(amp: int) -> None:
            felt = self.ramp.sensory_ua if self.ramp is not None else None
            display.update(f"channel {ch}: {amp / 1000:.1f} mA"
                           + (f"   (felt at {felt / 1000:.1f} mA)" if felt else "")
                           + "\nf = felt   c = contraction   Esc = stop   SPACE = E-STOP")

        ramp = Ramp(settings, on_step=on_step)
        self.ramp = ramp
        try:
            res = await s.search_thresholds(ch, ramp)
            self._ramp_result(ch, ramp, res)
        except asyncio.CancelledError:
            display.update(f"channel {ch}: ramp stopped by E-STOP")
            raise
        finally:
            self.busy = False
            self.ramp = None
            self._ramp_buttons(False)

    def _ramp_result(self, ch: int, ramp: Ramp, res: RampResult) -> None:
        assert self.results is not None
        display = self.query_one("#ramp-amp", RampDisplay)
        th = self.results.thresholds.setdefault(ch, ChannelThresholds())
        if res.sensory_ua is not None:
            th.sensory_ua = res.sensory_ua
        if res.motor_ua is not None:
            th.motor_ua = res.motor_ua
            th.max_ua = default_max(res.motor_ua, ramp.s.ceiling_ua)
        self.fill_tables()
        if res.reason == "motor":
            display.update(f"channel {ch}: sensory {(th.sensory_ua or 0) / 1000:.1f} mA, motor "
                           f"{(th.motor_ua or 0) / 1000:.1f} mA (max set to {(th.max_ua or 0) / 1000:.1f} mA). "
                           "Save (step 5) writes it to the garment.")
            if all(t.motor_ua for t in self.results.thresholds.values()):
                self.mark_done("step-stim")
        elif res.reason == "ceiling":
            display.update(f"channel {ch}: reached the ceiling {ramp.s.ceiling_ua / 1000:.1f} mA without a "
                           "contraction. Check the electrode placement.")
            self.garment_app.report("ramp reached its ceiling without a motor threshold", "warning")
        else:
            display.update(f"channel {ch}: ramp stopped at {res.last_ua / 1000:.1f} mA")

    def _ramp_buttons(self, ramping: bool) -> None:
        self.query_one("#ramp-start", Button).disabled = ramping
        for bid in ("ramp-felt", "ramp-motor", "ramp-stop"):
            self.query_one(f"#{bid}", Button).disabled = not ramping
        for inp in self.query(".form Input"):
            inp.disabled = ramping
        self.query_one("#stim-channel", Select).disabled = ramping
        self.refresh_bindings()

    def action_felt(self) -> None:
        if self.ramp is not None:
            self.ramp.felt()
            self.query_one("#ramp-amp", RampDisplay).update(
                f"sensory threshold {self.ramp.amplitude_ua / 1000:.1f} mA: ramp continues (c at contraction)")

    def action_contraction(self) -> None:
        if self.ramp is not None:
            self.ramp.contraction()

    def action_stop_ramp(self) -> None:
        if self.ramp is not None:
            self.ramp.stop()

    # ---- save ------------------------------------------------------------------------
    def show_summary(self) -> None:
        r = self.results
        box = self.query_one("#save-summary", Static)
        if r is None:
            box.update("No garment connected.")
            return
        lines = [
            f"Electrodes: {'all in contact' if not r.lead_off_mask else f'lead-off mask {r.lead_off_mask:08b}'}",
            f"Rest baseline: {'recorded' if r.baseline else 'not recorded'}",
            f"MVC: {len(r.mvc_uV)} of {len(r.channel_names)} muscles",
            f"Stimulation: {len(r.calibrations())} channel(s) with sensory and motor thresholds",
        ]
        box.update("\n".join(lines))

    def save(self) -> None:
        if not self._claim("Save calibration"):
            return
        self.busy = True
        self.garment_app.run_guarded(self._save(), "Save calibration", group="cal")

    async def _save(self) -> None:
        s = self.session
        r = self.results
        assert s is not None and r is not None
        try:
            subject = self.query_one("#subject", Input).value.strip() or "default"
            profile = r.profile(str(s.info.get("uid", "")), s.firmware)
            cals = r.calibrations()
            saved_on_garment: list[int] = []
            problems: list[str] = []
            await s.ensure_auth()
            for cal in cals:
                try:
                    back = await s.set_calibration(cal)
                    if back != cal:
                        problems.append(f"channel {cal.channel}: the garment stored {back}, not what was sent")
                    else:
                        saved_on_garment.append(cal.channel)
                except Exception as e:  # noqa: BLE001 - reported below, the profile is still saved
                    from garment.tui.errors import describe

                    problems.append(describe(e, f"channel {cal.channel}"))
            profile["stimulation"]["saved_on_garment"] = saved_on_garment
            path = await asyncio.to_thread(config.save_profile, subject, profile)
            self.garment_app.report(f"Profile saved: {path}")
            if not cals:
                self.garment_app.report("No stimulation thresholds measured: nothing to save on the garment",
                                        "warning")
            elif saved_on_garment:
                self.garment_app.report(f"Calibration saved on the garment: channel(s) "
                                        f"{', '.join(map(str, saved_on_garment))}")
            for p in problems:
                self.garment_app.report(f"Calibration not saved on the garment: {p}", "error", timeout=10)
            if not problems:
                self.mark_done("step-save")
            self.show_summary()
        finally:
            self.busy = False
