# The stimulation feature of the Device: link requests (calibration, limits, arm,
# disarm, E-stop, fault reset, test train, crank), the per-loop safety checks, the pulse
# engine, R_PULSES telemetry, EMG rail/dead checks and artefact blanking on raw samples.
#
# Wiring (garmentfw/app.py):
#     dev = Device(board)
#     stim = StimFeature(dev)          # uses board.stim (the HAL driver); sets dev.stim
#     dev.add_feature(stim)
#     ... on an exception: stim.safe_off(); board.safe_state()
#
# API for the decoder feature (all allocation-free except set_model):
#   The model: every tick the feature follows device.decoder (DecoderFeature):
#       decoder.verified and decoder.net -> set_model(net.stim) (net.scale and
#       net.classifier say how to read the outputs); no verified model -> clear_model().
#   on_decoder(label, out, n_out)          once per window (DecoderFeature._window):
#       classifier: one-hot activation of the decided class (-1 rejected: all off);
#       regression: activation = out[i] * scale clipped to 0..1, and for the cycling
#       policy the crank angle from output angle_output (degrees).
#   set_model(stim_section) -> None | str   (also direct) parse the stimulation section
#       (Policy.from_dict); returns an error message (closed loop stays off) if invalid.
#       Enables closed-loop output (1): model_ok.
#   clear_model()                          no verified model: closed-loop output off.
#   set_activation(acts, n)                per decoder-output activations, Q12 (4096 =
#       1.0), through the policy to target amplitudes (call once per feature window).
#   set_targets(amps_ua, n)                per-channel target amplitudes in uA chosen by
#       the decoder itself (0 = off); clipped to the calibrated [motor, max] range.
#   set_crank(angle_cdeg, cadence_crpm=-1) crank angle from the decoder's regression
#       output (cadence -1: estimated from successive angles); T_CRANK calls it too.
# Closed-loop targets only act while armed and a model is loaded; they are clipped by
# the supervisor (the one allowed clip) and slewed by the engine.
#
# Link loss (on_disconnect): stimulation stops AT ONCE with FAULT_HEARTBEAT ("host link
# dropped"): without a link no heartbeat can arrive, so waiting for the heartbeat
# timeout would only add up to limits.heartbeat_ms of unsupervised output. Re-arming
# (after reconnecting and authenticating) clears it, as for any heartbeat fault.
#
# R_EVENT codes: EV_STIM (0x20) state transitions and faults, EV_STIM_INFO (0x21) notes
# (calibration/limits refused at boot, test train done, saved records).
import struct
import time
from array import array

import micropython
from micropython import const

from garmentfw import limits as L
from garmentfw import wire
from garmentfw.calibration import CALIB_LEN, Calibration, CalibrationSet
from garmentfw.evoked import MARGIN_US, EvokedWindow
from garmentfw.framing import Framer
from garmentfw.stim_engine import Blanker, StimEngine
from garmentfw.stim_policy import ACT_ONE, Policy
from garmentfw.supervisor import Supervisor

EV_STIM = const(0x20)
EV_STIM_INFO = const(0x21)
PULSES_PER_PACKET = const(20)
FLUSH_US = const(20000)
LIMITS_RECORD = "stim_limits"
_MASK = const(0x3FFFFFFF)
_NCH = const(8)


@micropython.viper
def _scan(blk: ptr32, n: int, n_ch: int, runs: ptr32, rail_n: int, flat_n: int) -> int:
    # Per channel: run length of samples at the ADC rail (runs[ch]) and of exact zeros
    # (runs[8 + ch]), carried across blocks. Returns bits 0-7: rail run reached rail_n in
    # this block, bits 8-15: zero run reached flat_n, bits 16-23: channel bad right now.
    sb = 1
    sb = sb << 31
    seen = 0
    now = 0
    end = n * n_ch
    ch = 0
    while ch < n_ch:
        r = runs[ch]
        z = runs[8 + ch]
        p = ch
        while p < end:
            v = blk[p]
            v = v | (0 - (v & sb))  # sign-extend (a no-op on 32-bit MCUs)
            if v >= 8388607 or v <= -8388608:
                if r < rail_n:
                    r += 1
                if r >= rail_n:
                    seen |= 1 << ch
            else:
                r = 0
            if v == 0:
                if z < flat_n:
                    z += 1
                if z >= flat_n:
                    seen |= 1 << (8 + ch)
            else:
                z = 0
            p += n_ch
        if r >= rail_n or z >= flat_n:
            now |= 1 << ch
        runs[ch] = r
        runs[8 + ch] = z
        ch += 1
    return seen | (now << 16)


