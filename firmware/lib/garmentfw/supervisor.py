# The stimulation safety supervisor: the one place that decides "may this channel
# output this amplitude now", and the zeroing paths. Numbers refer to the behaviours
# of DESIGN.md "Stimulation safety".
#
# States (wire.SS_*):
#
#   IDLE --calibration stored--> CALIBRATED --T_ARM--> ARMED <--> STIMULATING
#     ^                             ^  ^                 |            |
#     |                             |  +---T_DISARM------+------------+
#     +--(last calibration cleared) |                    |            |
#                                   +--T_FAULT_RESET-- FAULT <--------+ any fault
#
#   IDLE         no channel has a valid calibration; output off.
#   CALIBRATED   at least one calibrated channel; output off (the output-enable is low).
#   ARMED        the host armed: the calibrated channels (armed_mask) may stimulate;
#                output still zero.
#   STIMULATING  armed and at least one channel is delivering pulses (back to ARMED
#                after STIM_HOLD_MS with all channels at zero).
#   FAULT        latched (fault = FAULT_*): every channel zero, output-enable low,
#                disarmed. T_FAULT_RESET clears it (refused while the cause persists,
#                e.g. a low battery) and leaves the supervisor disarmed; a heartbeat
#                fault is also cleared by re-arming (T_ARM), as the design asks.
#   Electrode faults (7) are per channel: the channel is zeroed and latched off
#   (electrode_mask, reported in STIM_STATE.lead_off_mask) while the other channels
#   go on; fault reads FAULT_ELECTRODE. T_FAULT_RESET clears them (and disarms).
#
# Every transition goes through on_change(state, fault, text): the stimulation service turns it
# into an R_EVENT and an unsolicited R_STIM_STATE (ref NO_REF).
#
# (1) Output stays zero until calibration exists, the host armed, and, for the closed
#     loop, a verified model is loaded (model_ok, set by the control stage when the model slot activates one): allowed()
#     checks all three before every pulse. A T_STIM_TEST train (test_mask) needs the
#     calibration and the arm but no model: it is how thresholds are found.
# (2) check_heartbeat(): no T_PING for longer than limits.heartbeat_ms since the later
#     of the last ping and the arm -> FAULT_HEARTBEAT (checked every loop pass).
# (3) estop(): zero first, then latch FAULT_ESTOP, in the same call as the request.
# (4) allowed() re-checks amplitude, width and charge against the calibration and the
#     limits before every pulse (requests were already refused upstream; a refusal here
#     means a bug: FAULT_INTERNAL). clip() is the one allowed clip: policy outputs into
#     [motor threshold, max comfortable].
# (7) electrode_fault(); (8) check_emg(); (10) check_session(), check_dose(),
#     check_battery(). (5), (6), (9), (11): stim_engine, limits, calibration, artefact_stage.
import struct
import time
from array import array

from micropython import const

from garmentfw import limits as L
from garmentfw import wire

DOSE_RECORD = "dose"
STIM_HOLD_MS = const(250)  # STIMULATING -> ARMED after this long with every channel at zero
_BIN_MS = const(10000)     # DOSE_WINDOW_S * 1000 // DOSE_BINS


