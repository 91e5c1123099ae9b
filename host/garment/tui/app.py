"""The companion app: a Textual TUI to connect to a garment, watch EMG live, calibrate,
record and train a decoder, upload it, run the HIL suite and read the garment's log.

Safety first: ``space`` is an app-level *priority* binding that sends the emergency
stop at once from any screen (even while a screen is busy or an input has focus), in
its own worker, never queued behind other work; the E-STOP bar at the bottom of every
screen shows the latched state until it is reset. Long work runs in workers (threads
for CPU work), and every error becomes a one-line notification.
"""
from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.worker import Worker

from garment.tui import config
from garment.tui.discovery import Discovery
from garment.tui.errors import describe
from garment.tui.session import EventLog, GarmentSession
from garment.tui.widgets.estop import SafetyView


@dataclass
class Timings:
    """Durations of the guided procedures (tests shorten them)."""

    countdown_s: int = 3
    rest_s: float = 5.0
    mvc_s: float = 3.0
    ramp_step_s: float = 1.0


NOT_CONNECTED = "○ not connected"

SCREEN_CLASSES = {
    "connect": "garment.tui.screens.connect:ConnectScreen",
    "live": "garment.tui.screens.live:LiveScreen",
    "calibrate": "garment.tui.screens.calibrate:CalibrateScreen",
    "train": "garment.tui.screens.train:TrainScreen",
    "upload": "garment.tui.screens.upload:UploadScreen",
    "hil": "garment.tui.screens.hil:HilScreen",
    "log": "garment.tui.screens.log:LogScreen",
    "review": "garment.tui.screens.review:ReviewScreen",
    "motorunits": "garment.tui.screens.motorunits:MotorUnitsScreen",
}


def _screen_factory(name: str) -> Callable[[], Any]:
    """A mode's screen, imported when first shown (keeps start-up fast)."""

    def make() -> Any:
        import importlib

        module, _, cls = SCREEN_CLASSES[name].partition(":")
        return getattr(importlib.import_module(module), cls)()

    return make


