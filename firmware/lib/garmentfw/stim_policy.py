# The stimulation policy: decoder output -> per-channel target amplitude within the
# calibrated [motor threshold, max comfortable] range (0 = off). The safety supervisor
# clips the result again (the one allowed clip) and everything downstream (slew,
# limits, faults) still applies: a policy can only ask.
#
# Parameters come from the model file's stimulation section (model_format.TAG_STIM):
#   {"preset": "off" | "proportional" | "threshold" | "cycling", "params": {...}}
# Policy.from_dict() validates them (unknown names, out-of-range values -> ValueError
# with a message naming the parameter) and converts them to integers once; the
# per-window path (targets()) is integer-only and allocation-free.
#
# Inputs:
#   activations: per decoder output, fixed point Q12 (ACT_ONE = 4096 = 1.0), clamped
#     to 0..ACT_ONE; the control stage produces them from the decoder's outputs (EMG envelope, class
#     probability, regression output scaled to 0..1).
#   crank: angle in centi-degrees (0..35999) and cadence in centi-rpm, from the
#     decoder's regression output or from T_CRANK (external crank sensor). Between
#     updates the angle is extrapolated with the cadence.
#
# Presets and their params (lists are per stimulation channel; a scalar applies to all):
#   off           no params; every channel 0.
#   proportional  gain (1.0, 0 < g <= 16), deadband (0.05, 0 <= d <= 0.9), inputs,
#                 max_mA. level = gain * (act - deadband) / (1 - deadband) clipped to
#                 0..1; act < deadband -> off; else amplitude = motor + level * (top -
#                 motor), top = min(max comfortable, max_mA).
#   threshold     level (0.5, 0 < l <= 1), intensity (1.0, 0..1), inputs, max_mA:
#                 act >= level -> motor + intensity * (top - motor), else off.
#   cycling       phase_on, phase_off (degrees; 0 <= on <= 720, 0 < off - on < 360):
#                 channel i stimulates while the advanced crank angle is in [on, off)
#                 (mod 360); delay_ms (100, 0..500): the electromechanical delay, the
#                 angle is advanced by cadence * delay; intensity (1.0, 0..1); max_mA;
#                 timeout_ms (500, 50..1000): crank data older than this -> off;
#                 min_rpm (0, 0..200): below this cadence -> off; angle_output (0): with a
#                 regression decoder, the output that is the crank angle in degrees
#                 (T_CRANK, an external sensor, takes precedence while it is fresh).
#                 mode (0; the model file holds numbers only): what times the bursts:
#                   0 "windows": the advanced crank angle inside [phase_on, phase_off);
#                   1 "emg": EMG-triggered assist: inside its window a channel starts when
#                     activation inputs[ch] reaches level (0.2) - the rider's own drive
#                     rises - and stays on to the end of the window (its own stimulation
#                     is blanked from the EMG, so the trigger latches);
#                   2 "cpg": the spiking pattern generator (garmentfw/cpg.py): channel ch
#                     follows side cpg_side[ch] (0 = A, 1 = B, -1 never) while it bursts;
#                     cpg_<name> for each name of cpg_spec.LIMITS and cpg_weights (flat
#                     [A0, B0, A1, B1, ...], one pair per crank bin, at most 8 bins in a
#                     model file) set its synapses; crank afferents from the advanced
#                     angle, EMG from activations cpg_inputs [for A, for B] (-1 = none).
#                 target_rpm (0 = fixed intensity, else 1..200), kp (0.05 /rpm, 0..1),
#                 ki (0.02 /(rpm s), 0..1): cadence tracking, the intensity scaled by
#                 clip(kp * error + integral of ki * error, 0, 1) (error = target -
#                 cadence).
#                 reflex (0; 1 = on): the withdrawal reflex (garmentfw/reflex.py) reads
#                 activations reflex_inputs [L quadriceps, L hamstrings, R quadriceps,
#                 R hamstrings] and, on a sudden antagonist co-contraction, stops every
#                 channel for reflex_hold_ms; reflex_z (optional: up to 4 stimulation
#                 channels) adds their electrodes' impedance, as the supervisor's
#                 electrode check measured it after their last pulse (a sudden drop
#                 stops too); reflex_<name> for the names of reflex_spec.LIMITS.
#                 crank_source (0: T_CRANK or the decoder's angle; 1: the thigh IMU,
#                 garmentfw/imu_crank.py, on boards that have one): imu_max_deg and
#                 imu_min_deg (0..360) are the crank angles at which the thigh is highest
#                 and lowest (the rider's geometry).
#   inputs: per channel, the activation index it follows (-1 = never); default i -> i.
#   max_mA: per channel (or scalar) cap in mA (> 0) under the calibrated maximum.
import time
from array import array