class Supervisor:
    def __init__(self, n_channels: int, limits, calib, on_change, zero_all, zero_ch, store=None):
        """limits: Limits; calib: CalibrationSet; on_change(state, fault, text);
        zero_all(): every channel to zero and the output-enable low, now;
        zero_ch(ch): that channel to zero, now."""
        self.n = n_channels
        self.limits = limits
        self.calib = calib
        self._on_change = on_change
        self._zero_all = zero_all
        self._zero_ch = zero_ch
        self.state = wire.SS_IDLE
        self.fault = wire.FAULT_NONE
        self.armed_mask = 0
        self.electrode_mask = 0
        # per channel: the electrode's impedance (ohm) its last checked pulse measured, 0 =
        # none (the withdrawal reflex reads it: a sudden drop is a sign of discomfort)
        self.ohms = array("i", bytes(4 * 8))
        self.test_mask = 0  # channels running a T_STIM_TEST train (no model needed)
        self.model_ok = False  # a verified decoder model is loaded (the control stage sets it)
        self.refused = 0  # pulses refused by allowed(): each one is a bug upstream
        self.min_width_us = L.HARD_MIN_WIDTH_US  # the driver's shortest measurable phase
        self.settle_us = 0  # the driver's settle time before every pulse (counted in the timing)
        self.estop_input = None  # the driver's estop_active(): the button's level, read here too
        # the train each channel was configured with (train()): the last gate compares
        self._tw = array("i", bytes(4 * 8))    # width_us
        self._tp = array("i", bytes(4 * 8))    # period_us
        self._dmax = array("i", bytes(4 * 8))  # highest amplitude within 2 mA/cm^2 rms
        t = time.ticks_ms()
        self._arm_ms = t
        self._hb_ms = t  # the supervisor's own heartbeat time (check_heartbeat)
        self._ping_seen = 0
        self._last_active_ms = t
        self._batt_next = t
        self._batt_low = 0
        # rolling dose: uC per 10 s bin over DOSE_WINDOW_S, plus the sub-uC remainder in pC
        self._bins = array("i", bytes(4 * L.DOSE_BINS))
        self._bin = 0
        self._bin_t = t
        self.dose_uc = 0
        self._pc = 0
        # (10) the dose survives a reboot, an exception restart and a re-arm: the bins and
        # the day's total are stored at every bin change (coarse: 10 s) and restored as if
        # no time had passed (pessimistic: the MCU has no clock across a power cut)
        self.store = store
        self.day_uc = 0  # charge per phase delivered in the current day of stimulator uptime
        self._day_ms = 0
        self._dirty = False
        self._load_dose()
        self.refresh()

    def day_limit(self) -> int:
        return L.DAILY_DOSE_WINDOWS * self.limits.dose_limit

    def _load_dose(self) -> None:
        st = self.store
        if st is None:
            return
        try:
            raw = st.load(DOSE_RECORD)
        except Exception:
            raw = None  # a corrupt record: the day is unknown, start at the cap's edge below
            self.day_uc = self.day_limit()
        if raw is None or len(raw) != 12 + 4 * L.DOSE_BINS:
            return
        day, day_ms, b = struct.unpack_from("<iii", raw, 0)
        for i in range(L.DOSE_BINS):
            self._bins[i] = struct.unpack_from("<i", raw, 12 + 4 * i)[0]
        self._bin = b % L.DOSE_BINS
        self.dose_uc = sum(self._bins)
        self.day_uc = day
        self._day_ms = day_ms

    def _save_dose(self) -> None:
        st = self.store
        self._dirty = False
        if st is None:
            return
        buf = bytearray(12 + 4 * L.DOSE_BINS)
        struct.pack_into("<iii", buf, 0, self.day_uc, self._day_ms, self._bin)
        for i in range(L.DOSE_BINS):
            struct.pack_into("<i", buf, 12 + 4 * i, self._bins[i])
        try:
            st.save(DOSE_RECORD, buf, keep_previous=False)
        except Exception:
            pass  # the next bin change tries again; the caps in RAM hold meanwhile

    # ---- state ---------------------------------------------------------------------
    def armed(self) -> bool:
        return self.state == wire.SS_ARMED or self.state == wire.SS_STIMULATING

    def _idle_state(self) -> int:
        return wire.SS_CALIBRATED if self.calib.mask else wire.SS_IDLE

    def _set(self, state: int, fault: int, text: str, force: bool = False) -> None:
        if state == self.state and fault == self.fault and not force:
            return
        self.state = state
        self.fault = fault
        self._on_change(state, fault, text)

    def refresh(self) -> None:
        """Re-derive IDLE/CALIBRATED after a calibration change (disarmed states only)."""
        if self.state == wire.SS_IDLE or self.state == wire.SS_CALIBRATED:
            s = self._idle_state()
            self._set(s, self.fault, "calibrated channels 0x%02x" % self.calib.mask if s else "no calibration")

    # ---- host commands -------------------------------------------------------------
    def arm(self, now_ms, battery_mv: int, emg_bad):
        """T_ARM. None when armed (or already armed), else (wire error code, message).
        emg_bad: None, or why the EMG is unusable now (rail, lead-off, dead, stalled)."""
        if self.armed():
            return None
        if self.button_held():
            return (wire.E_BAD_STATE, "the E-stop button is pressed (or its wire is broken): release it, then T_FAULT_RESET")
        if self.state == wire.SS_FAULT and self.fault != wire.FAULT_HEARTBEAT:
            return (wire.E_BAD_STATE, "fault '%s' latched: send T_FAULT_RESET first" % wire.FAULT_NAMES.get(self.fault, "?"))
        mask = self.calib.mask & ~self.electrode_mask
        if not self.calib.mask:
            return (wire.E_BAD_STATE, "no channel is calibrated: send T_CALIB_SET first")
        if not mask:
            return (wire.E_BAD_STATE, "every calibrated channel has a latched electrode fault: send T_FAULT_RESET")
        if battery_mv < L.BATTERY_MIN_MV:
            return (wire.E_BAD_STATE, "battery %d mV below %d mV" % (battery_mv, L.BATTERY_MIN_MV))
        if emg_bad:
            return (wire.E_BAD_STATE, "EMG unusable: %s" % emg_bad)
        c = self.calib
        for ch in range(self.n):
            if mask >> ch & 1 and c.width[ch] < self.min_width_us:
                return (wire.E_OUT_OF_RANGE, "channel %d: width_us=%d below %d us, the shortest phase this "
                        "board's electrode reading measures" % (ch, c.width[ch], self.min_width_us))
        bad = L.check_timing(self.limits, c.width[: self.n], c.freq[: self.n], mask, self.settle_us)
        if bad:
            return (wire.E_OUT_OF_RANGE, bad)
        self.check_dose(now_ms)
        if self.day_uc >= self.day_limit():
            return (wire.E_BAD_STATE, "daily dose %d uC at its cap %d uC" % (self.day_uc, self.day_limit()))
        if self.dose_uc >= self.limits.dose_limit:
            return (wire.E_BAD_STATE, "rolling dose %d uC at limits.dose_limit=%d" % (self.dose_uc, self.limits.dose_limit))
        self.armed_mask = mask
        self.test_mask = 0
        self._arm_ms = now_ms
        self._hb_ms = now_ms
        self._last_active_ms = now_ms
        self._batt_low = 0
        self._batt_next = now_ms
        fault = wire.FAULT_ELECTRODE if self.electrode_mask else wire.FAULT_NONE
        self._set(wire.SS_ARMED, fault, "armed channels 0x%02x" % mask)
        return None

    def disarm(self, why: str = "disarmed") -> None:
        """T_DISARM (or the link's owner going away): zero everything, keep any fault.
        Disarmed even if zeroing raises (the caller hears of it)."""
        self.armed_mask = 0
        self.test_mask = 0
        try:
            self._zero_all()
        finally:
            if self.state != wire.SS_FAULT:
                self._set(self._idle_state(), self.fault, why)

    def trip(self, fault: int, text: str) -> None:
        """Zero every channel first, then latch ``fault`` (latched even if zeroing raises)."""
        self.armed_mask = 0
        self.test_mask = 0
        try:
            self._zero_all()
        finally:
            if not (self.state == wire.SS_FAULT and self.fault != wire.FAULT_HEARTBEAT):
                # the first latched fault stays the reported one (only a heartbeat one is upgraded)
                self._set(wire.SS_FAULT, fault, "FAULT %s: %s" % (wire.FAULT_NAMES.get(fault, "?"), text))

    def button_held(self) -> bool:
        """(3) The E-stop contact is open now; latches FAULT_ESTOP if it is not yet."""
        inp = self.estop_input
        if inp is None or not inp():
            return False
        if not (self.state == wire.SS_FAULT and self.fault == wire.FAULT_ESTOP):
            self.estop("E-stop button")
        return True

    def pulse_refused(self, ch: int) -> None:
        """The driver did not deliver a pulse the gate allowed: its output is off. The
        button's interlock (the E-stop fault), else a bug (FAULT_INTERNAL)."""
        if self.button_held():
            return
        self.trip(wire.FAULT_INTERNAL, "the driver refused a pulse on channel %d (output off)" % ch)

    def estop(self, why: str = "T_ESTOP") -> None:
        """(3) Emergency stop: zero now, latch FAULT_ESTOP (from any state; latched even
        if zeroing raises)."""
        self.armed_mask = 0
        self.test_mask = 0
        try:
            self._zero_all()
        finally:
            self._set(wire.SS_FAULT, wire.FAULT_ESTOP, "FAULT estop: %s" % why)

    def fault_reset(self, battery_mv: int, emg_bad):
        """T_FAULT_RESET: clear latched faults (global and electrode); stay disarmed.
        Refused while the cause of a latched battery/EMG fault persists, and while the
        E-stop button is held or its wire broken."""
        if self.button_held():
            return (wire.E_BAD_STATE, "the E-stop button is pressed (or its wire is broken): release it first")
        if self.state == wire.SS_FAULT:
            if self.fault == wire.FAULT_INTERNAL:
                # a bug or a failed output stage: only a restart (a fresh boot, outputs off)
                # clears it, never a remote request
                return (wire.E_BAD_STATE, "internal fault latched: restart the garment (power cycle) to clear it")
            if self.fault == wire.FAULT_BATTERY and battery_mv < L.BATTERY_MIN_MV:
                return (wire.E_BAD_STATE, "battery still low: %d mV < %d mV" % (battery_mv, L.BATTERY_MIN_MV))
            if self.fault == wire.FAULT_EMG_RAIL and emg_bad:
                return (wire.E_BAD_STATE, "EMG still unusable: %s" % emg_bad)
        self.armed_mask = 0
        self.test_mask = 0
        try:
            self._zero_all()
        except Exception:
            # the output stage did not answer: nothing is reset, FAULT_INTERNAL latches
            self._set(wire.SS_FAULT, wire.FAULT_INTERNAL, "FAULT internal: zeroing failed in the fault reset")
            raise
        self.electrode_mask = 0
        self._set(self._idle_state(), wire.FAULT_NONE, "faults reset")
        return None

    def set_model(self, ok: bool) -> None:
        self.model_ok = bool(ok)

    # ---- requests that drive the output --------------------------------------------
    def check_test(self, ch: int, amplitude_ua: int, width_us: int, freq_hz: int, duration_ms: int):
        """T_STIM_TEST: None if this one ramped train may run, else (code, message)."""
        if ch >= self.n:
            return (wire.E_OUT_OF_RANGE, "channel=%d not in 0..%d" % (ch, self.n - 1))
        if duration_ms < 1 or duration_ms > L.MAX_TEST_MS:
            return (wire.E_OUT_OF_RANGE, "duration_ms=%d outside 1..%d" % (duration_ms, L.MAX_TEST_MS))
        if amplitude_ua < 1:
            return (wire.E_OUT_OF_RANGE, "amplitude_ua=%d must be >= 1" % amplitude_ua)
        cal = self.calib.get(ch)
        if cal is None:
            return (wire.E_BAD_STATE, "channel %d has no calibration" % ch)
        if amplitude_ua > cal.max_ua:
            return (wire.E_OUT_OF_RANGE, "amplitude_ua=%d above channel %d's calibrated max_ua=%d" % (amplitude_ua, ch, cal.max_ua))
        lim = self.limits
        bad = L.check_pulse(lim, amplitude_ua, width_us, freq_hz) or L.check_density(amplitude_ua, width_us, freq_hz, cal.area_mm2)
        if bad:
            return (wire.E_OUT_OF_RANGE, bad)
        if width_us < self.min_width_us:
            return (wire.E_OUT_OF_RANGE, "width_us=%d below %d us, the shortest phase this board's electrode "
                    "reading measures" % (width_us, self.min_width_us))
        if not self.armed():
            return (wire.E_BAD_STATE, "not armed (state %s): send T_ARM first" % wire.SS_NAMES.get(self.state, "?"))
        if not self.armed_mask >> ch & 1:
            return (wire.E_BAD_STATE, "channel %d is not armed (electrode fault latched)" % ch)
        c = self.calib
        w = array("i", c.width)
        f = array("i", c.freq)
        w[ch] = width_us
        f[ch] = freq_hz
        bad = L.check_timing(lim, w[: self.n], f[: self.n], self.armed_mask, self.settle_us)
        if bad:
            return (wire.E_OUT_OF_RANGE, bad)
        return None

    def clip(self, ch: int, amplitude_ua: int) -> int:
        """(4) The one allowed clip: a model/policy output into [motor threshold, max
        comfortable] of the channel; 0 (off) stays 0; an unarmed channel gets 0."""
        if amplitude_ua <= 0 or not self.armed_mask >> ch & 1:
            return 0
        lo = self.calib.motor[ch]
        hi = self.calib.max[ch]
        if amplitude_ua < lo:
            return lo
        if amplitude_ua > hi:
            return hi
        return amplitude_ua

    def train(self, ch: int, width_us: int, freq_hz: int) -> None:
        """A channel's train is (re)configured (off the hot path): remember it, and the
        highest amplitude its rms current density allows on the calibrated area, for the
        last gate."""
        self._tw[ch] = width_us
        self._tp[ch] = 1000000 // freq_hz if freq_hz > 0 else 0
        cal = self.calib.get(ch)
        top = 0
        if cal is not None and freq_hz > 0:
            top = int(20 * cal.area_mm2 * 1000 / (2 * width_us * freq_hz) ** 0.5) + 1
            while top > 0 and L.check_density(top, width_us, freq_hz, cal.area_mm2) is not None:
                top -= 1
        self._dmax[ch] = top

    def allowed(self, ch: int, amplitude_ua: int, width_us: int, period_us: int = -1) -> bool:
        """The last gate before every pulse (allocation-free): state, arm, electrode, model,
        amplitude, width, charge, and the train as configured (train()): its width,
        its period within the frequency limits, its amplitude within the density limit.
        False means a bug upstream: the pulse is not delivered and FAULT_INTERNAL latches."""
        s = self.state
        bit = 1 << ch
        lim = self.limits
        if ((s == wire.SS_ARMED or s == wire.SS_STIMULATING)
                and period_us == self._tp[ch] and width_us == self._tw[ch]
                and 1000000 // lim.max_freq_hz <= period_us <= 1000000 // lim.min_freq_hz
                and amplitude_ua <= self._dmax[ch]
                and self.armed_mask & bit
                and not self.electrode_mask & bit
                and (self.model_ok or self.test_mask & bit)
                and 0 < amplitude_ua <= self.calib.max[ch]
                and amplitude_ua <= lim.max_ua
                and L.HARD_MIN_WIDTH_US <= width_us <= lim.max_width_us
                and amplitude_ua * width_us <= lim.max_charge_nc * 1000):
            return True
        self.refused += 1
        self.trip(wire.FAULT_INTERNAL, "pulse refused on channel %d (%d uA, %d us, period %d us)" % (
            ch, amplitude_ua, width_us, period_us))
        return False

    def record_pulse(self, amplitude_ua: int, width_us: int) -> None:
        """Count one delivered pulse's charge per phase into the rolling dose (no allocation)."""
        pc = self._pc + amplitude_ua * width_us  # pC = uA * us
        if pc >= 1000000:
            q = pc // 1000000
            pc -= q * 1000000
            self._bins[self._bin] += q
            self.dose_uc += q
            self.day_uc += q
            self._dirty = True
        self._pc = pc

    def output_active(self, active: bool, now_ms) -> None:
        """ARMED <-> STIMULATING from what the engine delivers."""
        s = self.state
        if active:
            self._last_active_ms = now_ms
            if s == wire.SS_ARMED:
                self._set(wire.SS_STIMULATING, self.fault, "stimulating")
        elif s == wire.SS_STIMULATING and time.ticks_diff(now_ms, self._last_active_ms) >= STIM_HOLD_MS:
            self._set(wire.SS_ARMED, self.fault, "all channels at zero")

    # ---- periodic checks (every loop pass) -----------------------------------------
    def check_heartbeat(self, now_ms, last_ping_ms) -> bool:
        """(2) True (and tripped) when the host heartbeat is overdue while armed.
        The supervisor keeps its own heartbeat time, set at the arm and moved to each
        ping seen after it (last_ping_ms changing), and checks it every loop pass, so its
        age never nears the tick period's half; a negative age (a tick from "the future":
        a stale value across a wrap) is overdue."""
        if not self.armed():
            return False
        if last_ping_ms != self._ping_seen:
            self._ping_seen = last_ping_ms
            if (0 <= time.ticks_diff(now_ms, last_ping_ms) <= self.limits.heartbeat_ms
                    and time.ticks_diff(last_ping_ms, self._hb_ms) > 0):
                self._hb_ms = last_ping_ms
        late = time.ticks_diff(now_ms, self._hb_ms)
        if late < 0 or late > self.limits.heartbeat_ms:
            self.trip(wire.FAULT_HEARTBEAT, "no host heartbeat for %d ms (limit %d ms)" % (late, self.limits.heartbeat_ms))
            return True
        return False

    def heartbeat_at_arm(self, last_ping_ms) -> None:
        """The ping the host sent before arming counts as seen (the arm is the heartbeat)."""
        self._ping_seen = last_ping_ms

    def check_session(self, now_ms) -> bool:
        """(10) Session-duration cap, counted from the arm."""
        d = time.ticks_diff(now_ms, self._arm_ms)
        if self.armed() and (d < 0 or d >= self.limits.session_s * 1000):  # negative: stale, over
            self.trip(wire.FAULT_SESSION, "session reached limits.session_s=%d s" % self.limits.session_s)
            return True
        return False

    def check_dose(self, now_ms) -> bool:
        """(10) Rolling-dose cap: uC of charge per phase over the last DOSE_WINDOW_S."""
        d = time.ticks_diff(now_ms, self._bin_t)
        if d >= L.DOSE_WINDOW_S * 1000:
            for i in range(L.DOSE_BINS):
                self._bins[i] = 0
            self.dose_uc = 0
            self._bin_t = now_ms
            self._day(d)
        else:
            if d >= _BIN_MS:
                self._day(d - d % _BIN_MS)
            while d >= _BIN_MS:
                self._bin_t = time.ticks_add(self._bin_t, _BIN_MS)
                d -= _BIN_MS
                b = self._bin + 1
                if b == L.DOSE_BINS:
                    b = 0
                self._bin = b
                self.dose_uc -= self._bins[b]
                self._bins[b] = 0
        if self.armed() and self.day_uc >= self.day_limit():
            self.trip(wire.FAULT_DOSE, "daily dose %d uC reached %d uC (%d x limits.dose_limit)"
                      % (self.day_uc, self.day_limit(), L.DAILY_DOSE_WINDOWS))
            return True
        if self.armed() and self.dose_uc >= self.limits.dose_limit:
            self.trip(wire.FAULT_DOSE, "rolling dose %d uC over %d s reached limits.dose_limit=%d uC"
                      % (self.dose_uc, L.DOSE_WINDOW_S, self.limits.dose_limit))
            return True
        return False

    def _day(self, elapsed_ms: int) -> None:
        # a bin boundary passed (off the hot path): the day's clock, and the stored record
        self._day_ms += elapsed_ms
        if self._day_ms >= L.DAY_MS:
            self._day_ms = 0
            self.day_uc = 0
            self._dirty = True
        if self._dirty:
            self._save_dose()

    def battery_due(self, now_ms) -> bool:
        return self.armed() and time.ticks_diff(now_ms, self._batt_next) >= 0

    def check_battery(self, now_ms, battery_mv: int) -> bool:
        """(10) Low battery: BATTERY_READINGS readings in a row below BATTERY_MIN_MV (one
        sagging reading under a pulse does not count) -> FAULT_BATTERY."""
        self._batt_next = time.ticks_add(now_ms, L.BATTERY_PERIOD_MS)
        if battery_mv >= L.BATTERY_MIN_MV:
            self._batt_low = 0
            return False
        self._batt_low += 1
        if self._batt_low >= L.BATTERY_READINGS and self.armed():
            self.trip(wire.FAULT_BATTERY, "battery %d mV below %d mV" % (battery_mv, L.BATTERY_MIN_MV))
            return True
        return False

    def check_emg(self, what) -> bool:
        """(8) EMG at the rail / dead / lead-off / stalled while armed -> FAULT_EMG_RAIL."""
        if what and self.armed():
            self.trip(wire.FAULT_EMG_RAIL, what)
            return True
        return False

    def check_electrode(self, ch: int, amplitude_ua: int, last_ua: int, mv: int, ua: int) -> bool:
        """(7) Before every pulse after a channel's first: the reading of its last pulse
        (last_ua commanded; mv, ua measured at the end of its first phase) must show an
        electrode fit to deliver ``amplitude_ua`` now; else that channel is zeroed and
        latched off. No reading after a pulse is a fault; so is a source at its
        compliance (voltage at the limit or current below the setpoint): with the
        electrode off, the volts over the commanded current look like a good electrode."""
        if mv < 0 or ua < 0:
            self.electrode_fault(ch, "no electrode reading after the last pulse")
            return False
        if mv >= L.COMPLIANCE_NEAR_MV or ua * 100 < last_ua * L.DELIVERED_MIN_PCT:
            self.electrode_fault(ch, "the current source is at its %d V compliance: %d of %d uA delivered at %d mV"
                                 % (L.COMPLIANCE_MV // 1000, ua, last_ua, mv))
            return False
        ohms = mv * 1000 // ua  # ua >= 90 % of last_ua > 0; mV * 1000 < 2**30
        if ohms < L.IMPEDANCE_MIN_OHM or ohms > L.IMPEDANCE_MAX_OHM:
            self.electrode_fault(ch, "%d ohm outside %d..%d ohm" % (ohms, L.IMPEDANCE_MIN_OHM, L.IMPEDANCE_MAX_OHM))
            return False
        # uA * (ohm / 10) = uV / 10 < 2**30 (ohms <= IMPEDANCE_MAX_OHM)
        if amplitude_ua * (ohms // 10) > L.COMPLIANCE_NEAR_MV * 100:
            self.electrode_fault(ch, "%d uA through %d ohm would reach the %d V compliance"
                                 % (amplitude_ua, ohms, L.COMPLIANCE_MV // 1000))
            return False
        self.ohms[ch] = ohms
        return True

    def electrode_fault(self, ch: int, why: str) -> None:
        """(7) That channel zero now, latched until T_FAULT_RESET; the others go on."""
        self._zero_ch(ch)
        self.ohms[ch] = 0
        bit = 1 << ch
        self.electrode_mask |= bit
        self.armed_mask &= ~bit
        self.test_mask &= ~bit
        fault = self.fault if self.state == wire.SS_FAULT else wire.FAULT_ELECTRODE
        self._set(self.state, fault, "electrode fault on channel %d: %s" % (ch, why), force=True)
