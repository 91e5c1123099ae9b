"""Upload: send a decoder model to the garment with a progress bar, verify that the
garment activated exactly that file (CRC), and roll back to the previous model."""
from __future__ import annotations

import asyncio
from garment.client import model_id
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from garment.tui import config
from garment.tui.screens.base import GarmentScreen
from garment.tui.widgets.inputs import SafeInput


@dataclass(frozen=True)
class ModelFile:
    path: Path
    size: int
    crc: str
    description: str
    fs: int | None = None
    n_ch: int | None = None
    trailer_crc: str = ""  # the file's own CRC-32 (its last 4 bytes): differs between models
    task: str = ""
    labels: tuple[str, ...] = ()


def inspect_model(path: Path) -> ModelFile:
    """Read and check a model file on the host (the garment checks it again)."""
    data = path.read_bytes()
    crc = f"{model_id(data):08x}"
    from garment.models import from_bytes

    qm = from_bytes(data)
    feats = getattr(qm, "features", None) or {}
    labels = list(getattr(qm, "labels", []) or [])
    task = getattr(qm, "task", "?")
    kind = (getattr(qm, "info", None) or {}).get("kind", "")
    desc = f"{kind} {task}".strip() + (f", labels {', '.join(labels)}" if labels else "")
    if feats:
        desc += f", {feats.get('n_ch')} ch at {feats.get('fs')} Hz"
    trailer = f"{int.from_bytes(data[-4:], 'little'):08x}" if len(data) >= 4 else ""
    return ModelFile(path, len(data), crc, desc, feats.get("fs"), feats.get("n_ch"), trailer, str(task),
                     tuple(str(x) for x in labels))


def matches(m: ModelFile, info: dict[str, Any] | None) -> bool:
    """Is ``m`` the garment's active, verified model? (The whole-file CRC-32 of every model
    file is the same constant, because the file ends with its own CRC, so size, task and
    labels are compared too.)"""
    if not info or not info.get("verified"):
        return False
    a = info.get("active") or {}
    return (str(a.get("crc", "")).lower() == m.crc and int(a.get("size", -1)) == m.size
            and str(a.get("task", m.task)) == m.task
            and tuple(str(x) for x in a.get("labels") or ()) == m.labels)


def candidate_models(extra: str | None = None) -> list[Path]:
    """Model files worth offering: the latest trained, the user's models, the repository's."""
    from garment.paths import repo_root

    seen: set[Path] = set()
    out: list[Path] = []

    def add(p: Path) -> None:
        p = p.resolve()
        if p.is_file() and p not in seen:
            seen.add(p)
            out.append(p)

    if extra:
        add(Path(extra))
    try:
        for p in sorted(config.models_dir().glob("*.gmdl"), key=lambda p: p.stat().st_mtime, reverse=True):
            add(p)
    except OSError:
        pass
    root = repo_root()
    if root is not None:
        for p in sorted((root / "models").rglob("*.gmdl")):
            add(p)
    return out


def garment_model_text(info: dict[str, Any] | None) -> Text:
    t = Text()
    if info is None:
        t.append("unknown (the garment did not answer)", style="dim")
        return t
    active = info.get("active")
    if active:
        t.append("active: ", style="bold")
        t.append(f"{active.get('task', '?')}, labels {', '.join(map(str, active.get('labels') or [])) or '-'}, "
                 f"{active.get('size', '?')} bytes, crc {active.get('crc', '?')}")
        t.append("  verified\n" if info.get("verified") else "  NOT verified\n",
                 style="green" if info.get("verified") else "bold red")
    else:
        t.append("active: none", style="bold")
        if info.get("problem"):
            t.append(f" ({info['problem']})", style="yellow")
        t.append("\n")
    prev = info.get("previous")
    t.append("previous: ", style="bold")
    if prev:
        t.append(f"{prev.get('size', '?')} bytes, crc {prev.get('crc', '?')} (rollback possible)\n"
                 if "error" not in prev else f"unreadable ({prev['error']})\n")
    else:
        t.append("none (nothing to roll back to)\n", style="dim")
    up = info.get("upload")
    if up:
        t.append(f"interrupted upload: {up.get('offset')} of {up.get('total')} bytes (resumes)\n", style="yellow")
    return t