class StimFeature:
    def __init__(self, device, driver=None, clock_us=None):
        drv = driver if driver is not None else getattr(device.board, "stim", None)
        if drv is None:
            raise ValueError("the board has no stimulator driver (board.stim)")
        drv.all_off()  # power-up / reset: off before anything else can fail
        self.dev = device
        self._in_pass = False
        self._poll_us = 0
        self.drv = drv
        self.n = drv.n_channels
        if not 1 <= self.n <= wire.MAX_CHANNELS:
            raise ValueError("stimulator channels %d not in 1..%d" % (self.n, wire.MAX_CHANNELS))
        self._clock = clock_us or time.ticks_us
        notes = []
        self.limits = self._load_limits(device.store, notes)
        self.calib = CalibrationSet(self.n, device.store)
        notes.extend(self.calib.load(self.limits))
        self._ready = False  # no transition messages before the feature exists
        self.sup = Supervisor(self.n, self.limits, self.calib, self._changed, self._zero_all, self._zero_ch)
        self.sup.min_width_us = drv.min_width_us
        self.engine = StimEngine(drv, self.n, self.sup, self._clock)
        self.blanker = Blanker()
        self.engine.blanker = self.blanker
        self.evoked = EvokedWindow()
        self.blanker.evoked = self.evoked
        self._window_told = 0  # the grown blank window last reported (0: none)
        self.engine.zero_all()
        self.policy = None
        self._net = None  # the decoder's model the policy came from
        self._classifier = False
        self._one = 4096
        self._one_sh = 0
        self._rev = 360
        self._rev_sh = 0
        self._crank_ext = False
        self._crank_ext_ms = 0
        self._acts = array("i", bytes(4 * 64))
        self._n_acts = 0
        self._targets = array("i", bytes(4 * _NCH))
        self._test_end = [0] * _NCH  # raw ticks_ms: may exceed 32 bits on some ports
        self._pkt = Framer.packet()
        # EMG checks (8)
        self._runs = array("i", bytes(4 * 2 * _NCH))
        self._nch = -1
        self._fs = -1
        self._rail_n = 10
        self._flat_n = 200
        self._chmask = 0
        self._emg_seen = 0
        self._emg_now = 0
        self._last_raw_ms = time.ticks_ms()
        self._have_raw = False
        self.ticks = 0
        self._ready = True
        device.stim = self
        for note in notes:
            device.event(EV_STIM_INFO, note)

    @staticmethod
    def _load_limits(store, notes):
        lim = L.Limits()
        if store is None:
            return lim
        try:
            data = store.load(LIMITS_RECORD)
        except Exception as e:
            notes.append("stored limits refused (%s): defaults in force" % (e,))
            return lim
        if data is None:
            return lim
        if len(data) != L.LIMITS_LEN:
            notes.append("stored limits refused (bad length): defaults in force")
            return lim
        got = L.Limits.unpack(data)
        bad = got.validate()
        if bad:
            notes.append("stored limits refused (%s): defaults in force" % bad)
            return lim
        return got

    # ---- Device feature API --------------------------------------------------------
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
        }

    def tick(self, now_ms) -> bool:
        """The supervisor's checks, then the pulse engine, then R_PULSES. True if it
        delivered or sent anything."""
        self.ticks += 1
        sup = self.sup
        try:
            if self.drv.estop_pressed():
                sup.estop("E-stop button")
            if sup.armed():
                sup.check_heartbeat(now_ms, self.dev.last_ping_ms)
                sup.check_session(now_ms)
                sup.check_emg(self._emg_problem(now_ms, True))
                if sup.battery_due(now_ms):
                    sup.check_battery(now_ms, self.dev.board.battery_mv())
            else:
                self._emg_seen = 0
            sup.check_dose(now_ms)
            self._sync_model()
            if sup.armed():
                if sup.test_mask:
                    self._end_tests(now_ms)
                pol = self.policy
                if pol is not None and pol.continuous and sup.model_ok:
                    pol.targets(self._acts, self._n_acts, self.calib.motor, self.calib.max, self._targets, now_ms)
                    self._apply_targets()
            self._tell_window()
            now_us = self._clock()
            n = self.engine.tick(now_us)
            sup.output_active(self.engine.active_mask != 0, now_ms)
            sent = self._flush(now_us, False)
            return n > 0 or sent
        except Exception as e:  # never leave the output on after an error
            self.safe_off("tick: %r" % (e,))
            return False

    def _tell_window(self) -> None:
        """Report the blank window when the measured answer has grown it (or it shrank
        back) by 2 ms or more: the user sees why less EMG reaches the decoder."""
        ev = self.evoked.window_us
        w = ev if ev > self.limits.blank_us else 0
        if w - self._window_told >= 2000 or self._window_told - w >= 2000:
            self._window_told = w
            if w:
                self.dev.event(EV_STIM_INFO, "blank window %d us: the muscles answer each burst for %d us "
                                             "(limits.blank_us %d)" % (w, w - MARGIN_US, self.limits.blank_us))
            else:
                self.dev.event(EV_STIM_INFO, "blank window back to limits.blank_us %d" % self.limits.blank_us)

    def on_config(self) -> None:
        """The acquisition was reconfigured (AFE restarted, indices from 0; the decoder
        reloads its model): disarm (output zero, the host re-arms), forget the EMG runs
        and the pending blank windows (on_raw re-derives them)."""
        self._nch = -1
        if self.sup.armed():
            self.sup.disarm("acquisition reconfigured: re-arm")

    def on_disconnect(self) -> None:
        if self.sup.armed():
            self.sup.trip(wire.FAULT_HEARTBEAT, "host link dropped")

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

    # ---- hot-path hook: raw samples (before filtering) -----------------------------
    def on_raw(self, block, n: int, first: int) -> None:
        """(11) blank the stimulation artefacts, then (8) rail / flat-zero checks."""
        dev = self.dev
        nch = dev.n_ch
        fs = dev.fs
        if nch != self._nch or fs != self._fs:
            self._emg_config(nch, fs)
        bl = self.blanker
        # Anchor pulse times to AFE indices with the time the AFE was polled (the first
        # block of a pass), not when a late loop got round to the last block.
        if not self._in_pass:
            self._in_pass = True
            self._poll_us = self._clock()
        if dev.ring.count() == 0:  # this block ends with the newest conversion of the poll
            bl.anchor(self._poll_us, (first + n - 1) & _MASK, fs)
            self._in_pass = False
        if self.evoked.feed(block, n, first):  # the raw samples, before blanking
            self.engine.evoked_us = self.evoked.window_us
        fb = dev.filters
        if bl.count and fb is not None:
            bl.apply(block, n, first, fb, self._chmask)
        r = int(_scan(block, n, nch, self._runs, self._rail_n, self._flat_n))
        self._emg_seen |= r & 0xFFFF
        self._emg_now = r >> 16
        self._last_raw_ms = time.ticks_ms()
        self._have_raw = True

    def _emg_config(self, nch, fs):
        self._nch = nch
        self._fs = fs
        self._chmask = (1 << nch) - 1
        self._rail_n = max(1, fs * L.RAIL_MS // 1000)
        self._flat_n = max(1, fs * L.FLAT_MS // 1000)
        for i in range(2 * _NCH):
            self._runs[i] = 0
        self.blanker.reset()
        self.evoked.configure(nch, fs)
        self.engine.evoked_us = self.evoked.window_us

    def _emg_problem(self, now_ms, latched):
        """None, or why the EMG is unusable: (latched) rail/zero runs seen since the last
        check, else the channels bad right now; AFE lead-off; no samples (stalled)."""
        m = self._chmask
        if latched:
            seen = self._emg_seen
            self._emg_seen = 0
            rail = seen & m
            flat = (seen >> 8) & m
        else:
            rail = self._emg_now & m
            flat = 0
        lo = self.dev.board.afe.lead_off & m if m else 0
        if not (rail or flat or lo):
            if self._have_raw and time.ticks_diff(now_ms, self._last_raw_ms) <= L.STALL_MS:
                return None
            return "no EMG samples for more than %d ms" % L.STALL_MS
        if lo:
            return "AFE lead-off on EMG channels 0x%02x" % lo
        if rail and not latched:
            return "EMG at the ADC rail or dead (flat zero) on channels 0x%02x" % rail
        if rail:
            return "EMG at the ADC rail for %d ms on channels 0x%02x" % (L.RAIL_MS, rail)
        return "EMG dead (exactly 0 for %d ms) on channels 0x%02x" % (L.FLAT_MS, flat)

    # ---- the decoder's API ---------------------------------------------------------
    def _sync_model(self) -> None:
        """Follow the decoder feature: a verified model (decoder.verified, decoder.net)
        enables the closed loop with its stimulation section; none disables it."""
        dec = self.dev.decoder
        net = dec.net if dec is not None and dec.verified else None
        if net is self._net:
            return
        self._net = net
        if net is None:
            self.clear_model()
            return
        bad = self.set_model(net.stim)
        if bad:
            self.dev.event(EV_STIM_INFO, bad)
            return
        self._set_scale(net.scale)
        self._classifier = net.classifier

    def _set_scale(self, scale) -> None:
        # Regression outputs (int * scale = real units) as integers, allocation-free per
        # window: activation Q12 = out * 4096 / one (one = LSBs for 1.0); crank angle
        # cdeg = (out mod rev) * 36000 / rev (rev = LSBs per 360 degrees). Divisors are
        # pre-shifted so that every product stays below 2**30.
        one = int(1.0 / scale + 0.5) if scale > 0 else 1
        one = min(max(one, 1), 0x3FFFFFFF)
        sh = 0
        while (one >> sh) > (1 << 17):
            sh += 1
        self._one, self._one_sh = one, sh
        rev = int(360.0 / scale + 0.5) if scale > 0 else 360
        rev = min(max(rev, 1), 0x3FFFFFFF)
        sh = 0
        while (rev >> sh) > 29000:
            sh += 1
        self._rev, self._rev_sh = rev, sh

    def set_model(self, stim_section):
        """A verified model is loaded; its stimulation section sets the policy. Returns
        None, or why the section is refused (the closed loop then stays off)."""
        self.clear_model()
        try:
            pol = Policy.from_dict(stim_section, self.n)
        except (ValueError, TypeError, KeyError) as e:
            return "stimulation policy refused: %s" % (e,)
        self.policy = pol
        self._set_scale(1.0 / 4096)
        self._classifier = False
        self.sup.set_model(True)
        return None

    def clear_model(self) -> None:
        self.sup.set_model(False)
        self.policy = None
        for ch in range(self.n):
            self._targets[ch] = 0
        self._apply_targets()

    def on_decoder(self, label: int, out, n_out: int) -> None:
        """Called by the decoder feature once per window (allocation-free): a classifier's
        decision (label, -1 = rejected) becomes a one-hot activation per class; a
        regression's outputs (out[i] * scale) become activations clipped to 0..1 and,
        for the cycling policy, the crank angle (output angle_output, in degrees)."""
        pol = self.policy
        if pol is None or not self.sup.model_ok:
            return
        a = self._acts
        if n_out > 64:
            n_out = 64
        if self._classifier:
            for i in range(n_out):
                a[i] = ACT_ONE if i == label else 0
        else:
            one = self._one
            sh = self._one_sh
            for i in range(n_out):
                v = out[i]
                if v <= 0:
                    v = 0
                elif v >= one:
                    v = ACT_ONE
                else:
                    v = ((v >> sh) << 12) // (one >> sh)
                a[i] = v
            if pol.continuous and pol.angle_output < n_out:
                now = time.ticks_ms()
                if not self._crank_ext or time.ticks_diff(now, self._crank_ext_ms) > pol.timeout_ms:
                    rev = self._rev
                    v = out[pol.angle_output] % rev
                    pol.set_crank(((v >> self._rev_sh) * 36000 // (rev >> self._rev_sh)) % 36000, -1, now)
        self._n_acts = n_out
        if self.sup.armed():
            pol.targets(a, n_out, self.calib.motor, self.calib.max, self._targets, time.ticks_ms())
            self._apply_targets()

    def set_activation(self, acts, n: int = -1) -> None:
        """Per decoder-output activations (Q12, 4096 = 1.0) -> targets via the policy."""
        if n < 0:
            n = len(acts)
        if n > 64:
            n = 64
        a = self._acts
        for i in range(n):
            a[i] = acts[i]
        self._n_acts = n
        pol = self.policy
        if pol is None or not self.sup.model_ok or not self.sup.armed():
            return
        pol.targets(a, n, self.calib.motor, self.calib.max, self._targets, time.ticks_ms())
        self._apply_targets()

    def set_targets(self, amps_ua, n: int = -1) -> None:
        """Per-channel target amplitudes (uA, 0 = off) chosen by the decoder."""
        if n < 0 or n > self.n:
            n = self.n
        t = self._targets
        for ch in range(self.n):
            t[ch] = amps_ua[ch] if ch < n else 0
        if self.sup.model_ok and self.sup.armed():
            self._apply_targets()

    def set_crank(self, angle_cdeg: int, cadence_crpm: int = -1) -> None:
        """Crank angle (0..35999 cdeg) and cadence (crpm; -1: estimate it)."""
        pol = self.policy
        if pol is not None:
            pol.set_crank(angle_cdeg, cadence_crpm, time.ticks_ms())

    def _apply_targets(self) -> None:
        sup = self.sup
        eng = self.engine
        now_us = self._clock()
        ok = sup.model_ok and sup.armed()
        for ch in range(self.n):
            if sup.test_mask >> ch & 1:
                continue  # a test train owns the channel
            a = sup.clip(ch, self._targets[ch]) if ok else 0
            eng.set_target(ch, a, now_us)

    # ---- supervisor callbacks ------------------------------------------------------
    def _zero_all(self) -> None:
        self.engine.zero_all()  # -> driver.all_off(): output-enable low

    def _zero_ch(self, ch: int) -> None:
        self.engine.zero(ch)

    def _changed(self, state: int, fault: int, text: str) -> None:
        if not self._ready:
            return
        self._flush(self._clock(), True)  # the pulses before the change go first
        self.dev.event(EV_STIM, "stim %s (fault %s): %s" % (
            wire.SS_NAMES.get(state, "?"), wire.FAULT_NAMES.get(fault, "?"), text))
        self.dev.reply(wire.R_STIM_STATE, wire.NO_REF, self.state_bytes())

    def state_bytes(self) -> bytes:
        s = self.sup
        a = self.engine.amp
        return struct.pack(wire.STIM_STATE_FMT, s.state, s.fault, s.armed_mask & 0xFF, s.electrode_mask & 0xFF,
                           a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])

    # ---- R_PULSES ------------------------------------------------------------------
    def _flush(self, now_us, force: bool) -> bool:
        e = self.engine
        k = e.pending()
        if not k:
            return False
        if k < PULSES_PER_PACKET and not force and e.oldest_age_us(now_us) < FLUSH_US:
            return False
        pkt = self._pkt
        while e.pending():
            n = e.take_into(pkt, 4, PULSES_PER_PACKET)
            pkt[3] = n
            self.dev.send_packet(pkt, wire.R_PULSES, 1 + n * wire.PULSE_LEN)
        return True

    def _end_tests(self, now_ms) -> None:
        sup = self.sup
        for ch in range(self.n):
            if sup.test_mask >> ch & 1 and time.ticks_diff(now_ms, self._test_end[ch]) >= 0:
                sup.test_mask &= ~(1 << ch)
                self.engine.zero(ch)
                c = self.calib.get(ch)
                if c is not None:
                    self.engine.configure(ch, c.width_us, c.freq_hz)
                self.dev.event(EV_STIM_INFO, "test train on channel %d done" % ch)

    # ---- request handlers ----------------------------------------------------------
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
            err = self.sup.arm(now, self._battery(), self._emg_problem(now, False))
            if err is not None:
                self.dev.error(seq, err[0], err[1])
                return
            lim = self.limits
            eng = self.engine
            eng.set_slew(lim.slew_ua_per_s)
            eng.set_blank(lim.blank_us)
            for ch in range(self.n):
                c = self.calib.get(ch)
                if c is not None:
                    eng.configure(ch, c.width_us, c.freq_hz)
            self.drv.enable()
            self._reply_state(seq)
        except Exception as e:
            self._guard(e)
            raise

    def _disarm(self, seq, pkt, n) -> None:
        self.sup.disarm("T_DISARM")
        self._reply_state(seq)

    def _estop(self, seq, pkt, n) -> None:
        self.sup.estop("T_ESTOP")  # zero first: same pass, before the reply is built
        self._reply_state(seq)

    def _fault_reset(self, seq, pkt, n) -> None:
        now = time.ticks_ms()
        err = self.sup.fault_reset(self._battery(), self._emg_problem(now, False))
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
            self._flush(self._clock(), True)  # the old train's pulses go before the reply
            eng = self.engine
            eng.zero(ch)  # a test train always starts from zero
            eng.configure(ch, width, freq)
            self.sup.test_mask |= 1 << ch
            self._test_end[ch] = time.ticks_add(time.ticks_ms(), dur)
            eng.set_target(ch, amp, self._clock())
            self._reply_state(seq)
        except Exception as e:
            self._guard(e)
            raise

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
        got = self.calib.get(cal.channel)
        self.dev.reply(wire.R_CALIB, seq, got.pack() if got is not None else Calibration(cal.channel, 0, 0, 0, 0, 0, 0).pack())

    def _calib_get(self, seq, pkt, n) -> None:
        ch = pkt[3]
        if ch >= self.n:
            self.dev.error(seq, wire.E_OUT_OF_RANGE, "channel=%d not in 0..%d" % (ch, self.n - 1))
            return
        got = self.calib.get(ch)
        # all zero but the channel: no calibration
        self.dev.reply(wire.R_CALIB, seq, got.pack() if got is not None else Calibration(ch, 0, 0, 0, 0, 0, 0).pack())

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
        store = self.dev.store
        if store is not None:
            try:
                store.save(LIMITS_RECORD, new.pack())
            except Exception as e:
                self.dev.error(seq, wire.E_STORAGE, "limits not stored: %s" % (e,))
                return
        lim = self.limits  # shared with the supervisor and the calibration: update in place
        for name in L.LIMIT_FIELDS:
            setattr(lim, name, getattr(new, name))
        self.dev.reply(wire.R_LIMITS, seq, lim.pack())

    def _get_limits(self, seq, pkt, n) -> None:
        self.dev.reply(wire.R_LIMITS, seq, self.limits.pack())

    def _state_req(self, seq, pkt, n) -> None:
        self._reply_state(seq)

    def _crank(self, seq, pkt, n) -> None:
        angle, crpm = struct.unpack_from("<HH", pkt, 3)
        if angle >= 36000:
            self.dev.error(seq, wire.E_OUT_OF_RANGE, "angle_cdeg=%d not in 0..35999" % angle)
            return
        self._crank_ext = True
        self._crank_ext_ms = time.ticks_ms()
        self.set_crank(angle, crpm)
        self.dev.reply(wire.R_ACK, seq, bytes((wire.T_CRANK,)))
