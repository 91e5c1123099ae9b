"""Live: every EMG channel as a trace with its envelope, the decoder's output, the
stimulation channels, link quality and battery. Traces repaint at 30 frames/s."""
from __future__ import annotations

from typing import Iterable

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from garment.tui.screens.base import GarmentScreen
from garment.tui.widgets.link import LinkQuality
from garment.tui.widgets.traces import BLOCKS, TraceView, nice_scale

FPS = 30
PANEL_EVERY = 6  # side panels and labels: every 6th frame (5 Hz)
N_STIM = 8
LABEL_COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "red", "white", "bright_cyan")


class LiveScreen(GarmentScreen):
    MODE = "live"
    BINDINGS = [
        Binding("p", "pause", "Hold/resume"),
        Binding("a", "autoscale", "Autoscale"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", key_display="+"),
        Binding("minus", "zoom(2.0)", "Zoom out", key_display="-"),
        Binding("ctrl+a", "arm", "Arm", priority=True),
        Binding("ctrl+d", "disarm", "Disarm", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.autoscale = True
        self.fixed_scale = 100.0
        self.scales: np.ndarray | None = None
        self.env_scales: np.ndarray | None = None
        self.frames = 0  # frames painted (the smoke test and the FPS check read it)
        self._built_for: object = None
        self._panel_lines: tuple[int, int] = (0, 0)

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="live-body"):
            yield VerticalScroll(id="traces")
            with Vertical(id="side"):
                yield LinkQuality(id="link")
                yield Static(id="decoder", classes="panel")
                yield Static(id="stim", classes="panel")
                yield Static(id="live-status", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#decoder", Static).border_title = "Decoder"
        self.query_one("#stim", Static).border_title = "Stimulation"
        self.set_interval(1 / FPS, self.tick)
        self.rebuild()

    def on_screen_resume(self) -> None:
        self.rebuild()

    def rebuild(self) -> None:
        """(Re)create one row per channel when the session changes."""
        s = self.session
        if s is self._built_for:
            return
        self._built_for = s
        traces = self.query_one("#traces", VerticalScroll)
        traces.remove_children()
        self.scales = None
        if s is None:
            traces.mount(Static("No garment connected. Press F1 to connect (Enter on the simulated garment).",
                                classes="empty"))
            return
        rows = []
        for ch in range(s.n_ch):
            rows.append(Horizontal(
                Static("", id=f"label-{ch}", classes="chlabel"),
                TraceView(ch, id=f"trace-{ch}"),
                classes="chrow",
            ))
        traces.mount_all(rows)

    # ---- painting ------------------------------------------------------------------
    def tick(self) -> None:
        if not self.is_current:
            return
        s = self.session
        if s is not self._built_for:
            self.rebuild()
            return
        if s is None:
            return
        panels = self.frames % PANEL_EVERY == 0
        if not self.paused:
            self.paint_traces(panels)
        if panels:
            self.paint_panels()
        self.frames += 1

    def paint_traces(self, labels: bool = True) -> None:
        s = self.session
        if s is None:
            return
        x = s.trace.latest()
        n_valid = min(len(x), s.trace.total)
        recent = x[len(x) - n_valid :] if n_valid else x[:0]
        # robust peak (99.5th percentile): a lone artefact does not flatten the trace
        k = max(1, int(n_valid * 0.005))
        peak = (np.partition(np.abs(recent), n_valid - k, axis=0)[n_valid - k] if n_valid
                else np.zeros(s.n_ch))
        if self.autoscale:
            want = np.array([nice_scale(p * 1.2, 5.0) for p in peak])
            # rise at once, fall slowly (no jumping scales)
            self.scales = want if self.scales is None else np.where(want > self.scales, want,
                                                                    np.maximum(want, self.scales * 0.97))
        else:
            self.scales = np.full(s.n_ch, self.fixed_scale)
        status = s.last_status
        lead_off = status.lead_off_mask if status is not None else 0
        rms = s.trace.rms(0.1)
        for ch in range(s.n_ch):
            try:
                tv = self.query_one(f"#trace-{ch}", TraceView)
            except Exception:  # noqa: BLE001 - rows being rebuilt
                return
            scale = float(nice_scale(self.scales[ch]))
            tv.show(x[:, ch], scale, scale / 2, bool(lead_off >> ch & 1))
            if labels:
                name = s.channel_names[ch]
                off = bool(lead_off >> ch & 1)
                t = Text(no_wrap=True)
                t.append(f"{name}\n", style="bold")
                t.append(f"{rms[ch]:6.1f} µV rms\n")
                t.append("LEAD OFF" if off else f"±{scale:g} µV", style="bold red" if off else "dim")
                self.query_one(f"#label-{ch}", Static).update(t, layout=False)  # fixed size

    def paint_panels(self) -> None:
        s = self.session
        if s is None:
            return
        self.query_one("#link", LinkQuality).show(s.link_view(), s.fs)
        stim = self.stim_table()
        # a layout pass only when a panel's height changes (layout is the costly part)
        lines = (3, 1 + N_STIM if isinstance(stim, Group) else 1)
        relayout = lines != self._panel_lines
        self._panel_lines = lines
        self.query_one("#decoder", Static).update(self.decoder_text(), layout=relayout)
        self.query_one("#stim", Static).update(stim, layout=relayout)
        hold = "HOLD (p resumes)  " if self.paused else ""
        scale = "autoscale" if self.autoscale else f"fixed ±{self.fixed_scale:g} µV"
        self.query_one("#live-status", Static).update(f"{hold}{s.n_ch} ch at {s.fs} Hz, {scale}", layout=False)

    def decoder_text(self) -> Text:
        s = self.session
        t = Text(no_wrap=True, overflow="ellipsis")
        if s is None:
            return t
        d = s.decoder
        labels = s.model_labels
        if d is None:
            active = (s.model or {}).get("active") if s.model else None
            t.append("no decoder output yet" if active else "no model active (F4 train, F5 upload)", style="dim")
            return t

        def name(i: int) -> str:
            if i < 0:
                return "rejected"
            return labels[i] if i < len(labels) else f"class {i}"

        t.append(name(d.label).upper(), style=f"bold {LABEL_COLOURS[d.label % 8] if d.label >= 0 else 'dim'}")
        t.append(f"  ({s.decoder_count} windows)\n", style="dim")
        outs = " ".join(str(v) for v in d.outputs[:6])
        t.append(f"outputs {outs}\n", style="dim")
        for lab in s.decoder_history:
            t.append("█" if lab >= 0 else "·", style=LABEL_COLOURS[lab % 8] if lab >= 0 else "dim")
        return t

    def stim_table(self) -> Group | Text:
        s = self.session
        if s is None:
            return Text("")
        st = s.stim
        if st is None:
            return Text("stimulation state unknown", style="dim")
        t = Table.grid(padding=(0, 1))
        t.add_column(no_wrap=True)
        t.add_column(no_wrap=True)
        t.add_column(no_wrap=True, justify="right")
        t.add_column(no_wrap=True, justify="right")
        head = Text(f"{st.state.upper()}", style="bold red" if st.state == "fault" else
                    "bold yellow" if st.state in ("armed", "stimulating") else "bold green")
        if st.fault != "none":
            head.append(f"  fault {st.fault}", style="bold red")
        for ch in range(N_STIM):
            armed = bool(st.armed_mask >> ch & 1)
            off = bool(st.lead_off_mask >> ch & 1)
            ma = s.channel_amplitude_ua(ch) / 1000.0
            name = s.channel_names[ch] if ch < len(s.channel_names) else f"S{ch + 1}"
            bar = BLOCKS[min(8, int(round(ma / 5.0)))] if ma > 0 else " "
            rate = s.pulse_rate(ch)
            label = Text(f"{ch} {name:5s}", style="bold" if armed else "dim")
            if off:
                label.append(" OFF", style="bold red")
            t.add_row(label, Text(bar, style="yellow"), f"{ma:5.1f} mA", f"{rate:3.0f} p/s")
        return Group(head, t)

    # ---- actions -------------------------------------------------------------------
    def action_pause(self) -> None:
        self.paused = not self.paused
        self.paint_panels()

    def action_autoscale(self) -> None:
        self.autoscale = not self.autoscale
        if not self.autoscale and self.scales is not None:
            self.fixed_scale = float(nice_scale(float(np.max(self.scales))))

    def action_zoom(self, factor: float) -> None:
        base = self.fixed_scale if not self.autoscale else float(np.max(self.scales)) if self.scales is not None else 100.0
        self.autoscale = False
        self.fixed_scale = float(nice_scale(max(1.0, base * factor)))

    def action_arm(self) -> None:
        s = self.require_session("Arm")
        if s is None:
            return
        from garment.tui.screens.dialogs import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.garment_app.run_guarded(self._arm(), "Arm", group="stim")

        self.app.push_screen(ConfirmScreen(
            "Arm stimulation?", "The decoder will drive stimulation within the calibrated range. "
            "Space stops everything at once.", yes="Arm"), answered)

    async def _arm(self) -> None:
        s = self.session
        if s is None:
            return
        st = await s.arm()
        self.garment_app.report(f"stimulation {st.state}")

    def action_disarm(self) -> None:
        s = self.require_session("Disarm")
        if s is not None:
            self.garment_app.run_guarded(self._disarm(), "Disarm", group="disarm")

    async def _disarm(self) -> None:
        s = self.session
        if s is None:
            return
        st = await s.disarm()
        self.garment_app.report(f"stimulation {st.state}")
