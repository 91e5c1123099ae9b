"""Live simulated garment: consecutive blocks of phantom EMG, with stimulation and drive hooks.

A :class:`PhantomStream` yields exactly what :func:`garment.phantom.generate` would for the same
scenario and seed, however the caller slices the blocks.  A test rig can change the drive of a
muscle at a known time (e.g. to measure closed-loop latency) and report stimulation pulses,
which add artefacts and M-waves to the blocks produced afterwards.
"""
from __future__ import annotations

import bisect
from typing import Any, Iterable

import numpy as np

from .artefacts import LATE_PULSE_S, StimPulse
from .engine import PhantomConfig, PhantomEngine, Segment
from .montage import montage_sites
from .noise import InterferenceConfig
from .result import PhantomResult
from .scenarios import make_scenario

_NOISE_KEYS = {"noise_uV", "mains_hz", "mains_uV", "mains_harmonics", "wander_uV", "dc_offset_uV"}
_ENGINE_KEYS = {
    "n_units",
    "stim_artefact",
    "motion_rate_hz",
    "motion_uV",
    "pedal_motion_uV",
    "fatigue_rate",
    "fatigue_tau_s",
    "recovery_tau_s",
    "cv_drop",
    "crosstalk",
    "stim_latency_ms",
}


def split_options(options: dict[str, Any]) -> tuple[PhantomConfig, dict[str, Any], list[StimPulse]]:
    """Separate phantom options (noise, motion, fatigue, units, ``stim_pulses``) from scenario ones."""
    noise = {k: options[k] for k in options if k in _NOISE_KEYS}
    eng = {k: options[k] for k in options if k in _ENGINE_KEYS}
    pulses = [as_pulse(p) for p in options.get("stim_pulses", None) or []]
    scen = {k: v for k, v in options.items() if k not in _NOISE_KEYS | _ENGINE_KEYS | {"stim_pulses"}}
    cfg = PhantomConfig(interference=InterferenceConfig(**noise), **eng)
    return cfg, scen, pulses


def as_pulse(p: StimPulse | tuple | list) -> StimPulse:
    """A :class:`StimPulse` from itself or a ``(t_s, channel, amplitude_ma[, width_us])`` tuple."""
    return p if isinstance(p, StimPulse) else StimPulse(*p)