from micropython import const

from garmentfw import wire
from garmentfw.cpg import Cpg
from garmentfw.cpg_spec import LIMITS as CPG_LIMITS
from garmentfw.reflex import Reflex
from garmentfw.reflex_spec import LIMITS as REFLEX_LIMITS

ACT_ONE = const(4096)  # activation 1.0 in Q12
PRESETS = ("off", "proportional", "threshold", "cycling")
P_OFF = const(0)
P_PROPORTIONAL = const(1)
P_THRESHOLD = const(2)
P_CYCLING = const(3)
MODES = ("windows", "emg", "cpg")
M_WINDOWS = const(0)
M_EMG = const(1)
M_CPG = const(2)
_CPG_MAX_STEPS = const(100)  # ms of pattern generator per call at most (a late loop)

_PARAMS = {
    "off": (),
    "proportional": ("gain", "deadband", "inputs", "max_mA"),
    "threshold": ("level", "intensity", "inputs", "max_mA"),
    "cycling": ("phase_on", "phase_off", "delay_ms", "intensity", "max_mA", "timeout_ms", "min_rpm", "angle_output",
                "mode", "level", "inputs", "cpg_side", "cpg_inputs", "target_rpm", "kp", "ki", "cpg_weights")
    + tuple("cpg_" + _n for _n, _, _, _ in CPG_LIMITS) + ("reflex", "reflex_inputs", "reflex_z")
    + tuple("reflex_" + _n for _n, _, _, _ in REFLEX_LIMITS) + ("crank_source", "imu_max_deg", "imu_min_deg"),
}


def _num(params, name, default, lo, hi):
    v = params.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError("stim param %r must be a number, got %r" % (name, v))
    if not lo <= v <= hi:
        raise ValueError("stim param %s=%r outside %r..%r" % (name, v, lo, hi))
    return v


def _per_channel(params, name, default, lo, hi, n):
    """A scalar (for every channel) or a list of at most n numbers (missing -> default)."""
    v = params.get(name, default)
    if isinstance(v, list):
        if len(v) > n:
            raise ValueError("stim param %r has %d values for %d channels" % (name, len(v), n))
        out = []
        for i in range(n):
            out.append(_num({name: v[i]}, name, default, lo, hi) if i < len(v) else default)
        return out
    return [_num(params, name, default, lo, hi)] * n


