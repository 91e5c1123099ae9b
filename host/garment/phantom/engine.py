"""The synthesiser: turns a scenario into multichannel surface EMG, one fixed segment at a time.

Work is done in fixed segments (0.5 s) whose random numbers come from generators seeded by
``(seed, segment index, component)``.  Output therefore does not depend on how a caller slices
it into blocks, and a segment can be re-rendered from a snapshot of the carried state (unit
phases, fatigue, the tails of potentials that spill into the next segment) when the drive is
changed on the fly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .artefacts import (
    MOTION_TAU_MAX_S,
    StimPulse,
    motion_events,
    motion_waveform,
    pedal_motion,
    recruited_fraction,
    stim_artefact,
)
from .fatigue import CV_STEP, FatigueLaw
from .montage import MuscleSite, crosstalk_matrix, stim_spread_matrix
from .motor_units import MotorUnitPool, discharge, initial_residuals
from .muap import PHASES, MuscleMuaps, build_muscle_muaps, far_template, template_bank, template_length
from .noise import Interference, InterferenceConfig
from .scenarios import Scenario

#: Segment length (s): the unit of work and of re-rendering after a drive change.
SEGMENT_S = 0.5
#: Rate at which firing rates follow the drive (Hz).
CONTROL_HZ = 500.0


@dataclass(frozen=True)
class PhantomConfig:
    """Options of the phantom that are not part of a scenario.

    Attributes:
        n_units: motor units per muscle.
        interference: amplifier noise, mains and wander levels.
        motion_rate_hz: random motion artefacts per channel per second (None: scenario's default).
        motion_uV: typical motion artefact amplitude.
        pedal_motion_uV: amplitude of the artefact locked to the pedal cycle (cycling only).
        fatigue_rate: scales how fast drive fatigues the muscle (0 disables fatigue).
        fatigue_tau_s: time constant of fatigue build-up at drive 1.0.
        recovery_tau_s: time constant of recovery at rest.
        cv_drop: fractional conduction-velocity loss of a fully fatigued muscle.
        crosstalk: scales crosstalk between neighbouring muscles (0 disables it).
        stim_latency_ms: mean onset latency of the evoked M-wave (units spread +-1 ms).
        stim_artefact: add the stimulation artefact itself (False when something else
            already couples it in, e.g. the simulated garment's stimulator model, which
            injects it into the AFE at the exact pulse sample; the M-wave stays).
    """

    n_units: int = 100
    interference: InterferenceConfig = field(default_factory=InterferenceConfig)
    motion_rate_hz: float | None = None
    motion_uV: float = 150.0
    pedal_motion_uV: float = 8.0
    fatigue_rate: float = 1.0
    fatigue_tau_s: float = 30.0
    recovery_tau_s: float = 200.0
    cv_drop: float = 0.35
    crosstalk: float = 1.0
    stim_latency_ms: float = 4.0
    stim_artefact: bool = True


@dataclass
class Segment:
    """One rendered segment and its ground truth (absolute sample ``start``)."""

    start: int
    emg: np.ndarray  # (n, C) float64 microvolts
    drive: np.ndarray  # (n, M)
    cv_factor: np.ndarray  # (M,) conduction-velocity factor used for this segment
    spikes: list[tuple[np.ndarray, np.ndarray]]  # per muscle: (unit index, absolute sample)
    crank_deg: np.ndarray | None
    class_index: np.ndarray | None
    motion: np.ndarray  # (k, 4) onset_s, channel, amp_uV, tau_s


class PhantomEngine:
    """Segment-by-segment synthesiser with carried state (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        sites: Sequence[MuscleSite],
        fs: float,
        seed: int = 0,
        config: PhantomConfig | None = None,
    ) -> None:
        """Draw the anatomy (units, MUAPs, interference) and reset the state.

        Args:
            scenario: drive source.
            sites: one site per channel/muscle.
            fs: sampling rate (Hz).
            seed: master seed; everything random derives from it.
            config: non-scenario options.
        """
        if fs <= 0:
            raise ValueError("fs must be > 0")
        if int(seed) < 0:
            raise ValueError("seed must be >= 0")
        self.scenario = scenario
        self.sites = list(sites)
        self.fs = float(fs)
        self.seed = int(seed)
        self.cfg = config or PhantomConfig()
        c = len(self.sites)
        rng = np.random.default_rng([self.seed, 0xA7A])
        self.pools = [MotorUnitPool.fuglevand(self.cfg.n_units) for _ in self.sites]
        self.muaps: list[MuscleMuaps] = [build_muscle_muaps(s, p, rng) for s, p in zip(self.sites, self.pools)]
        self.interference = Interference(self.cfg.interference, c, self.fs, rng)
        self.pedal_amp = self.cfg.pedal_motion_uV * rng.uniform(0.3, 1.0, (2, c)) * np.array([[1.0], [0.5]])
        self.pedal_phase = rng.uniform(0, 2 * np.pi, (2, c))
        self.leg_offset = np.array([180.0 if s.side == "R" else 0.0 for s in self.sites])
        self.xtalk = crosstalk_matrix(self.sites) * self.cfg.crosstalk  # (C, M)
        self.stim_spread = stim_spread_matrix(self.sites)  # (S, C)
        # Electrical stimulation recruits units in an order unrelated to size; each has its own
        # axonal latency (faster for larger axons).
        self.stim_order = [rng.permutation(p.n_units) for p in self.pools]
        rank = [np.linspace(0.0, 1.0, p.n_units) for p in self.pools]
        self.stim_latency_s = [
            (self.cfg.stim_latency_ms + 0.8 - 1.6 * r + rng.normal(0, 0.3, r.size)) * 1e-3 for r in rank
        ]
        self.motion_rate = scenario.motion_rate_hz if self.cfg.motion_rate_hz is None else self.cfg.motion_rate_hz
        # Firing rates are updated every `q` samples (~500 Hz): motor-neuron rates change far
        # more slowly, and spike times stay exact within each step.
        self.q = max(1, int(round(self.fs / CONTROL_HZ)))
        self.seg_n = self.q * max(1, int(round(self.fs * SEGMENT_S / self.q)))
        cv_min = 1.0 - self.cfg.cv_drop
        l_max = max(max(template_length(m.span_mm, m.cv, cv_min, self.fs) for m in self.muaps),
                    max(template_length(m.far_span_mm, m.cv_far, cv_min, self.fs) for m in self.muaps) + 2)
        self.tail_n = max(l_max, int(np.ceil(8 * MOTION_TAU_MAX_S * self.fs)) + 2) + 1
        self._banks: list[dict[int, np.ndarray]] = [{} for _ in self.sites]
        self._fars: list[dict[int, np.ndarray]] = [{} for _ in self.sites]
        # Drive overrides per muscle: (absolute sample, level or None = back to the scenario).
        self.overrides: list[list[tuple[int, float | None]]] = [[] for _ in self.sites]
        # Carried state.
        self.k = 0
        self.residual = [initial_residuals(p, rng) for p in self.pools]
        self.fatigue = np.zeros(c)
        self.fatigue_law = FatigueLaw(self.cfg.fatigue_rate, self.cfg.fatigue_tau_s, self.cfg.recovery_tau_s,
                                      self.cfg.cv_drop)
        self.carry = np.zeros((self.tail_n, c))

    # -- state -----------------------------------------------------------------------------
    def snapshot(self) -> tuple:
        """Copy of the carried state (to re-render the next segment later)."""
        return (self.k, [r.copy() for r in self.residual], self.fatigue.copy(), self.carry.copy())

    def restore(self, snap: tuple) -> None:
        """Return to a state taken by :meth:`snapshot`."""
        k, res, fat, carry = snap
        self.k, self.residual, self.fatigue, self.carry = k, [r.copy() for r in res], fat.copy(), carry.copy()

    @property
    def cv_factor(self) -> np.ndarray:
        """Current conduction-velocity factor per muscle (1 = fresh)."""
        return self.fatigue_law.cv_factor(self.fatigue)

    # -- drive -----------------------------------------------------------------------------
    def add_override(self, sample: int, muscle: int, level: float | None) -> None:
        """From absolute ``sample`` on, hold ``muscle``'s drive at ``level`` (None: release)."""
        lst = self.overrides[muscle]
        lst.append((int(sample), None if level is None else float(np.clip(level, 0.0, 1.0))))
        lst.sort(key=lambda e: e[0])  # stable: later calls win at equal samples

    def drive_at(self, n0: int, n: int) -> np.ndarray:
        """Drive (n, M) for absolute samples ``n0 .. n0+n``, scenario plus overrides."""
        t = (n0 + np.arange(n)) / self.fs
        d = np.asarray(self.scenario.drive(t), dtype=float)
        scen = d.copy()
        for m, lst in enumerate(self.overrides):
            for s, level in lst:
                i = max(s - n0, 0)
                if i < n:
                    d[i:, m] = scen[i:, m] if level is None else level
        return d

    # -- templates -------------------------------------------------------------------------
    def bank(self, m: int, cvf: float) -> np.ndarray:
        """Template bank of muscle ``m`` at CV factor ``cvf`` (cached)."""
        key = int(round(cvf / CV_STEP))
        cache = self._banks[m]
        if key not in cache:
            if len(cache) > 3:
                cache.clear()
            cache[key] = template_bank(self.muaps[m], key * CV_STEP, self.fs)
        return cache[key]

    def far(self, m: int, cvf: float) -> np.ndarray:
        """Crosstalk template of muscle ``m`` at CV factor ``cvf`` (cached)."""
        key = int(round(cvf / CV_STEP))
        cache = self._fars[m]
        if key not in cache:
            if len(cache) > 3:
                cache.clear()
            cache[key] = far_template(self.muaps[m], key * CV_STEP, self.fs)
        return cache[key]

    def _add_spikes(self, out: np.ndarray, m: int, unit: np.ndarray, t: np.ndarray, cvf: float) -> None:
        """Add the potentials of spikes (unit, time in samples from out[0]) of muscle m to ``out``."""
        if unit.size == 0:
            return
        j = np.floor(t).astype(np.int64)
        f = t - j
        p = np.minimum((f * PHASES).astype(np.int64), PHASES - 1)
        bank = self.bank(m, cvf)
        length = bank.shape[2]
        idx = (j[:, None] + np.arange(length)).ravel()
        own = np.bincount(idx, weights=bank[unit, p].ravel(), minlength=out.shape[0])
        out[:, m] += own[: out.shape[0]]
        col = self.xtalk[:, m]
        if np.any(col > 0):
            w = self.muaps[m].far_weight[unit]
            imp = np.bincount(j, w * (1.0 - f), minlength=out.shape[0])
            imp[1:] += np.bincount(j, w * f, minlength=out.shape[0])[: imp.size - 1]
            far = np.convolve(imp[: out.shape[0]], self.far(m, cvf))[: out.shape[0]]
            out[:, col > 0] += far[:, None] * col[col > 0][None, :]

    # -- rendering -------------------------------------------------------------------------
    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    def render(self) -> Segment:
        """Render the next segment and advance the carried state."""
        k, n, c = self.k, self.seg_n, len(self.sites)
        n0 = k * n
        t = (n0 + np.arange(n)) / self.fs
        drive = self.drive_at(n0, n)
        cvf = self.cv_factor
        ext = np.zeros((n + self.tail_n, c))
        ext[: self.tail_n] += self.carry
        spikes = []
        q = self.q
        coarse = drive.reshape(n // q, q, -1).mean(axis=1)
        for m, pool in enumerate(self.pools):
            unit, ts, self.residual[m] = discharge(pool, coarse[:, m], q / self.fs, self.residual[m], self._rng(1, k, m))
            ts = ts * q
            self._add_spikes(ext, m, unit, ts, cvf[m])
            spikes.append((unit, n0 + np.floor(ts).astype(np.int64)))
        ext[:n] += self.interference.deterministic(t)
        ext[:n] += self.interference.noise(self._rng(2, k), n)
        crank = self.scenario.crank_angle_deg(t)
        if crank is not None and self.cfg.pedal_motion_uV > 0:
            ext[:n] += pedal_motion(crank[:, None] + self.leg_offset[None, :], self.pedal_amp, self.pedal_phase)
        motion = motion_events(self._rng(3, k), t[0], t[0] + n / self.fs, self.motion_rate, c, self.cfg.motion_uV)
        for onset, ch, amp, tau in motion:
            pos = onset * self.fs - n0
            s = int(np.floor(pos))
            wave = motion_waveform(amp, tau, pos - s, self.fs)
            ext[s : s + wave.size, int(ch)] += wave[: ext.shape[0] - s]
        # Fatigue: first-order build-up with drive, recovery at rest (exact step per segment).
        self.fatigue = self.fatigue_law.step(self.fatigue, drive.mean(axis=0), n / self.fs)
        self.carry = ext[n : n + self.tail_n].copy()
        self.k += 1
        return Segment(n0, ext[:n], drive, cvf, spikes, crank, self.scenario.class_index(t), motion)

    def render_pulse(self, pulse: StimPulse) -> tuple[int, np.ndarray, float]:
        """Stimulation artefact + M-wave of one pulse: ``(first absolute sample, (L, C) uV, fraction)``.

        Uses the muscles' current fatigue state for the evoked potentials.
        """
        ch = int(pulse.channel)
        if not 0 <= ch < len(self.sites):
            raise ValueError(f"stimulation channel {ch} out of range")
        pos = pulse.t_s * self.fs
        s = int(np.floor(pos))
        frac = pos - s
        art = stim_artefact(frac, self.fs, pulse.amplitude_ma, pulse.width_us)
        rho = recruited_fraction(pulse.amplitude_ma, pulse.width_us)
        units = self.stim_order[ch][: int(round(rho * self.pools[ch].n_units))]
        length = max(art.size, self.tail_n + int(np.ceil(0.01 * self.fs)))
        out = np.zeros((length, len(self.sites)))
        if self.cfg.stim_artefact:
            out[: art.size] += art[:, None] * self.stim_spread[ch][None, :]
        if units.size:
            # Spike times such that each unit's potential becomes visible after its latency.
            cvf = float(self.cv_factor[ch])
            lead = self.muaps[ch].onset_mm[units] / (self.muaps[ch].cv[units] * cvf * 1000.0)
            t = frac + np.maximum(self.stim_latency_s[ch][units] - lead, 0.0) * self.fs
            self._add_spikes(out, ch, units, t, cvf)
        return s, out, rho