class PhantomStream:
    """Incremental phantom: ``next_block(n)`` continues seamlessly from the previous block.

    Example::

        s = PhantomStream("cycling", fs=2000, channels=8, seed=1, cadence_rpm=90)
        x = s.next_block(64)                       # (64, 8) float32 microvolts
        s.stimulate(s.time_s + 0.01, channel=1, amplitude_ma=25, width_us=300)
        s.inject_onset(s.time_s + 0.5, channel=0, level=0.6)
    """

    def __init__(
        self,
        scenario: str = "cycling",
        fs: float = 2000.0,
        channels: int = 8,
        seed: int = 0,
        *,
        keep_truth: bool = False,
        **options: Any,
    ) -> None:
        """Set up a stream.

        Args:
            scenario: ``cycling``, ``rest``, ``mvc``, ``gestures`` or ``sustained``.
            fs: sampling rate (Hz), 250..2000 typical (any positive value works).
            channels: first ``channels`` of the 8-channel montage.
            seed: seed; same seed, same signal.
            keep_truth: keep the ground truth of everything produced, for :meth:`result`
                (memory grows with time; off for long live runs).
            **options: scenario options (e.g. ``cadence_rpm``) and phantom options
                (``noise_uV``, ``mains_hz``, ``mains_uV``, ``wander_uV``, ``dc_offset_uV``,
                ``motion_rate_hz``, ``motion_uV``, ``pedal_motion_uV``, ``fatigue_rate``,
                ``cv_drop``, ``crosstalk``, ``n_units``, ``stim_pulses``, ...).
        """
        cfg, scen_opts, pulses = split_options(options)
        self.sites = montage_sites(channels)
        self.scenario_name = scenario
        self.seed = int(seed)
        self.scenario = make_scenario(scenario, self.sites, seed, **scen_opts)
        self.engine = PhantomEngine(self.scenario, self.sites, fs, seed, cfg)
        self._has_crank = self.scenario.crank_angle_deg(np.zeros(1)) is not None
        self.keep_truth = keep_truth
        self._pos = 0
        self._seg: Segment | None = None
        self._snap: tuple | None = None
        self._done: list[Segment] = []
        self._pending: list[tuple[float, int, StimPulse]] = []  # sorted by time
        self._n_pulses = 0
        self._overlays: list[tuple[int, np.ndarray]] = []
        self._applied: list[tuple[float, int, float, float, float]] = []
        #: Ground truth of the last block: ``start`` sample, ``drive`` (n, M), ``crank_angle_deg``.
        self.last_truth: dict[str, Any] = {}
        for p in pulses:
            self.stimulate(p.t_s, p.channel, p.amplitude_ma, p.width_us)

    # -- properties ------------------------------------------------------------------------
    @property
    def fs(self) -> float:
        """Sampling rate (Hz)."""
        return self.engine.fs

    @property
    def channels(self) -> int:
        """Number of channels."""
        return len(self.sites)

    @property
    def channel_names(self) -> list[str]:
        """Channel names (montage order)."""
        return [s.name for s in self.sites]

    @property
    def muscles(self) -> list[str]:
        """Simulated muscles (one per channel)."""
        return [s.name for s in self.sites]

    @property
    def position(self) -> int:
        """Samples produced so far (= index of the next sample)."""
        return self._pos

    @property
    def time_s(self) -> float:
        """Time of the next sample (s)."""
        return self._pos / self.fs

    # -- producing -------------------------------------------------------------------------
    def _advance(self) -> None:
        if self._seg is not None and self.keep_truth:
            self._done.append(self._seg)
        self._snap = self.engine.snapshot()
        self._seg = self.engine.render()

    def next_block(self, n: int) -> np.ndarray:
        """The next ``n`` samples, (n, channels) float32 microvolts."""
        n = int(n)
        if n < 0:
            raise ValueError("n must be >= 0")
        p0 = self._pos
        out = np.empty((n, self.channels))
        drive = np.empty((n, len(self.sites)))
        crank = np.empty(n) if self._has_crank else None
        i = 0
        seg_n = self.engine.seg_n
        while i < n:
            if self._seg is None or self._pos >= self._seg.start + seg_n:
                self._advance()
            seg = self._seg
            assert seg is not None
            off = self._pos - seg.start
            take = min(n - i, seg_n - off)
            out[i : i + take] = seg.emg[off : off + take]
            drive[i : i + take] = seg.drive[off : off + take]
            if crank is not None and seg.crank_deg is not None:
                crank[i : i + take] = seg.crank_deg[off : off + take]
            i += take
            self._pos += take
        self._apply_stimulation(out, p0)
        self.last_truth = {"start": p0, "drive": drive, "crank_angle_deg": crank}
        return out.astype(np.float32)

    def _apply_stimulation(self, out: np.ndarray, p0: int) -> None:
        end = p0 + out.shape[0]
        while self._pending and self._pending[0][0] * self.fs < end:
            _, _, pulse = self._pending.pop(0)
            start, wave, rho = self.engine.render_pulse(pulse)
            self._overlays.append((start, wave))
            self._applied.append((pulse.t_s, pulse.channel, pulse.amplitude_ma, pulse.width_us, rho))
        keep = []
        for start, wave in self._overlays:
            a, b = max(start, p0), min(start + wave.shape[0], end)
            if a < b:
                out[a - p0 : b - p0] += wave[a - start : b - start]
            if start + wave.shape[0] > end:
                keep.append((start, wave))
        self._overlays = keep

    # -- hooks -----------------------------------------------------------------------------
    def stimulate(self, t_s: float, channel: int, amplitude_ma: float, width_us: float = 300.0) -> bool:
        """Report a stimulation pulse: its artefact and M-wave appear in the blocks that follow.

        Pulses may be reported a little late: a pulse up to 50 ms before :attr:`time_s` is
        applied to the part not yet produced; older ones are ignored.

        Args:
            t_s: time of the pulse (s, same clock as the samples).
            channel: stimulated electrode (= channel over the stimulated muscle).
            amplitude_ma: current per phase (mA).
            width_us: phase width (us).

        Returns:
            True if the pulse was accepted.
        """
        if not 0 <= int(channel) < self.channels:
            raise ValueError(f"channel must be 0..{self.channels - 1}")
        if t_s * self.fs < self._pos - LATE_PULSE_S * self.fs:
            return False
        pulse = StimPulse(float(t_s), int(channel), float(amplitude_ma), float(width_us))
        bisect.insort(self._pending, (pulse.t_s, self._n_pulses, pulse))
        self._n_pulses += 1
        return True

    def stimulate_now(
        self, t_s: float, channel: int, amplitude_ma: float, width_us: float = 300.0
    ) -> tuple[int, np.ndarray]:
        """Render a pulse's response at once, even when reported after its samples were made.

        The part from the current position on appears in the coming blocks; the part that
        falls on samples already produced is returned as ``(first sample, (k, C) uV)`` for a
        caller who can still deliver it (the simulated garment's AFE input queue).
        """
        if not 0 <= int(channel) < self.channels:
            raise ValueError(f"channel must be 0..{self.channels - 1}")
        pulse = StimPulse(float(t_s), int(channel), float(amplitude_ma), float(width_us))
        start, wave, rho = self.engine.render_pulse(pulse)
        self._overlays.append((start, wave))
        self._applied.append((pulse.t_s, pulse.channel, pulse.amplitude_ma, pulse.width_us, rho))
        head = wave[: max(0, min(self._pos, start + wave.shape[0]) - start)]
        return start, head

    def stimulate_many(self, pulses: Iterable[StimPulse | tuple]) -> int:
        """Report several pulses (:class:`StimPulse` or ``(t_s, channel, mA[, us])``); count accepted."""
        return sum(self.stimulate(p.t_s, p.channel, p.amplitude_ma, p.width_us) for p in map(as_pulse, pulses))

    def _muscle_index(self, target: str | int) -> int:
        if isinstance(target, str):
            names = self.muscles
            if target not in names:
                raise ValueError(f"unknown muscle {target!r}; have {names}")
            return names.index(target)
        if not 0 <= int(target) < self.channels:
            raise ValueError(f"channel must be 0..{self.channels - 1}")
        return int(target)

    def set_drive(self, target: str | int, level: float | None, t_s: float | None = None) -> None:
        """Hold a muscle's drive at ``level`` (0..1) from ``t_s`` on (default: the next sample).

        ``level=None`` hands the muscle back to the scenario.  A time already produced is moved
        to the next sample (the past cannot change).  A step at a known time is exactly what a
        latency test needs: the ground truth drive steps at that sample.

        Args:
            target: muscle name (``"L_VL"``) or channel index.
            level: drive 0..1, or None to release.
            t_s: when (s); None = now.
        """
        m = self._muscle_index(target)
        s = self._pos if t_s is None else int(round(t_s * self.fs))
        s = max(s, self._pos)
        self.engine.add_override(s, m, level)
        seg = self._seg
        if seg is not None and self._snap is not None and s < seg.start + self.engine.seg_n:
            # The change falls inside the segment being delivered: re-render it.  Spike
            # generation is causal and random draws are fixed per segment, so the samples
            # before the change are unchanged and the stream stays seamless.
            self.engine.restore(self._snap)
            self._seg = self.engine.render()

    def set_fatigue(self, level: float) -> None:
        """Set every muscle's fatigue (0 rested .. 1 fully fatigued: conduction velocity
        down by ``cv_drop``, so MUAPs and evoked M-waves last longer) from the next
        segment on; tests use it to start from a known state."""
        if not 0.0 <= level <= 1.0:
            raise ValueError("fatigue level must be in 0..1")
        self.engine.fatigue[:] = level
        if self._snap is not None:  # a re-render of the current segment keeps it too
            k, res, fat, carry = self._snap
            self._snap = (k, res, np.full_like(fat, level), carry)

    def inject_onset(self, t_s: float, channel: str | int, level: float = 0.5) -> None:
        """Step the drive of the muscle under ``channel`` to ``level`` at ``t_s`` (latency tests)."""
        self.set_drive(channel, level, t_s)

    # -- truth -----------------------------------------------------------------------------
    def result(self, emg_uV: np.ndarray | None = None) -> PhantomResult:
        """Ground truth of everything produced so far (needs ``keep_truth=True``).

        Args:
            emg_uV: the samples produced since the start, to include (else an empty array).
        """
        if not self.keep_truth:
            raise RuntimeError("create the stream with keep_truth=True to collect ground truth")
        n = self._pos
        segs = self._done + ([self._seg] if self._seg is not None else [])
        m_n = len(self.sites)
        seg_n = self.engine.seg_n
        truth: dict[str, Any] = {}
        if segs:
            truth["drive"] = np.concatenate([s.drive for s in segs])[:n].astype(np.float32)
            truth["cv_factor"] = np.concatenate([np.repeat(s.cv_factor[None, :], seg_n, 0) for s in segs])[:n].astype(
                np.float32
            )
        else:
            truth["drive"] = np.zeros((0, m_n), np.float32)
            truth["cv_factor"] = np.zeros((0, m_n), np.float32)
        if self._has_crank:
            crank = np.concatenate([s.crank_deg for s in segs])[:n] if segs else np.zeros(0)
            truth["crank_angle_deg"] = crank.astype(np.float32)
        if self.scenario.classes is not None:
            truth["class_index"] = (
                np.concatenate([s.class_index for s in segs])[:n] if segs else np.zeros(0, np.int16)
            )
            truth["classes"] = list(self.scenario.classes)
        spikes: dict[str, list[np.ndarray]] = {}
        for m, site in enumerate(self.sites):
            u_n = self.engine.pools[m].n_units
            if segs:
                units = np.concatenate([s.spikes[m][0] for s in segs])
                samples = np.concatenate([s.spikes[m][1] for s in segs])
            else:
                units = samples = np.zeros(0, np.int64)
            keep = samples < n
            units, samples = units[keep], samples[keep]
            order = np.argsort(units, kind="stable")  # segments are in time order already
            units, samples = units[order], samples[order]
            spikes[site.name] = np.split(samples, np.searchsorted(units, np.arange(1, u_n)))
        truth["spikes"] = spikes
        motion = np.concatenate([s.motion for s in segs]) if segs else np.zeros((0, 4))
        truth["motion_artefacts"] = motion[motion[:, 0] * self.fs < n] if motion.size else np.zeros((0, 4))
        truth["stim_pulses"] = np.array(self._applied, dtype=float).reshape(-1, 5)
        truth["recruitment_drive"] = {s.name: self.engine.pools[i].recruitment_drive for i, s in enumerate(self.sites)}
        return PhantomResult(
            emg_uV=np.zeros((0, self.channels), np.float32) if emg_uV is None else emg_uV,
            fs=self.fs,
            channel_names=self.channel_names,
            muscles=self.muscles,
            annotations=self._annotations(n / self.fs),
            truth=truth,
            scenario=self.scenario_name,
            seed=self.seed,
        )

    def _annotations(self, t_end: float) -> list[tuple[float, float, str]]:
        ann = list(self.scenario.annotations(t_end))
        # Stimulation trains: consecutive pulses on one channel less than 0.25 s apart.
        rows = sorted(self._applied, key=lambda r: (r[1], r[0]))
        i = 0
        while i < len(rows):
            j = i
            while j + 1 < len(rows) and rows[j + 1][1] == rows[i][1] and rows[j + 1][0] - rows[j][0] < 0.25:
                j += 1
            t0, ch, ma = rows[i][0], rows[i][1], rows[i][2]
            ann.append((t0, rows[j][0] - t0, f"stim {self.sites[ch].name} {ma:g} mA"))
            i = j + 1
        return sorted(ann, key=lambda a: a[0])
