# Control stage: decoder outputs -> activations (activation.py) -> stimulation policy
# (stim_policy.py: per-channel intensity within the calibrated range) -> supervisor clip
# -> pulse engine. The one allowed clip is the supervisor's: model outputs are clipped
# to the calibrated range (safety behaviour 4); the engine slews every rise (6).
# Closed-loop targets act only while armed with a verified model loaded (1).
import time
from array import array

from micropython import const

from garmentfw.activation import MAX_OUTPUTS, Activations
from garmentfw.stim_policy import ACT_ONE
from garmentfw.wire import ACTIVATION_STALE_MS
from garmentfw.stim_policy import Policy

_NCH = const(8)


class ControlStage:
    def __init__(self, n_channels: int, sup, calib, engine, clock_us):
        self.n = n_channels
        self.sup = sup
        self.calib = calib
        self.engine = engine
        self._clock = clock_us
        self.policy = None
        self.act = Activations()
        self.targets = array("i", bytes(4 * _NCH))
        self._crank_ext = False  # a crank sensor (T_CRANK) speaks: the decoder's angle waits
        self._crank_ext_ms = time.ticks_ms()
        self._act_ext = False  # a host activation stream (T_ACTIVATION) drives the policy
        self._act_ext_ms = time.ticks_ms()

    # ---- the model (a notification from model_slot when a model is (de)activated) ----
    def on_model(self, net) -> str:
        """A verified model became active (``net``: Int8Net) or none is (None). Returns
        "" or why its stimulation section is refused (the closed loop then stays off)."""
        if net is None:
            self.clear_model()
            return ""
        bad = self.set_model(net.stim)
        if bad:
            return bad
        self.act.set_model(net.scale, net.classifier)
        return ""

    def set_model(self, stim_section):
        """Set the policy from a model's stimulation section (Policy.from_dict). Returns
        None, or why the section is refused. Enables closed-loop output (1): model_ok."""
        self.clear_model()
        try:
            pol = Policy.from_dict(stim_section, self.n)
        except (ValueError, TypeError, KeyError) as e:
            return "stimulation policy refused: %s" % (e,)
        bad = pol.cap_below_motor(self.calib.motor, self.calib.max, self.n)
        if bad:
            return "stimulation policy refused: %s" % bad
        pol.bind_impedance(self.sup.ohms)  # the reflex's electrode readings (reflex_z)
        self.policy = pol
        self.act.set_model(1.0 / 4096, False)
        self.sup.set_model(True)
        return None

    def clear_model(self) -> None:
        self._act_ext = False
        self.sup.set_model(False)
        self.policy = None
        for ch in range(self.n):
            self.targets[ch] = 0
        self.apply_targets()

    def ready_engine(self, limits) -> None:
        """At the arm: the engine's slew (6) and blank window (11) from the limits, each
        calibrated channel's width and frequency from its calibration."""
        eng = self.engine
        eng.set_slew(limits.slew_ua_per_s)
        eng.set_blank(limits.blank_us)
        for ch in range(self.n):
            c = self.calib.get(ch)
            if c is not None:
                eng.configure(ch, c.width_us, c.freq_hz)

    # ---- per window (allocation-free) -------------------------------------------------
    def on_decoder(self, label: int, out, n_out: int) -> None:
        """The decoder's outputs of one window (label -1: rejected, all off)."""
        pol = self.policy
        if pol is None or not self.sup.model_ok or self._act_ext:
            return  # (a host activation stream owns the activations while it is fresh)
        act = self.act
        n = act.from_outputs(label, out, n_out)
        if not act.classifier and pol.continuous and pol.angle_output < n:
            now = time.ticks_ms()
            ext = time.ticks_diff(now, self._crank_ext_ms)  # negative: stale across a wrap
            if not self._crank_ext or ext < 0 or ext > pol.timeout_ms:
                pol.set_crank(act.angle_cdeg(out[pol.angle_output]), -1, now)
        if self.sup.armed():
            pol.targets(act.acts, n, self.calib.motor, self.calib.max, self.targets, time.ticks_ms())
            self.apply_targets()

    def external_activation(self, pkt, off: int, size: int) -> str:
        """T_ACTIVATION body at ``pkt[off:off + size]``: n u8, n x u16 Q12. Returns "" or the
        refusal, first letter "s" (state), "m" (malformed) or "r" (range). Allocation-free when accepted."""
        n = pkt[off]
        if size != 1 + 2 * n or n == 0 or n > MAX_OUTPUTS:
            return "mT_ACTIVATION body: n=%d with %d bytes (1 + 2n, n 1..%d)" % (n, size, MAX_OUTPUTS)
        pol = self.policy
        if pol is None or not self.sup.model_ok:
            return "sno verified model with a stimulation policy: upload one"
        if not self.sup.armed():
            return "snot armed: T_ARM first"
        for i in range(n):
            if pkt[off + 2 + 2 * i] << 8 | pkt[off + 1 + 2 * i] > ACT_ONE:
                return "ractivation %d above 4096 (1.0)" % i
        a = self.act.acts
        for i in range(n):
            a[i] = pkt[off + 2 + 2 * i] << 8 | pkt[off + 1 + 2 * i]
        self.act.n = n
        self._act_ext = True
        self._act_ext_ms = time.ticks_ms()
        pol.targets(a, n, self.calib.motor, self.calib.max, self.targets, self._act_ext_ms)
        self.apply_targets()
        return ""

    def set_activation(self, acts, n: int = -1) -> None:
        """Per decoder-output activations (Q12, 4096 = 1.0) -> targets via the policy."""
        n = self.act.copy(acts, len(acts) if n < 0 else n)
        pol = self.policy
        if pol is None or not self.sup.model_ok or not self.sup.armed():
            return
        pol.targets(self.act.acts, n, self.calib.motor, self.calib.max, self.targets, time.ticks_ms())
        self.apply_targets()

    def set_targets(self, amps_ua, n: int = -1) -> None:
        """Per-channel target amplitudes (uA, 0 = off) chosen by the decoder itself."""
        if n < 0 or n > self.n:
            n = self.n
        t = self.targets
        for ch in range(self.n):
            t[ch] = amps_ua[ch] if ch < n else 0
        if self.sup.model_ok and self.sup.armed():
            self.apply_targets()

    def set_crank(self, angle_cdeg: int, cadence_crpm: int = -1) -> None:
        """Crank angle (0..35999 cdeg) and cadence (crpm; -1: estimate it)."""
        pol = self.policy
        if pol is not None:
            pol.set_crank(angle_cdeg, cadence_crpm, time.ticks_ms())

    def crank_sensor(self, angle_cdeg: int, cadence_crpm: int) -> None:
        """A crank sensor's reading (T_CRANK): it outranks the decoder's angle for the
        policy's timeout."""
        self._crank_ext = True
        self._crank_ext_ms = time.ticks_ms()
        self.set_crank(angle_cdeg, cadence_crpm)

    # ---- per loop pass ------------------------------------------------------------------
    def tick(self, now_ms) -> None:
        """A continuous policy (cycling: the crank turns between windows) recomputes its
        targets every pass while armed. A stale host activation stream is zeroed."""
        pol = self.policy
        if self._act_ext and time.ticks_diff(now_ms, self._act_ext_ms) > ACTIVATION_STALE_MS:
            self._act_ext = False  # the stream stopped: zero, and the decoder speaks again
            a = self.act.acts
            for i in range(self.act.n):
                a[i] = 0
            for ch in range(self.n):
                self.targets[ch] = 0
            self.apply_targets()
        if pol is not None and pol.continuous and self.sup.model_ok and self.sup.armed():
            pol.targets(self.act.acts, self.act.n, self.calib.motor, self.calib.max, self.targets, now_ms)
            self.apply_targets()

    def apply_targets(self) -> None:
        sup = self.sup
        eng = self.engine
        now_us = self._clock()
        ok = sup.model_ok and sup.armed()
        for ch in range(self.n):
            if sup.test_mask >> ch & 1:
                continue  # a test train owns the channel
            a = sup.clip(ch, self.targets[ch]) if ok else 0
            eng.set_target(ch, a, now_us)