class GarmentApp(App[int]):
    """The garment companion. ``device``: connect at start (None: the Connect screen)."""

    TITLE = "Garment companion"
    CSS_PATH = "garment.tcss"
    ENABLE_COMMAND_PALETTE = False

    MODES = {name: _screen_factory(name) for name in SCREEN_CLASSES}

    BINDINGS = [
        # The emergency stop: priority, so no focused widget or busy screen can swallow it.
        Binding("space", "estop", "E-STOP", priority=True),
        Binding("ctrl+r", "reset_estop", "Reset E-stop", priority=True),
        Binding("f1", "switch_mode('connect')", "Connect", show=False, priority=True),
        Binding("f2", "switch_mode('live')", "Live", show=False, priority=True),
        Binding("f3", "switch_mode('calibrate')", "Calibrate", show=False, priority=True),
        Binding("f4", "switch_mode('train')", "Train", show=False, priority=True),
        Binding("f5", "switch_mode('upload')", "Upload", show=False, priority=True),
        Binding("f6", "switch_mode('hil')", "HIL", show=False, priority=True),
        Binding("f7", "switch_mode('log')", "Log", show=False, priority=True),
        Binding("f8", "switch_mode('review')", "Review", show=False, priority=True),
        Binding("f9", "switch_mode('motorunits')", "Motor units", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    safety: reactive[SafetyView] = reactive(SafetyView)
    connection: reactive[str] = reactive(NOT_CONNECTED)

    def __init__(
        self,
        device: str | None = None,
        *,
        discovery: Discovery | None = None,
        session: GarmentSession | None = None,
        start_mode: str | None = None,
        timings: Timings | None = None,
        hil_path: str | None = None,
    ) -> None:
        super().__init__()
        self.initial_device = device
        self.discovery = discovery or Discovery()
        self.session: GarmentSession | None = session
        self.start_mode = start_mode
        self.timings = timings or Timings()
        self.hil_path = hil_path
        self.event_log = session.log if session is not None else EventLog()
        self.internal_errors: list[str] = []
        self._error_times: list[float] = []
        self.connecting: str | None = None
        self._backstop = False  # the internal-error backstop is armed once the app runs
        self.last_model_path: str | None = None  # the Train screen's latest model, for Upload
        self._shutting_down = False

    # ---- start and stop ------------------------------------------------------------
    def on_mount(self) -> None:
        if self.session is not None:
            self._adopt(self.session)
        mode = self.start_mode or ("live" if self.session is not None or self.initial_device else "connect")
        self.switch_mode(mode)
        self.set_interval(0.1, self.refresh_safety)
        if self.session is None and self.initial_device:
            self.connect_to(self.initial_device)
        self._backstop = True

    async def action_quit(self) -> None:
        await self.shutdown()
        self.exit(0)

    async def shutdown(self) -> None:
        """Stop workers and close the garment session (stops a simulated garment)."""
        if self._shutting_down:
            return
        self._shutting_down = True
        self.workers.cancel_all()
        s, self.session = self.session, None
        if s is not None:
            try:
                await s.close()
            except Exception as e:  # noqa: BLE001 - closing anyway
                self.event_log.add("host", "warning", describe(e, "closing the session"))

    async def on_unmount(self) -> None:
        await self.shutdown()

    # ---- errors ----------------------------------------------------------------------
    def report(self, message: str, severity: str = "information", timeout: float | None = None,
               source: str = "host") -> None:
        """Notify (one line, never markup-interpreted) and log."""
        level = {"information": "info"}.get(severity, severity)
        self.event_log.add(source, level, message)
        self.notify(message, severity=severity, timeout=timeout, markup=False)  # type: ignore[arg-type]

    def report_error(self, error: BaseException, action: str = "") -> None:
        self.report(describe(error, action), "error", timeout=10)

    def run_guarded(
        self,
        work: Awaitable[Any],
        action: str,
        *,
        group: str = "default",
        exclusive: bool = False,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Worker[Any]:
        """Run ``work`` in a worker; any error becomes a notification ``action: ...``."""

        async def guarded() -> Any:
            try:
                return await work
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - shown to the user, never a traceback
                if on_error is not None:
                    on_error(e)
                else:
                    self.report_error(e, action)
                return None

        return self.run_worker(guarded(), name=action, group=group, exclusive=exclusive, exit_on_error=False)

    def _handle_exception(self, error: Exception) -> None:
        # A last line of defence against bugs: log the traceback to a file and tell the
        # user in one line instead of tearing the interface down. A storm of errors
        # (e.g. a widget that cannot render) still ends the app the normal way.
        now = time.monotonic()
        self._error_times = [t for t in self._error_times if now - t < 2.0] + [now]
        where = self._write_traceback(error)
        self.internal_errors.append(f"{type(error).__name__}: {error}")
        if len(self._error_times) > 5 or self._shutting_down or not self._backstop:
            super()._handle_exception(error)
            return
        self.report(f"internal error: {type(error).__name__}: {error}" + (f" (details in {where})" if where else ""),
                    "error", timeout=15)

    def _write_traceback(self, error: BaseException) -> str | None:
        try:
            path = config.log_dir() / "tui-errors.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as f:
                f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + "".join(
                    traceback.format_exception(type(error), error, error.__traceback__)) + "\n")
            return str(path)
        except OSError:
            return None

    # ---- connection --------------------------------------------------------------------
    def connect_to(self, spec: str) -> None:
        """Connect (in a worker) and open the Live screen; errors are notified."""
        if self.connecting is not None:
            self.report(f"already connecting to {self.connecting}", "warning")
            return
        self.connecting = spec
        self.connection = f"… connecting to {spec}"
        self.run_guarded(self._connect(spec), f"could not connect to {spec}", group="connect")

    async def _connect(self, spec: str) -> None:
        try:
            old, self.session = self.session, None
            if old is not None:
                await old.close()
            self.refresh_safety()
            self.event_log.add("host", "info", f"connecting to {spec}")
            session = await GarmentSession.open(spec, log=self.event_log)
            try:
                await session.start()
            except BaseException:
                await session.close()
                raise
        except BaseException:
            self.connection = NOT_CONNECTED
            raise
        finally:
            self.connecting = None
        self._adopt(session)
        try:
            config.remember_device(spec)
        except OSError as e:
            self.report_error(e, "could not remember the device")
        self.report(f"Connected: {session.title}, firmware {session.firmware}, "
                    f"{session.n_ch} channels at {session.fs} Hz")
        if self.current_mode == "connect":
            await self.switch_mode("live")

    def _adopt(self, session: GarmentSession) -> None:
        self.session = session
        session.on_alert = lambda text, severity: self.notify(text, severity=severity, markup=False,  # type: ignore[arg-type]
                                                              timeout=10)
        self.connection = f"● {session.title}  fw {session.firmware}"
        self.refresh_safety()

    async def disconnect(self) -> None:
        s, self.session = self.session, None
        self.connection = NOT_CONNECTED
        if s is not None:
            await s.close()
            self.event_log.add("host", "info", f"disconnected from {s.title}")
        self.refresh_safety()

    # ---- safety ------------------------------------------------------------------------
    def refresh_safety(self) -> None:
        s = self.session
        if s is None:
            self.safety = SafetyView()
            return
        st = s.stim
        if s.connected:
            self.connection = f"● {s.title}  fw {s.firmware}"
        else:
            self.connection = f"✖ {s.title}: link lost"
        self.safety = SafetyView(
            connected=s.connected,
            lost=not s.connected,
            latched=s.estop_latched,
            pending=s.estop_pending,
            error=None if s.estop_latched else s.estop_error,
            state=st.state if st is not None else "unknown",
            fault=st.fault if st is not None else "none",
            armed_mask=st.armed_mask if st is not None else 0,
            amplitude_ma=(max(st.amplitude_ua) / 1000.0) if st is not None and st.amplitude_ua else 0.0,
            **({"reset_hint": f"Ctrl+R cannot reset it over BLE yet: {s.PROVISION_HINT}."}
               if s.needs_provisioning else {}),
        )

    def action_estop(self) -> None:
        """Emergency stop: sent at once in its own worker; host-side stimulation work stops too."""
        self.cancel_stimulation_work()
        s = self.session
        if s is None or not s.connected:
            self.report("E-STOP: no garment is connected, nothing was sent. "
                        "If a garment is stimulating, switch it off.", "error", timeout=15, source="stim")
            return
        self.run_worker(self._estop(s), name="estop", group="estop", exit_on_error=False)
        self.refresh_safety()

    async def _estop(self, s: GarmentSession) -> None:
        try:
            await s.estop()
        except Exception as e:  # noqa: BLE001 - whatever the reason, the user must know
            self.report(describe(e, "E-STOP NOT CONFIRMED") + ". Switch the garment off.", "error",
                        timeout=20, source="stim")
        else:
            if s.estop_latched:
                self.report("E-STOP latched: stimulation off until reset (Ctrl+R).", "warning", source="stim")
            else:
                self.report(f"E-STOP sent; the garment reports {s.stim.state if s.stim else '?'}", "warning",
                            source="stim")
        finally:
            self.refresh_safety()

    def cancel_stimulation_work(self) -> None:
        """Cancel every host-side worker that would send more stimulation (group 'stim')."""
        for w in list(self.workers):
            if w.group == "stim" and not w.is_finished:
                w.cancel()

    def action_reset_estop(self) -> None:
        s = self.session
        if s is None or not s.connected:
            self.report("Reset E-stop: no garment connected", "warning")
            return
        if s.needs_provisioning:
            self.report(f"Reset E-stop: {s.PROVISION_HINT}.", "warning", timeout=15)
            return
        from garment.tui.screens.dialogs import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_guarded(self._reset(s), "Reset E-stop", group="estop-reset")

        self.push_screen(ConfirmScreen(
            "Reset the emergency stop / fault?",
            "Only when the person is safe and the electrodes are in place. Stimulation stays off "
            "until it is armed again.", yes="Reset"), answered)

    async def _reset(self, s: GarmentSession) -> None:
        st = await s.fault_reset()
        self.refresh_safety()
        self.report(f"Fault reset: stimulation {st.state}")
