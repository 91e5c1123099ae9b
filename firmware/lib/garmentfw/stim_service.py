# The stimulation service of the Device: it builds the stimulation stages, runs them in
# order every loop pass and adapts the wire's requests to them (calibration, limits, arm,
# disarm, E-stop, fault reset, test train, crank, state). The stages:
#   emg_guard.EmgGuard         raw stage: EMG at the rail, dead or stalled (8)
#   artefact_stage.ArtefactStage  raw stage: blank window after each pulse, measured answer (11)
#   control.ControlStage       decoder outputs -> activations -> policy -> supervisor clip
#                              -> engine (1, 4, 6)
#   safety_checks.SafetyChecks  the supervisor's checks every pass (2, 3, 8, 10)
#   manual_trains.ManualTrains  T_STIM_TEST trains
#   stim_engine.StimEngine      pulses through the HAL stimulator driver (5, 6, 7)
#   pulse_report.PulseReport    R_PULSES telemetry
#   limits_record               the stored limits
# app.make_device registers the raw stages with the Device and connects the decoder's
# outputs to control.on_decoder and the model slot's notifications to on_model.
#
# Link loss (on_disconnect): stimulation stops AT ONCE with FAULT_HEARTBEAT ("host link
# dropped"): without a link no heartbeat can arrive, so waiting for the heartbeat
# timeout (2) would only add up to limits.heartbeat_ms of unsupervised output. Re-arming
# (after reconnecting and authenticating) clears it, as for any heartbeat fault.
#
# R_EVENT codes: wire.EV_STIM (0x20) state transitions and faults, wire.EV_STIM_INFO (0x21) notes
# (calibration/limits refused at boot, test train done, saved records, blank window).
import struct
import time


from garmentfw import limits as L
from garmentfw import budget, limits_record, wire
from garmentfw.artefact_stage import ArtefactStage
from garmentfw.calibration import CALIB_LEN, Calibration, CalibrationSet
from garmentfw.control import ControlStage
from garmentfw.emg_guard import EmgGuard
from garmentfw.manual_trains import ManualTrains
from garmentfw.pulse_report import PulseReport
from garmentfw.safety_checks import SafetyChecks
from garmentfw.stim_engine import StimEngine
from garmentfw.supervisor import Supervisor



def _reset_cause() -> str:
    """Why the MCU (re)started (machine.reset_cause), for the log: a watchdog reset or a
    crash loop must be visible to the user, not only the outputs left off."""
    try:
        import machine

        c = getattr(machine, "reset_cause")()  # absent on the unix port
    except (ImportError, AttributeError):
        return "not reported by this port"
    for name in ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"):
        if getattr(machine, name, None) == c:
            return name
    return "code %d" % c


