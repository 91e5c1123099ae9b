"""Live: every EMG channel as a trace with its envelope, the decoder's output, the
stimulation channels, link quality and battery. Traces repaint at 30 frames/s."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Iterable

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Static

from garment.tui.screens.base import GarmentScreen

if TYPE_CHECKING:
    from garment.tui.session import GarmentSession
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
        Binding("r", "record", "Record/stop"),
        Binding("h", "filter('highpass')", "High-pass"),
        Binding("n", "filter('notch')", "Notch"),
        Binding("m", "filter('mains')", "50/60 Hz"),
        *[Binding(str(k + 1), f"toggle_channel({k})", f"Channel {k + 1}", show=False) for k in range(8)],
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
        self._panel_lines: tuple[int, ...] = ()
        self.hidden: set[int] = set()  # channels toggled off (keys 1..8)
        self._filter_lock: asyncio.Lock | None = None
        self.recorder: object | None = None  # the RecordingSink while Live records
        self.record_path: object | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="live-body"):
            yield VerticalScroll(id="traces")
            with VerticalScroll(id="side"):  # scrolls when the terminal is short: nothing cut off
                yield LinkQuality(id="link")
                yield Static(id="decoder", classes="panel")
                yield Static(id="stim", classes="panel")
                yield Static(id="spectrum", classes="panel")
                yield Static(id="electrodes-live", classes="panel")
                yield Button("Record (r)", id="record", variant="error")
                yield Static(id="live-status", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#decoder", Static).border_title = "Decoder"
        self.query_one("#stim", Static).border_title = "Stimulation"
        self.query_one("#spectrum", Static).border_title = "Spectrum (last 2 s)"
        self.query_one("#electrodes-live", Static).border_title = "Electrodes and filters"
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
        spectrum = self.spectrum_text()
        electrodes = self.electrodes_text()
        # a layout pass only when a panel's height changes (layout is the costly part): the
        # spectrum's rows appear once the trace holds samples, the electrodes' "hidden" line
        # with the keys 1-8; without it their new lines waited for some other layout pass
        lines = (3, 1 + N_STIM if isinstance(stim, Group) else 1, len(spectrum.plain.splitlines()),
                 len(electrodes.plain.splitlines()))
        relayout = lines != self._panel_lines
        self._panel_lines = lines
        self.query_one("#decoder", Static).update(self.decoder_text(), layout=relayout)
        self.query_one("#stim", Static).update(stim, layout=relayout)
        self.query_one("#spectrum", Static).update(spectrum, layout=relayout)
        self.query_one("#electrodes-live", Static).update(electrodes, layout=relayout)
        hold = "HOLD (p resumes)  " if self.paused else ""
        scale = "autoscale" if self.autoscale else f"fixed ±{self.fixed_scale:g} µV"
        self.query_one("#live-status", Static).update(f"{hold}{s.n_ch} ch at {s.fs} Hz, {scale}", layout=False)

    def spectrum_text(self) -> Text:
        """Per channel: median frequency, share of power per band, mains share."""
        from garment.tui.spectrum import BANDS, spectra

        s = self.session
        t = Text(no_wrap=True, overflow="ellipsis")
        if s is None:
            return t
        head = " ".join((f"{int(lo)}-{int(hi)}" if hi < 400 else f">{int(lo)}").rjust(6) for lo, hi in BANDS)
        t.append(f"ch  med {head} {s.config.mains}Hz", style="dim")
        for ch, sp in enumerate(spectra(s.trace.latest(), s.fs, s.config.mains)):
            if ch in self.hidden:
                continue
            med = "   -" if sp.median_hz != sp.median_hz else f"{sp.median_hz:4.0f}"
            bands = " ".join(f"{100 * v:5.0f}%" for v in sp.band_share)
            t.append(f"\n{ch + 1:<2}{med} {bands} ")
            t.append(f"{100 * sp.mains_share:3.0f}%", style="bold red" if sp.mains_share > 0.2 else "")
        return t

    def electrodes_text(self) -> Text:
        """Contact per EMG electrode (the AFE's lead-off detection) and the filter settings."""
        s = self.session
        t = Text(no_wrap=True, overflow="ellipsis")
        if s is None:
            return t
        st = s.last_status
        mask = st.lead_off_mask if st is not None else 0
        for ch in range(s.n_ch):
            off = bool(mask >> ch & 1)
            t.append(f"{ch + 1}:{'OFF' if off else 'ok'} ", style="bold red" if off else "green")
        # The ADS1299 as this garment runs it detects lead-off (a DC current): it does not
        # measure the electrode impedance, so no kOhm figure is shown rather than a made-up one.
        t.append("\nimpedance: not measured (lead-off only)", style="dim")
        c = s.config
        t.append(f"\nhigh-pass {'on' if c.highpass else 'OFF'} (h)  notch {'on' if c.notch else 'OFF'} (n)"
                 f"\nmains {c.mains} Hz (m)")
        if self.hidden:
            t.append(f"\nhidden: {' '.join(str(k + 1) for k in sorted(self.hidden))} (keys 1-8)", style="dim")
        if self.record_path is not None:
            t.append(f"\nRECORDING {getattr(self.record_path, 'name', self.record_path)}", style="bold red")
        return t

    # ---- record, filters, channels -----------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "record":
            event.stop()
            self.action_record()

    def action_record(self) -> None:
        """Start recording the stream to a BDF+ file, or stop and save it."""
        s = self.require_session("Record")
        if s is None:
            return
        if self.recorder is None:
            self.garment_app.run_guarded(self._start_recording(s), "Record", group="live-record")
        else:
            self.garment_app.run_guarded(self._stop_recording(s), "Record", group="live-record")

    async def _start_recording(self, s: "object") -> None:
        import asyncio

        from garment.acquire import RecordingSink
        from garment.tui import config

        path = config.recordings_dir() / f"live-{config.stamp()}.bdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = RecordingSink(path)
        await asyncio.to_thread(sink.open, await s.stream_meta())  # type: ignore[attr-defined]
        s.attach(sink)  # type: ignore[attr-defined]
        self.recorder, self.record_path = sink, path
        self.query_one("#record", Button).label = "Stop recording (r)"
        self.garment_app.report(f"Recording to {path}")

    async def _stop_recording(self, s: "object") -> None:
        import asyncio

        sink, path = self.recorder, self.record_path
        self.recorder = self.record_path = None
        s.detach(sink)  # type: ignore[attr-defined]
        await asyncio.to_thread(sink.close)  # type: ignore[union-attr]
        self.query_one("#record", Button).label = "Record (r)"
        self.garment_app.report(f"Recording saved: {path}")

    def action_filter(self, which: str) -> None:
        s = self.require_session("Filters")
        if s is None:
            return
        self.garment_app.run_guarded(self._toggle_filter(s, which), "Filters", group="live-filters")

    async def _toggle_filter(self, s: "GarmentSession", which: str) -> None:
        if self._filter_lock is None:
            self._filter_lock = asyncio.Lock()
        async with self._filter_lock:  # one change at a time, each from the settings the last left
            c = s.config
            if which == "highpass":
                await s.set_filters(highpass=not c.highpass)
            elif which == "notch":
                await s.set_filters(notch=not c.notch)
            else:
                await s.set_filters(mains=60 if c.mains == 50 else 50)

    def action_toggle_channel(self, ch: int) -> None:
        """Show or hide channel ``ch``'s trace (and its spectrum row)."""
        s = self.session
        if s is None or ch >= s.n_ch:
            return
        self.hidden ^= {ch}
        for row in self.query(".chrow"):
            if row.query(f"#trace-{ch}"):
                row.display = ch not in self.hidden

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