class Policy:
    """A validated stimulation policy for n channels (see the module comment)."""

    def __init__(self, preset: str = "off", n_channels: int = wire.MAX_CHANNELS):
        self.preset = preset
        self.kind = PRESETS.index(preset)
        self.n = n_channels
        m = wire.MAX_CHANNELS
        self.inputs = array("i", [i for i in range(m)])
        self.top_ua = array("i", [0x3FFFFFFF] * m)  # max_mA cap
        self.level_q12 = array("i", [ACT_ONE] * m)  # intensity (threshold, cycling)
        self.scale_q12 = ACT_ONE  # proportional: gain / (1 - deadband), Q12
        self.sat = ACT_ONE + 1  # (act - deadband) from which the level saturates at 1.0
        self.dead_q12 = 0
        self.thr_q12 = ACT_ONE // 2
        self.on_cdeg = array("i", bytes(4 * m))
        self.span_cdeg = array("i", bytes(4 * m))  # 0 = channel never on (cycling)
        self.delay_ms = 100
        self.timeout_ms = 500
        self.min_crpm = 0
        self.angle_output = 0
        self.crank_source = 0  # 1: the thigh IMU (imu_crank.py)
        self.imu_max_cdeg = 0
        self.imu_min_cdeg = 18000
        # crank state (cycling)
        self.continuous = self.kind == P_CYCLING
        self.crank_ok = False
        self.angle = 0
        self.crpm = 0
        self.crank_ms = 0
        self._est_prev = -1
        self._est_ms = 0
        self._have_est = False
        # cycling modes
        self.mode = M_WINDOWS
        self.latch = 0  # emg: channels triggered in their current window (bits)
        self.cpg = Cpg()  # used in mode "cpg" only (a few hundred bytes)
        self.side = array("i", [-1] * m)
        self.cpg_in0 = -1
        self.cpg_in1 = -1
        self._cpg_ms = 0
        self._cpg_started = False
        # cadence tracking
        self.target_crpm = 0
        self.kp_q12 = 205
        self.ki_q12 = 82
        self.track_q12 = ACT_ONE
        self.integ_q12 = ACT_ONE // 2
        self._track_ms = 0
        self._track_started = False
        # withdrawal reflex
        self.reflex_on = False
        self.reflex = Reflex()
        self.rx_in = array("i", [-1, -1, -1, -1])
        self.rx_z = array("i", [-1, -1, -1, -1])  # stimulation channels whose impedance it reads
        self.z_ohm = None  # per channel, the supervisor's last electrode reading (bind_impedance)
        self._rx_ms = 0
        self._rx_started = False

    @classmethod
    def from_dict(cls, d, n_channels: int = wire.MAX_CHANNELS) -> "Policy":
        """Build from the model file's stimulation section; raises ValueError (with a
        message naming the parameter) on anything unknown or out of range."""
        if not isinstance(d, dict):
            raise ValueError("stimulation section must be an object")
        for k in d:
            if k not in ("preset", "params"):
                raise ValueError("unknown key %r in the stimulation section" % (k,))
        preset = d.get("preset", "off")
        if preset not in PRESETS:
            raise ValueError("unknown stimulation preset %r (known: %s)" % (preset, ", ".join(PRESETS)))
        params = d.get("params", {})
        if not isinstance(params, dict):
            raise ValueError("'params' must be an object")
        allowed = _PARAMS[preset]
        for k in params:
            if k not in allowed:
                raise ValueError("unknown parameter %r for preset %r (allowed: %s)" % (k, preset, ", ".join(allowed) or "none"))
        n = n_channels
        p = cls(preset, n)
        if preset == "off":
            return p
        if "max_mA" in params:
            caps = _per_channel(params, "max_mA", 100.0, 0.001, 100.0, n)
            for i in range(n):
                p.top_ua[i] = int(caps[i] * 1000 + 0.5)
        if preset in ("proportional", "threshold", "cycling"):
            if "inputs" in params:
                ins = params["inputs"]
                if not isinstance(ins, list) or len(ins) > n:
                    raise ValueError("stim param 'inputs' must be a list of at most %d activation indices" % n)
                for i in range(n):
                    v = ins[i] if i < len(ins) else -1
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not -1 <= v < 64:
                        raise ValueError("stim param inputs[%d]=%r must be an index 0..63 or -1" % (i, v))
                    p.inputs[i] = int(v)
        if preset == "proportional":
            gain = _num(params, "gain", 1.0, 1e-6, 16.0)
            dead = _num(params, "deadband", 0.05, 0.0, 0.9)
            p.dead_q12 = int(dead * ACT_ONE + 0.5)
            p.scale_q12 = max(1, int(gain * ACT_ONE * ACT_ONE / (ACT_ONE - p.dead_q12) + 0.5))
            p.sat = (ACT_ONE << 12) // p.scale_q12 + 1
        elif preset == "threshold":
            p.thr_q12 = int(_num(params, "level", 0.5, 1e-6, 1.0) * ACT_ONE + 0.5)
            lv = _num(params, "intensity", 1.0, 0.0, 1.0)
            for i in range(n):
                p.level_q12[i] = int(lv * ACT_ONE + 0.5)
        else:  # cycling
            on = params.get("phase_on")
            off = params.get("phase_off")
            if not isinstance(on, list) or not isinstance(off, list) or len(on) != len(off) or not 1 <= len(on) <= n:
                raise ValueError("cycling needs lists phase_on and phase_off of equal length 1..%d (degrees)" % n)
            for i in range(len(on)):
                a = _num({"phase_on": on[i]}, "phase_on", 0, 0, 720)
                b = _num({"phase_off": off[i]}, "phase_off", 0, 0, 1080)
                if not 0 < b - a < 360:
                    raise ValueError("cycling channel %d: phase_off - phase_on = %r must be in (0, 360) degrees" % (i, b - a))
                p.on_cdeg[i] = int(a * 100 + 0.5) % 36000
                p.span_cdeg[i] = int((b - a) * 100 + 0.5)
            lv = _per_channel(params, "intensity", 1.0, 0.0, 1.0, n)
            for i in range(n):
                p.level_q12[i] = int(lv[i] * ACT_ONE + 0.5)
            p.delay_ms = int(_num(params, "delay_ms", 100, 0, 500))
            p.timeout_ms = int(_num(params, "timeout_ms", 500, 50, 1000))
            p.min_crpm = int(_num(params, "min_rpm", 0, 0, 200) * 100 + 0.5)
            ao = _num(params, "angle_output", 0, 0, 63)
            if ao != int(ao):
                raise ValueError("stim param angle_output=%r must be an output index" % (ao,))
            p.angle_output = int(ao)
            src = _num(params, "crank_source", 0, 0, 1)
            if src != int(src):
                raise ValueError("stim param crank_source=%r must be 0 (crank sensor) or 1 (thigh IMU)" % (src,))
            p.crank_source = int(src)
            if p.crank_source:
                if "imu_max_deg" not in params or "imu_min_deg" not in params:
                    raise ValueError("crank_source 1 (thigh IMU) needs imu_max_deg and imu_min_deg")
                hi = int(_num(params, "imu_max_deg", 0, 0, 360) * 100 + 0.5) % 36000
                lo = int(_num(params, "imu_min_deg", 0, 0, 360) * 100 + 0.5) % 36000
                if hi == lo:
                    raise ValueError("imu_max_deg and imu_min_deg must differ")
                p.imu_max_cdeg, p.imu_min_cdeg = hi, lo
            p._cycling_modes(params)
        return p

    def _cycling_modes(self, params) -> None:
        m = params.get("mode", M_WINDOWS)
        if isinstance(m, bool) or m not in (0, 1, 2):
            raise ValueError("unknown cycling mode %r (known: %s)" % (m, ", ".join("%d %s" % (i, n) for i, n in enumerate(MODES))))
        self.mode = int(m)
        mode = MODES[self.mode]
        cpg = {}
        for k in params:
            if k.startswith("cpg_"):
                if mode != "cpg":
                    raise ValueError("stim param %r needs mode 2 (cpg)" % (k,))
                if k not in ("cpg_side", "cpg_inputs"):
                    cpg[k[4:]] = params[k]
        if mode != "emg":
            for k in ("level", "inputs"):
                if k in params:
                    raise ValueError("stim param %r needs mode 1 (emg)" % (k,))
        self.thr_q12 = int(_num(params, "level", 0.2, 1e-6, 1.0) * ACT_ONE + 0.5)
        if mode == "cpg":
            self.cpg = Cpg.from_dict(cpg)
            sides = params.get("cpg_side", [0, 0, 1, 1])
            if not isinstance(sides, list) or len(sides) > self.n:
                raise ValueError("stim param 'cpg_side' must be a list of at most %d sides" % self.n)
            for i in range(self.n):
                v = sides[i] if i < len(sides) else -1
                if v not in (-1, 0, 1) or isinstance(v, bool):
                    raise ValueError("stim param cpg_side[%d]=%r must be 0 (A), 1 (B) or -1" % (i, v))
                self.side[i] = int(v)
            ins = params.get("cpg_inputs", [-1, -1])
            if not isinstance(ins, list) or len(ins) != 2:
                raise ValueError("stim param 'cpg_inputs' must be [activation for A, for B]")
            for v in ins:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not -1 <= v < 64:
                    raise ValueError("stim param cpg_inputs value %r must be an index 0..63 or -1" % (v,))
            self.cpg_in0, self.cpg_in1 = int(ins[0]), int(ins[1])
        rx = params.get("reflex", 0)
        if rx not in (0, 1) or isinstance(rx, bool):
            raise ValueError("stim param reflex=%r must be 0 or 1" % (rx,))
        rxp = {}
        for k in params:
            if k.startswith("reflex_") and k not in ("reflex_inputs", "reflex_z"):
                rxp[k[7:]] = params[k]
        if not rx and (rxp or "reflex_inputs" in params or "reflex_z" in params):
            raise ValueError("reflex parameters need reflex=1")
        if rx:
            self.reflex_on = True
            self.reflex = Reflex.from_dict(rxp)
            ins = params.get("reflex_inputs")
            if not isinstance(ins, list) or len(ins) != 4:
                raise ValueError("stim param 'reflex_inputs' must list 4 activation indices (L quad, L ham, R quad, R ham)")
            for i in range(4):
                v = ins[i]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v < 64:
                    raise ValueError("stim param reflex_inputs[%d]=%r must be an index 0..63" % (i, v))
                self.rx_in[i] = int(v)
            zs = params.get("reflex_z", [])
            if not isinstance(zs, list) or len(zs) > 4:
                raise ValueError("stim param 'reflex_z' must list up to 4 stimulation channels")
            for i in range(len(zs)):
                v = zs[i]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v < self.n:
                    raise ValueError("stim param reflex_z[%d]=%r must be a channel 0..%d" % (i, v, self.n - 1))
                self.rx_z[i] = int(v)
        tr = _num(params, "target_rpm", 0, 0, 200)
        self.target_crpm = int(tr * 100 + 0.5)
        self.kp_q12 = int(_num(params, "kp", 0.05, 0.0, 1.0) * ACT_ONE + 0.5)
        self.ki_q12 = int(_num(params, "ki", 0.02, 0.0, 1.0) * ACT_ONE + 0.5)

    # ---- inputs --------------------------------------------------------------------
    def set_crank(self, angle_cdeg: int, cadence_crpm: int, now_ms) -> None:
        """A crank reading: angle 0..35999 cdeg; cadence in crpm, or -1 to estimate it
        from successive angles (decoder regression output). Allocation-free."""
        if cadence_crpm < 0:
            prev = self._est_prev
            dt = time.ticks_diff(now_ms, self._est_ms)
            if prev >= 0 and 0 < dt <= 1000:
                d = angle_cdeg - prev
                if d < 0:
                    d += 36000
                if d > 18000:  # backwards or a jump: no forward cadence
                    d = 0
                # cdeg per ms -> crpm: crpm = d / dt * 1000 / 6 ; d * 1000 < 2**30
                est = d * 1000 // (6 * dt)
                cadence_crpm = (3 * self.crpm + est) >> 2 if self._have_est else est
                self._have_est = True
            else:
                cadence_crpm = 0
                self._have_est = False
            self._est_prev = angle_cdeg
            self._est_ms = now_ms
        if cadence_crpm > 65535:
            cadence_crpm = 65535
        self.angle = angle_cdeg
        self.crpm = cadence_crpm
        self.crank_ms = now_ms
        self.crank_ok = True

    def crank_angle(self, now_ms) -> int:
        """Crank angle now, advanced by the electromechanical delay (cdeg), or -1 if the
        crank data is stale."""
        if not self.crank_ok:
            return -1
        el = time.ticks_diff(now_ms, self.crank_ms)
        if el < 0 or el > self.timeout_ms:  # negative: a stale tick across a wrap
            return -1
        # crpm * 6 = cdeg per s; crpm <= 65535, el + delay <= 1500 ms: < 2**30
        return (self.angle + self.crpm * 6 * (el + self.delay_ms) // 1000) % 36000

    # ---- the per-window path (no allocation) ---------------------------------------
    def cap_below_motor(self, motor, top, n: int):
        """None, or why this policy cannot run on these calibrations: a max_mA cap below a
        calibrated channel's motor threshold (the output would have to exceed the cap)."""
        for ch in range(n):
            if top[ch] > 0 and self.top_ua[ch] < motor[ch]:
                return "policy max_mA cap %d uA on channel %d is below its motor threshold %d uA" % (
                    self.top_ua[ch], ch, motor[ch])
        return None

    def targets(self, acts, n_acts: int, motor, top, out, now_ms) -> None:
        """Fill out[ch] (uA, 0 = off) for every channel from activations (Q12) or the
        crank; motor/top: per-channel calibrated motor threshold and max comfortable
        (top 0 = uncalibrated -> off)."""
        k = self.kind
        n = self.n
        ang = -1
        track = ACT_ONE
        mode = self.mode
        if k == P_CYCLING:
            ang = self.crank_angle(now_ms)
            if self.crpm < self.min_crpm:
                ang = -1
            if self.target_crpm > 0:
                track = self._track(ang >= 0, now_ms)
            if mode == M_CPG:
                self._run_cpg(ang, acts, n_acts, now_ms)
            if self.reflex_on and self._run_reflex(acts, n_acts, now_ms):
                ang = -1  # withdrawn: no channel is asked for anything
        for ch in range(n):
            hi = top[ch]
            cap = self.top_ua[ch]
            if cap < hi:
                hi = cap
            lo = motor[ch]
            a = 0
            if top[ch] <= 0 or k == P_OFF or hi < lo:  # a cap below the motor threshold: off, never raised
                a = 0
            elif k == P_CYCLING:
                on = False
                if mode == M_CPG:
                    sd = self.side[ch]
                    on = ang >= 0 and sd >= 0 and self.cpg.bursting(sd)
                else:
                    span = self.span_cdeg[ch]
                    if ang >= 0 and span > 0:
                        d = ang - self.on_cdeg[ch]
                        if d < 0:
                            d += 36000
                        on = d < span
                    if mode == M_EMG:
                        bit = 1 << ch
                        if not on:
                            self.latch &= ~bit
                        elif not self.latch & bit:
                            i = self.inputs[ch]
                            if 0 <= i < n_acts and acts[i] >= self.thr_q12:
                                self.latch |= bit
                            else:
                                on = False
                if on and track > 0:  # tracking at 0: too fast, no assist
                    a = lo + (((hi - lo) * ((self.level_q12[ch] * track) >> 12)) >> 12)
            else:
                i = self.inputs[ch]
                if 0 <= i < n_acts:
                    x = acts[i]
                    if x > ACT_ONE:
                        x = ACT_ONE
                    if k == P_PROPORTIONAL:
                        if x >= self.dead_q12 and x > 0:
                            d = x - self.dead_q12
                            # rounded to nearest; d < sat keeps the product < 2**25
                            lv = ACT_ONE if d >= self.sat else (d * self.scale_q12 + 2048) >> 12
                            if lv > ACT_ONE:
                                lv = ACT_ONE
                            a = lo + (((hi - lo) * lv) >> 12)
                    elif x >= self.thr_q12:
                        a = lo + (((hi - lo) * self.level_q12[ch]) >> 12)
            out[ch] = a

    def _track(self, fresh: bool, now_ms) -> int:
        """Cadence tracking: the intensity factor (Q12) from a PI on the cadence error;
        the integral holds while the crank data is stale. Allocation-free."""
        if not fresh:
            self._track_started = False
            return self.track_q12
        dt = 0
        if self._track_started:
            dt = time.ticks_diff(now_ms, self._track_ms)
            if dt < 0:
                dt = 0
            if dt > 100:
                dt = 100
        self._track_started = True
        self._track_ms = now_ms
        err = self.target_crpm - self.crpm  # |err| <= 65535 crpm
        # ki_q12 * err / 100 <= 4096 * 655 ; * dt (<= 100) < 2**28
        ig = self.integ_q12 + (self.ki_q12 * err // 100) * dt // 1000
        if ig < 0:
            ig = 0
        if ig > ACT_ONE:
            ig = ACT_ONE
        self.integ_q12 = ig
        lv = (self.kp_q12 * err) // 100 + ig
        if lv < 0:
            lv = 0
        if lv > ACT_ONE:
            lv = ACT_ONE
        self.track_q12 = lv
        return lv

    def _run_cpg(self, ang: int, acts, n_acts: int, now_ms) -> None:
        """Advance the pattern generator to now (one step per ms, at most 100 per call)."""
        if not self._cpg_started:
            self._cpg_started = True
            self._cpg_ms = now_ms
            return
        dt = time.ticks_diff(now_ms, self._cpg_ms)
        if dt <= 0:
            return
        self._cpg_ms = now_ms
        if dt > _CPG_MAX_STEPS:
            dt = _CPG_MAX_STEPS
        a0 = 0
        a1 = 0
        i = self.cpg_in0
        if 0 <= i < n_acts:
            a0 = acts[i]
        i = self.cpg_in1
        if 0 <= i < n_acts:
            a1 = acts[i]
        self.cpg.run(ang, a0, a1, dt)

    def bind_impedance(self, ohms) -> None:
        """The per-channel electrode readings the reflex's reflex_z channels read (the
        supervisor's array, updated by its electrode check before every pulse)."""
        self.z_ohm = ohms

    def _run_reflex(self, acts, n_acts: int, now_ms) -> bool:
        """Advance the withdrawal reflex to now; True while it holds stimulation off."""
        if not self._rx_started:
            self._rx_started = True
            self._rx_ms = now_ms
            return self.reflex.holding()
        dt = time.ticks_diff(now_ms, self._rx_ms)
        if dt > 0:
            self._rx_ms = now_ms
            if dt > _CPG_MAX_STEPS:
                dt = _CPG_MAX_STEPS
            ix = self.rx_in
            a0 = acts[ix[0]] if ix[0] < n_acts else 0
            a1 = acts[ix[1]] if ix[1] < n_acts else 0
            a2 = acts[ix[2]] if ix[2] < n_acts else 0
            a3 = acts[ix[3]] if ix[3] < n_acts else 0
            zo = self.z_ohm
            zc = self.rx_z
            z = self.reflex.z
            for e in range(4):
                z[e] = zo[zc[e]] if zo is not None and zc[e] >= 0 else 0
            self.reflex.run(a0, a1, a2, a3, dt)
        return self.reflex.holding()
