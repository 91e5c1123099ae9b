"""Train: screen-guided recording (prompt, countdown, hold, rest, repetitions) into a
BDF+ file with an annotation per prompt, then decoder training with group
cross-validation, float-vs-int8 agreement and a confusion matrix."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterable

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static
from textual.worker import Worker

from garment.tui import config
from garment.tui.screens.base import GarmentScreen
from garment.tui.widgets.inputs import SafeInput
from garment.tui.training import AnnotatedRecordingSink, Prompt, TrainPlan, TrainResult, parse_labels, train_decoder

KINDS = (("LDA (fast, robust)", "lda"), ("Logistic regression", "logreg"), ("MLP (one hidden layer)", "mlp"))


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def confusion_table(result: TrainResult) -> Table:
    t = Table(title="Confusion (int8, leave-one-repetition-out): rows true, columns predicted",
              title_justify="left", show_lines=False)
    t.add_column("true \\ pred", style="bold")
    for lab in result.labels:
        t.add_column(lab, justify="right")
    for i, lab in enumerate(result.labels):
        row = result.confusion[i]
        total = int(row.sum())
        cells = []
        for j, v in enumerate(row):
            style = ("bold green" if i == j else "red" if v else "dim")
            cells.append(Text(f"{int(v)}" + (f" ({100 * v / total:.0f}%)" if total and i == j else ""), style=style))
        t.add_row(lab, *cells)
    return t


def metrics_text(r: TrainResult) -> Text:
    t = Text()
    t.append(f"{r.n_windows} windows, {len(r.labels)} classes, {r.n_groups} repetitions, "
             f"trained in {r.seconds:.1f} s, model {r.model_bytes} bytes\n")
    t.append("cross-validated accuracy  ", style="dim")
    t.append(f"float {pct(r.cv_float)}   int8 {pct(r.cv_int8)}", style="bold")
    t.append(f"   float-vs-int8 agreement {pct(r.cv_agreement)}\n")
    t.append("all windows               ", style="dim")
    t.append(f"float {pct(r.float_acc)}   int8 {pct(r.int8_acc)}   agreement {pct(r.agreement)}\n")
    for w in r.warnings:
        t.append(f"warning: {w}\n", style="yellow")
    if r.model_path is not None:
        t.append(f"model saved: {r.model_path}  (F5 to upload)\n", style="green")
    return t


def chance_warning(result: TrainResult) -> str | None:
    """Why a decoder that scores near chance is no use, and what to check (None if it is
    clearly above chance): 1/classes plus half the way to perfect is the bar."""
    n = len(result.labels)
    acc = result.cv_int8
    if n < 2 or acc is None:
        return None
    chance = 1.0 / n
    if acc >= chance + 0.5 * (1.0 - chance):
        return None
    return (f"Cross-validated accuracy {pct(acc)} is close to chance ({pct(chance)} for {n} classes): the "
            f"recordings of the movements look alike. Check the electrodes (F3 Calibrate, step 1), that the "
            f"person performed each prompted movement during its hold, and that the labels name different "
            f"movements; then record again (Ctrl+T).")


class TrainScreen(GarmentScreen):
    MODE = "train"
    BINDINGS = [Binding("ctrl+t", "start", "Record & train", priority=True), Binding("escape", "stop", "Stop recording")]

    def __init__(self) -> None:
        super().__init__()
        self.worker: Worker[None] | None = None
        self.recording = False
        self.training = False
        self.result: TrainResult | None = None
        self.recording_path: Path | None = None
        self.prompts: list[Prompt] = []

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="train-body"):
            with VerticalScroll(id="train-form"):
                yield Static("Record and train a decoder", classes="screen-title")
                yield Static("Labels are separated by commas (space is the E-STOP key).", classes="hint")
                with Vertical(classes="form"):
                    with Horizontal():
                        yield Label("Labels")
                        yield SafeInput("rest,extend,flex", id="train-labels", restrict=r"[A-Za-z0-9_,;.-]*")
                    with Horizontal():
                        yield Label("Repetitions")
                        yield SafeInput("5", id="train-reps", type="integer")
                    with Horizontal():
                        yield Label("Hold (s)")
                        yield SafeInput("4", id="train-hold", type="number")
                    with Horizontal():
                        yield Label("Rest between (s)")
                        yield SafeInput("3", id="train-rest", type="number")
                    with Horizontal():
                        yield Label("Decoder")
                        yield Select(KINDS, id="train-kind", value="lda", allow_blank=False)
                with Horizontal(classes="buttons"):
                    yield Button("Record & train (Ctrl+T)", id="train-start", variant="primary")
                    yield Button("Stop (Esc)", id="train-stop", disabled=True)
                yield Static("", id="train-file", classes="hint")
            with VerticalScroll(id="train-main"):
                yield Static("Set up the session, then Record & train.", id="train-prompt", classes="big-prompt")
                yield ProgressBar(id="train-progress", total=100, show_eta=False)
                yield Static("", id="train-stage")
                yield Static("", id="train-metrics")
                yield Static("", id="confusion")

    # ---- form ------------------------------------------------------------------------
    def plan(self) -> TrainPlan:
        def val(wid: str) -> str:
            return self.query_one(f"#{wid}", Input).value.strip()

        try:
            reps = int(val("train-reps"))
            hold = float(val("train-hold"))
            rest = float(val("train-rest"))
        except ValueError:
            raise ValueError("repetitions, hold and rest must be numbers") from None
        kind = self.query_one("#train-kind", Select).value
        p = TrainPlan(parse_labels(val("train-labels")), reps, hold, rest,
                      self.garment_app.timings.countdown_s, str(kind))
        p.check()
        return p

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "train-start":
            self.action_start()
        elif event.button.id == "train-stop":
            self.action_stop()

    def action_start(self) -> None:
        if self.recording or self.training:
            self.garment_app.report("a session is already running", "warning")
            return
        s = self.require_session("Record")
        if s is None:
            return
        try:
            plan = self.plan()
        except ValueError as e:
            self.garment_app.report_error(e, "Training session")
            return
        self.recording = True
        self._buttons()
        self.worker = self.garment_app.run_guarded(self._session(plan), "Training session", group="train")

    def action_stop(self) -> None:
        if self.recording and self.worker is not None:
            self.worker.cancel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.recording
        return True

    def _buttons(self) -> None:
        busy = self.recording or self.training
        self.query_one("#train-start", Button).disabled = busy
        self.query_one("#train-stop", Button).disabled = not self.recording
        self.refresh_bindings()

    # ---- the session -------------------------------------------------------------------
    async def _session(self, plan: TrainPlan) -> None:
        try:
            ok = await self._record(plan)
        finally:
            self.recording = False
            self._buttons()
        if ok:
            await self._train(plan)

    async def _record(self, plan: TrainPlan) -> bool:
        from garment.tui.session import SampleCollector

        s = self.session
        assert s is not None
        prompt = self.query_one("#train-prompt", Static)
        bar = self.query_one("#train-progress", ProgressBar)
        stage = self.query_one("#train-stage", Static)
        self.query_one("#train-metrics", Static).update("")
        self.query_one("#confusion", Static).update("")
        path = config.recordings_dir() / f"train-{config.stamp()}.bdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.recording_path = path
        self.query_one("#train-file", Static).update(f"recording to {path}")
        meta = await s.stream_meta()
        sink = AnnotatedRecordingSink(path)
        await asyncio.to_thread(sink.open, meta)
        col = SampleCollector()
        s.attach(sink)
        s.attach(col)
        self.prompts = []
        seq = plan.sequence()
        completed = False
        try:
            for i, (rep, label) in enumerate(seq):
                base = 100 * i / len(seq)
                stage.update(f"prompt {i + 1} of {len(seq)}: {label}, repetition {rep + 1} of {plan.reps}")
                prompt.remove_class("-go", "-rest")
                for k in range(plan.countdown_s, 0, -1):
                    prompt.update(f"Next: {label.upper()}\n{k}")
                    await asyncio.sleep(1.0)
                prompt.add_class("-go")
                prompt.update(f"{label.upper()}\nhold for {plan.hold_s:g} s")
                s.instruct(label)
                onset = col.n / s.fs
                await s.capture(plan.hold_s, lambda f: bar.update(progress=base + 100 * f / len(seq) * 0.7))
                self.prompts.append(Prompt(label, rep, onset, plan.hold_s))
                sink.annotate(onset, plan.hold_s, label)
                prompt.remove_class("-go")
                s.instruct("rest")
                if plan.rest_s > 0 and i < len(seq) - 1:
                    prompt.add_class("-rest")
                    prompt.update(f"REST\n{plan.rest_s:g} s")
                    await s.capture(plan.rest_s, lambda f: bar.update(progress=base + 100 / len(seq) * (0.7 + 0.3 * f)))
            completed = True
        except asyncio.CancelledError:
            prompt.update("Recording stopped.")
            raise
        finally:
            s.instruct("rest")
            s.detach(sink)
            s.detach(col)
            await asyncio.to_thread(sink.close)
            prompt.remove_class("-go", "-rest")
            self.query_one("#train-file", Static).update(f"recording saved: {path} ({len(self.prompts)} prompts)")
            self.garment_app.event_log.add("host", "info", f"training recording saved: {path}")
        if completed:
            bar.update(progress=100)
            prompt.update("Recording done. Training...")
            self._codes = col.samples_codes()
        return completed

    async def _train(self, plan: TrainPlan) -> None:
        s = self.session
        fs = s.fs if s is not None else 2000
        self.training = True
        self._buttons()
        bar = self.query_one("#train-progress", ProgressBar)
        stage = self.query_one("#train-stage", Static)
        bar.update(progress=0)

        def progress(text: str, frac: float) -> None:
            def apply() -> None:
                stage.update(f"training: {text}")
                bar.update(progress=100 * frac)
            self.app.call_from_thread(apply)

        try:
            result = await asyncio.to_thread(train_decoder, self._codes, fs, list(self.prompts), plan.kind, progress)
            path = config.models_dir() / f"decoder-{config.stamp()}.gmdl"
            path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(result.model.save, path, result.feature_config)
            result.model_path = path
            self.garment_app.last_model_path = str(path)
            self.show_result(result)
            self.query_one("#train-prompt", Static).update(
                f"Done: int8 accuracy {pct(result.cv_int8)} (cross-validated)")
            self.garment_app.report(f"Decoder trained: CV int8 accuracy {pct(result.cv_int8)}, saved {path.name}")
            why = chance_warning(result)
            if why:
                self.garment_app.report(why, "warning", timeout=20)
        except BaseException:
            self.query_one("#train-prompt", Static).update("Training failed (see the notification).")
            raise
        finally:
            self.training = False
            self._buttons()

    def show_result(self, result: TrainResult) -> None:
        self.result = result
        self.query_one("#train-stage", Static).update(result.summary.splitlines()[0] if result.summary else "")
        self.query_one("#train-metrics", Static).update(metrics_text(result))
        self.query_one("#confusion", Static).update(confusion_table(result))