class StimService:
    def __init__(self, device, driver, clock_us=None):
        """``driver``: the board's stimulator (hal.Stimulator)."""
        driver.all_off()  # power-up / reset: off before anything else can fail (1)
        self.dev = device
        self.drv = driver
        self.n = driver.n_channels
        if not 1 <= self.n <= wire.MAX_CHANNELS:
            raise ValueError("stimulator channels %d not in 1..%d" % (self.n, wire.MAX_CHANNELS))
        self._clock = clock_us or time.ticks_us
        notes = ["reset cause: %s (stimulation off until armed)" % _reset_cause()]
        self.limits = limits_record.load(device.store, notes)
        self.calib = CalibrationSet(self.n, device.store)
        notes.extend(self.calib.load(self.limits))
        self._ready = False  # no transition messages before the service exists
        self.sup = Supervisor(self.n, self.limits, self.calib, self._changed, self._zero_all, self._zero_ch,
                              device.store)
        self.sup.min_width_us = driver.min_width_us
        self.sup.settle_us = getattr(driver, "settle_us", 0)
        self.sup.estop_input = driver.estop_active
        self.engine = StimEngine(driver, self.n, self.sup, self._clock)
        self.artefacts = ArtefactStage(device.ring, self.engine, self._clock)
        self.guard = EmgGuard(device.board.afe, self.artefacts.blanker)
        self.control = ControlStage(self.n, self.sup, self.calib, self.engine, self._clock)
        self.checks = SafetyChecks(self.sup, driver, self.guard, device.board)
        self.trains = ManualTrains(self.n, self.sup, self.calib, self.engine, self._clock, self._note)
        self.pulses = PulseReport(self.engine, device.send_packet)
        self.engine.zero_all()
        link = device.board.link
        if hasattr(link, "on_estop"):  # a board with two links (boards/dual_link.py)
            link.hold = self.sup.armed  # no change of host while armed
            link.on_estop = self._estop_other_link  # E-STOP from every link
        self.ticks = 0  # periodic ticks run (at most one per budget.PERIOD_MS)
        self._tick_ms = 0  # the ms of the last periodic tick (none yet while ticks == 0)
        self._arm_session = -1
        self._ready = True
        for note in notes:
            device.event(wire.EV_STIM_INFO, note)

    def _note(self, text: str) -> None:
        self.dev.event(wire.EV_STIM_INFO, text)

    # ---- Device service API --------------------------------------------------------
    def handlers(self):
        return {
            wire.T_CALIB_SET: (self._calib_set, CALIB_LEN, True),
            wire.T_CALIB_GET: (self._calib_get, 1, False),
            wire.T_ARM: (self._arm, 0, True),
            wire.T_DISARM: (self._disarm, 0, True),
            wire.T_ESTOP: (self._estop, 0, False),
            wire.T_FAULT_RESET: (self._fault_reset, 0, True),
            wire.T_STIM_TEST: (self._stim_test, 11, True),
            wire.T_SET_LIMITS: (self._set_limits, L.LIMITS_LEN, True),
            wire.T_GET_LIMITS: (self._get_limits, 0, False),
            wire.T_STIM_STATE: (self._state_req, 0, False),
            wire.T_CRANK: (self._crank, 4, True),
            wire.T_ACTIVATION: (self._activation, -1, True),  # ANY_LEN: 1 + 2n, checked by the control stage
        }

    def _estop_other_link(self) -> None:
        self.sup.estop("T_ESTOP on the other link")

    def _session_id(self) -> int:
        """The authenticated session now (auth.generation), -1 without one."""
        a = self.dev.auth
        if a is None or not getattr(a, "authenticated", True):
            return -1
        return getattr(a, "generation", 0)

    def tick(self, now_ms) -> bool:
        """At most every budget.PERIOD_MS (the first pass after it): the supervisor's
        checks, the test trains, the control stage, then the pulse engine, then R_PULSES.
        On the passes between, only the pulse engine, and only while a channel is active
        (its pulses are timed in us). True if it delivered or sent anything.

        Why every PERIOD_MS is enough: every bound it serves is in ms and longer by a
        margin (the E-stop button's 10 ms: at most PERIOD_MS plus a pass; heartbeat 100 ms
        after the timeout; session and dose caps; EMG checks on what the raw stage latched
        since the last check; R_PULSES every FLUSH_US); the E-stop and disarm requests act
        in their handlers, not here; and the engine's last gate (supervisor.allowed) still
        checks every pulse."""
        eng = self.engine
        since = time.ticks_diff(now_ms, self._tick_ms)
        if 0 <= since < budget.PERIOD_MS and self.ticks:  # negative: a wrap apart, due (M1)
            if not eng.active_mask:
                return False
            try:
                return eng.tick(self._clock()) > 0
            except Exception as e:  # never leave the output on after an error
                self.safe_off("tick: %r" % (e,))
                return False
        self._tick_ms = now_ms
        self.ticks += 1
        sup = self.sup
        try:
            if sup.armed() and self._session_id() != self._arm_session:
                # (2, 12) the heartbeat belongs to the session that armed: it ended
                sup.trip(wire.FAULT_HEARTBEAT, "the authenticated session that armed ended: authenticate and re-arm")
            self.checks.run(now_ms, self.dev.last_ping_ms)
            if sup.armed():
                self.trains.end_due(now_ms)
                self.control.tick(now_ms)
            news = self.artefacts.window_news(self.limits.blank_us)
            if news is not None:
                self._note(news)
            now_us = self._clock()
            n = eng.tick(now_us)
            sup.output_active(eng.active_mask != 0, now_ms)
            sent = self.pulses.flush(now_us, False)
            return n > 0 or sent
        except Exception as e:  # never leave the output on after an error
            self.safe_off("tick: %r" % (e,))
            return False

    def on_config(self) -> None:
        """The acquisition was reconfigured (AFE restarted, indices from 0; the raw stages
        are reconfigured by the Device): disarm (output zero, the host re-arms)."""
        if self.sup.armed():
            self.sup.disarm("acquisition reconfigured: re-arm")

    def on_disconnect(self) -> None:
        if self.sup.armed():
            self.sup.trip(wire.FAULT_HEARTBEAT, "host link dropped")

    def model_change_refused(self):
        """(1) A new or rolled-back model while armed would take over the output without
        a new arm: refused (disarm first)."""
        if self.sup.armed():
            return "stimulation is armed: send T_DISARM first (a new model needs a new arm)"
        return None

    def on_model(self, net, fx=None) -> None:
        """The model slot's notification: a verified model is active (``net``) or none."""
        bad = self.control.on_model(net)
        if bad:
            self._note(bad)

    def safe_off(self, why: str = "exception") -> None:
        """Everything off now, FAULT_INTERNAL latched; safe to call from any error path."""
        try:
            self.drv.all_off()
        except Exception:
            pass
        try:
            self.engine.zero_all()
        except Exception:
            pass
        try:
            self.sup.trip(wire.FAULT_INTERNAL, why)
        except Exception:
            pass

    # ---- supervisor callbacks ------------------------------------------------------
    def _zero_all(self) -> None:
        self.engine.zero_all()  # -> driver.all_off(): output-enable low

    def _zero_ch(self, ch: int) -> None:
        self.engine.zero(ch)

    def _changed(self, state: int, fault: int, text: str) -> None:
        if not self._ready:
            return
        self.pulses.flush(self._clock(), True)  # the pulses before the change go first
        self.dev.event(wire.EV_STIM, "stim %s (fault %s): %s" % (
            wire.SS_NAMES.get(state, "?"), wire.FAULT_NAMES.get(fault, "?"), text))
        self.dev.reply(wire.R_STIM_STATE, wire.NO_REF, self.state_bytes())

    def state_bytes(self) -> bytes:
        s = self.sup
        a = self.engine.amp
        return struct.pack(wire.STIM_STATE_FMT, s.state, s.fault, s.armed_mask & 0xFF, s.electrode_mask & 0xFF,
                           a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])

    # ---- request handlers: the wire -> the stages ------------------------------------
    def _reply_state(self, seq) -> None:
        self.dev.reply(wire.R_STIM_STATE, seq, self.state_bytes())

    def _guard(self, e) -> None:
        # A handler failed half-way: make sure nothing is left on, then let the device
        # answer E_INTERNAL.
        self.safe_off("request handler: %r" % (e,))

    def _battery(self) -> int:
        return self.dev.board.battery_mv()

    def _arm(self, seq, pkt, n) -> None:
        try:
            now = time.ticks_ms()
            pol = self.control.policy
            bad = pol.cap_below_motor(self.calib.motor, self.calib.max, self.n) if pol is not None else None
            if bad:  # a calibration changed under the model's policy
                self.dev.error(seq, wire.E_OUT_OF_RANGE, bad)
                return
            err = self.sup.arm(now, self._battery(), self.checks.emg_now(now))
            if err is not None:
                self.dev.error(seq, err[0], err[1])
                return
            self.sup.heartbeat_at_arm(self.dev.last_ping_ms)
            self._arm_session = self._session_id()
            self.control.ready_engine(self.limits)
            self.drv.enable()
            self._reply_state(seq)
        except Exception as e:
            self._guard(e)
            raise

    def _disarm(self, seq, pkt, n) -> None:
        self.sup.disarm("T_DISARM")
        self._reply_state(seq)

    def _estop(self, seq, pkt, n) -> None:
        self.sup.estop("T_ESTOP")  # (3) zero first: same pass, before the reply is built
        self._reply_state(seq)

    def _fault_reset(self, seq, pkt, n) -> None:
        now = time.ticks_ms()
        err = self.sup.fault_reset(self._battery(), self.checks.emg_now(now))
        if err is not None:
            self.dev.error(seq, err[0], err[1])
            return
        self._reply_state(seq)

    def _stim_test(self, seq, pkt, n) -> None:
        try:
            ch, amp, width, freq, dur = struct.unpack_from(wire.STIM_TEST_FMT, pkt, 3)
            err = self.sup.check_test(ch, amp, width, freq, dur)
            if err is not None:
                self.dev.error(seq, err[0], err[1])
                return
            self.pulses.flush(self._clock(), True)  # the old train's pulses go before the reply
            self.trains.start(ch, amp, width, freq, dur)
            self._reply_state(seq)
        except Exception as e:
            self._guard(e)
            raise

    def _calib_reply(self, seq, ch) -> None:
        got = self.calib.get(ch)
        # all zero but the channel: no calibration
        self.dev.reply(wire.R_CALIB, seq, got.pack() if got is not None else Calibration(ch, 0, 0, 0, 0, 0, 0).pack())

    def _calib_set(self, seq, pkt, n) -> None:
        if self.sup.armed():
            self.dev.error(seq, wire.E_BAD_STATE, "disarm before changing a calibration")
            return
        cal = Calibration.unpack(pkt, 3)
        err = self.calib.set(cal, self.limits)
        if err is not None:
            self.dev.error(seq, err[0], err[1])
            return
        self.sup.refresh()
        self._calib_reply(seq, cal.channel)

    def _calib_get(self, seq, pkt, n) -> None:
        ch = pkt[3]
        if ch >= self.n:
            self.dev.error(seq, wire.E_OUT_OF_RANGE, "channel=%d not in 0..%d" % (ch, self.n - 1))
            return
        self._calib_reply(seq, ch)

    def _set_limits(self, seq, pkt, n) -> None:
        new = L.Limits.unpack(pkt, 3)
        bad = new.validate()
        if bad:
            self.dev.error(seq, wire.E_OUT_OF_RANGE, bad)
            return
        if self.sup.armed():
            self.dev.error(seq, wire.E_BAD_STATE, "disarm before changing the limits")
            return
        bad = self.calib.check_limits(new)
        if bad:
            self.dev.error(seq, wire.E_OUT_OF_RANGE, bad)
            return
        try:
            limits_record.save(self.dev.store, new)
        except Exception as e:
            self.dev.error(seq, wire.E_STORAGE, "limits not stored: %s" % (e,))
            return
        limits_record.update(self.limits, new)
        self.dev.reply(wire.R_LIMITS, seq, self.limits.pack())

    def _get_limits(self, seq, pkt, n) -> None:
        self.dev.reply(wire.R_LIMITS, seq, self.limits.pack())

    def _state_req(self, seq, pkt, n) -> None:
        self._reply_state(seq)

    def _crank(self, seq, pkt, n) -> None:
        angle, crpm = struct.unpack_from("<HH", pkt, 3)
        if angle >= 36000:
            self.dev.error(seq, wire.E_OUT_OF_RANGE, "angle_cdeg=%d not in 0..35999" % angle)
            return
        self.control.crank_sensor(angle, crpm)
        self.dev.reply(wire.R_ACK, seq, bytes((wire.T_CRANK,)))

    def _activation(self, seq, pkt, n) -> None:
        # Host activations (neural drive) take the decoder's path: policy, calibration clip,
        # slew, every supervisor check. Refused, never clamped, and never held over a disarm.
        bad = self.control.external_activation(pkt, 3, n)
        if bad:
            code = wire.E_BAD_STATE if bad[0] == "s" else wire.E_MALFORMED if bad[0] == "m" else wire.E_OUT_OF_RANGE
            self.dev.error(seq, code, bad[1:])
            return
        self.dev.reply(wire.R_ACK, seq, bytes((wire.T_ACTIVATION,)))