class UploadScreen(GarmentScreen):
    MODE = "upload"
    BINDINGS = [
        Binding("ctrl+u", "upload", "Upload", priority=True),
        Binding("ctrl+b", "rollback", "Roll back", priority=True),
        Binding("ctrl+i", "refresh", "Garment info", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, Path] = {}
        self.selected: ModelFile | None = None
        self.busy = False
        self.garment_info: dict[str, Any] | None = None
        self.last_verified: bool | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="upload-body"):
            with Vertical(id="model-files-box"):
                yield Static("Model files", classes="screen-title")
                yield OptionList(id="model-files")
                yield SafeInput(placeholder="or a path to a .gmdl file, Enter", id="model-path")
            with Vertical(id="upload-main"):
                yield Static("Upload a decoder to the garment", classes="screen-title")
                yield Static("", id="model-details", classes="panel")
                yield Static("", id="garment-model", classes="panel")
                yield ProgressBar(id="upload-progress", total=100, show_eta=False)
                yield Static("", id="upload-status")
                with Horizontal(classes="buttons"):
                    yield Button("Upload + verify (Ctrl+U)", id="upload", variant="primary")
                    yield Button("Roll back (Ctrl+B)", id="rollback", variant="warning")
                    yield Button("Refresh", id="refresh")

    def on_mount(self) -> None:
        self.query_one("#model-details", Static).border_title = "Selected file"
        self.query_one("#garment-model", Static).border_title = "On the garment"
        self.populate()
        self.action_refresh(quiet=True)

    def on_screen_resume(self) -> None:
        self.populate()
        self.action_refresh(quiet=True)

    def populate(self) -> None:
        ol = self.query_one("#model-files", OptionList)
        paths = candidate_models(self.garment_app.last_model_path)
        self.files = {f"m{i}": p for i, p in enumerate(paths)}
        ol.clear_options()
        if not paths:
            ol.add_option(Option("no model files found (train one on F4)", disabled=True))
            return
        latest = self.garment_app.last_model_path
        for oid, p in self.files.items():
            tag = "  [green](just trained)[/green]" if latest and Path(latest).resolve() == p else ""
            ol.add_option(Option(f"{p.name}{tag}\n  [dim]{p.parent}[/dim]", id=oid))
        ol.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        p = self.files.get(event.option.id or "")
        if p is not None:
            self.select(p)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        p = Path(event.value.strip()).expanduser()
        if not p.is_file():
            self.garment_app.report(f"no such file: {p}", "error")
            return
        self.select(p)

    def select(self, path: Path) -> None:
        box = self.query_one("#model-details", Static)
        try:
            self.selected = inspect_model(path)
        except Exception as e:  # noqa: BLE001 - an unreadable model is shown, not raised
            from garment.tui.errors import describe

            self.selected = None
            box.update(Text(f"{path.name}: not a usable model ({describe(e)})", style="red"))
            return
        m = self.selected
        t = Text()
        t.append(f"{m.path.name}\n", style="bold")
        t.append(f"{m.description}\n{m.size} bytes, file CRC {m.trailer_crc}\n")
        s = self.session
        if s is not None and m.fs is not None and (m.fs != s.fs or (m.n_ch or 0) > s.n_ch):
            t.append(f"warning: made for {m.n_ch} ch at {m.fs} Hz; the garment streams {s.n_ch} ch at {s.fs} Hz\n",
                     style="yellow")
        box.update(t)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "upload":
            self.action_upload()
        elif event.button.id == "rollback":
            self.action_rollback()
        elif event.button.id == "refresh":
            self.action_refresh()

    # ---- garment ---------------------------------------------------------------------
    def action_refresh(self, quiet: bool = False) -> None:
        s = self.session
        if s is None or not s.connected:
            self.query_one("#garment-model", Static).update(Text("no garment connected", style="dim"))
            return
        self.garment_app.run_guarded(self._refresh(quiet), "Model information", group="upload-info")

    async def _refresh(self, quiet: bool) -> None:
        s = self.session
        if s is None:
            return
        info = await s.refresh_model()
        self.garment_info = info
        self.query_one("#garment-model", Static).update(garment_model_text(info))
        if info is None and not quiet:
            self.garment_app.report("the garment did not report its model (see the log)", "warning")

    def action_upload(self) -> None:
        if self.busy:
            self.garment_app.report("an upload is already running", "warning")
            return
        if self.require_session("Upload") is None:
            return
        if self.selected is None:
            self.garment_app.report("Upload: choose a usable model file first", "warning")
            return
        self.busy = True
        self.garment_app.run_guarded(self._upload(self.selected), "Upload", group="upload")

    async def _upload(self, m: ModelFile) -> None:
        s = self.session
        assert s is not None
        bar = self.query_one("#upload-progress", ProgressBar)
        status = self.query_one("#upload-status", Static)
        self.last_verified = None
        try:
            data = await asyncio.to_thread(m.path.read_bytes)
            bar.update(total=len(data), progress=0)
            status.update(f"uploading {m.path.name} ({len(data)} bytes)...")

            def progress(done: int, total: int) -> None:
                bar.update(total=total, progress=done)

            info = await s.upload_model(data, progress=progress)
            bar.update(total=len(data), progress=len(data))
            status.update("verifying...")
            check = await s.refresh_model() or info
            self.garment_info = check
            self.query_one("#garment-model", Static).update(garment_model_text(check))
            active = (check or {}).get("active") or {}
            ok = matches(m, check)
            self.last_verified = ok
            if ok:
                status.update(Text(f"{m.path.name}: uploaded, verified ({m.size} bytes, CRC ok) and active",
                                   style="bold green"))
                self.garment_app.report(f"Model {m.path.name} verified and active on the garment")
            else:
                status.update(Text(f"{m.path.name}: uploaded but NOT verified: the garment reports "
                                   f"{json.dumps(active) if active else 'no active model'}", style="bold red"))
                self.garment_app.report("Upload not verified: the garment's active model is not this file",
                                        "error", timeout=10)
        except BaseException:
            status.update(Text("upload failed (see the notification); the garment keeps its previous model",
                               style="red"))
            raise
        finally:
            self.busy = False

    def action_rollback(self) -> None:
        if self.busy:
            return
        if self.require_session("Roll back") is None:
            return
        from garment.tui.screens.dialogs import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self.garment_app.run_guarded(self._rollback(), "Roll back", group="upload")

        self.app.push_screen(ConfirmScreen("Roll back to the previous model?",
                                           "The garment reactivates the model it had before the last upload.",
                                           yes="Roll back"), answered)

    async def _rollback(self) -> None:
        s = self.session
        assert s is not None
        try:
            info = await s.model_rollback()
            self.garment_info = info
            await s.refresh_model()
            self.query_one("#garment-model", Static).update(garment_model_text(info))
            active = info.get("active") or {}
            self.query_one("#upload-status", Static).update(f"rolled back: active crc {active.get('crc', 'none')}")
            self.garment_app.report(f"Rolled back: the garment's active model is crc {active.get('crc', 'none')}")
        finally:
            self.busy = False
