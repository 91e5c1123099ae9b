"""Scenarios: what the nervous system asks of each muscle, as drive (0..1) over time.

Every scenario is defined for all ``t >= 0`` (periodic or open-ended) and is a pure function of
absolute time, so a live stream can ask for any block and get the same values as a batch run.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .montage import MuscleSite

Annotation = tuple[float, float, str]


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 0x5CE7, *key])


class Scenario:
    """Base class: drive per muscle, optional crank angle and class labels, annotations."""

    name = "scenario"
    #: Default rate of random electrode-motion artefacts (per channel per second).
    motion_rate_hz = 0.02
    #: Class names when the scenario has per-sample labels (index 0 = rest).
    classes: tuple[str, ...] | None = None

    def __init__(self, sites: Sequence[MuscleSite], seed: int = 0) -> None:
        self.sites = list(sites)
        self.seed = int(seed)

    def drive(self, t: np.ndarray) -> np.ndarray:
        """Drive (0..1) of each muscle at absolute times ``t`` (s): shape (n, M)."""
        raise NotImplementedError

    def crank_angle_deg(self, t: np.ndarray) -> np.ndarray | None:
        """Left crank angle (0..360, 0 = top dead centre) at times ``t``, or None."""
        return None

    def class_index(self, t: np.ndarray) -> np.ndarray | None:
        """Index into :attr:`classes` of the label at each time, or None."""
        return None

    def annotations(self, t_end: float) -> list[Annotation]:
        """Labels ``(onset_s, duration_s, text)`` overlapping ``[0, t_end)``."""
        return [(0.0, float(t_end), self.name)]


class Rest(Scenario):
    """Relaxed muscles: drive ``level`` (default 0, below every recruitment threshold)."""

    name = "rest"
    motion_rate_hz = 0.01

    def __init__(self, sites: Sequence[MuscleSite], seed: int = 0, *, level: float = 0.0) -> None:
        super().__init__(sites, seed)
        self.level = float(level)

    def drive(self, t: np.ndarray) -> np.ndarray:
        return np.full((np.size(t), len(self.sites)), self.level)


class Sustained(Scenario):
    """Constant contraction at ``level`` (after a short ramp), e.g. for fatigue studies.

    Args:
        level: drive held (0..1).
        muscles: names (``"L_VL"``) of the contracting muscles; default all.
        onset_s: start of the ramp.
        rise_s: ramp duration.
    """

    name = "sustained"

    def __init__(
        self,
        sites: Sequence[MuscleSite],
        seed: int = 0,
        *,
        level: float = 0.7,
        muscles: Sequence[str] | None = None,
        onset_s: float = 0.5,
        rise_s: float = 0.5,
    ) -> None:
        super().__init__(sites, seed)
        self.level, self.onset_s, self.rise_s = float(level), float(onset_s), float(rise_s)
        names = [s.name for s in self.sites]
        self.mask = np.array([muscles is None or n in muscles for n in names], dtype=float)

    def drive(self, t: np.ndarray) -> np.ndarray:
        ramp = np.clip((np.asarray(t, float) - self.onset_s) / max(self.rise_s, 1e-9), 0.0, 1.0)
        return self.level * ramp[:, None] * self.mask[None, :]

    def annotations(self, t_end: float) -> list[Annotation]:
        return [(self.onset_s, max(t_end - self.onset_s, 0.0), f"sustained {self.level:g}")]


# Activation over the crank cycle (0 deg = left pedal at top dead centre), after EMG studies of
# cycling (e.g. Hug & Dorel 2009): (centre deg, width at half maximum deg, peak drive).
CYCLING_PROFILES: dict[str, tuple[float, float, float]] = {
    "RF": (345.0, 150.0, 0.22),  # hip flexion/knee extension around TDC
    "VL": (30.0, 130.0, 0.35),  # knee extension in the downstroke
    "BF": (110.0, 140.0, 0.22),  # hip extension / knee flexion, late downstroke
    "ST": (135.0, 150.0, 0.25),
}


class Cycling(Scenario):
    """Pedalling at ``cadence_rpm``: quadriceps and hamstrings bursts locked to the crank angle.

    The right crank leads/lags the left by 180 degrees, so right-leg bursts are half a cycle
    away from the left ones.  Cadence drifts slightly (``cadence_jitter_rpm``) and burst
    amplitude varies from cycle to cycle (``variability``), as in real pedalling.

    Args:
        cadence_rpm: mean cadence.
        intensity: multiplies every muscle's peak drive (1.0 ~ moderate endurance power).
        cadence_jitter_rpm: amplitude of slow cadence drift.
        variability: relative cycle-to-cycle burst amplitude variation.
        start_angle_deg: left crank angle at t=0.
        tone: background drive between bursts.
    """

    name = "cycling"
    motion_rate_hz = 0.1

    def __init__(
        self,
        sites: Sequence[MuscleSite],
        seed: int = 0,
        *,
        cadence_rpm: float = 80.0,
        intensity: float = 1.0,
        cadence_jitter_rpm: float = 2.0,
        variability: float = 0.1,
        start_angle_deg: float = 0.0,
        tone: float = 0.01,
    ) -> None:
        super().__init__(sites, seed)
        if cadence_rpm <= 0:
            raise ValueError("cadence_rpm must be > 0")
        rng = _rng(seed, 1)
        self.cadence_rpm = float(cadence_rpm)
        self.intensity = float(intensity)
        self.jitter = float(cadence_jitter_rpm)
        self.variability = float(variability)
        self.start = float(start_angle_deg)
        self.tone = float(tone)
        self.j_f = rng.uniform(0.03, 0.08)
        self.j_ph = rng.uniform(0, 2 * np.pi)
        m = len(self.sites)
        self.g_f = rng.uniform(0.2, 0.6, (2, m))
        self.g_ph = rng.uniform(0, 2 * np.pi, (2, m))
        prof = np.array([CYCLING_PROFILES[s.muscle] for s in self.sites])
        self.centre = np.deg2rad(prof[:, 0] + np.array([180.0 if s.side == "R" else 0.0 for s in self.sites]))
        half = np.deg2rad(prof[:, 1] / 2)
        self.kappa = np.log(2.0) / (1.0 - np.cos(half))  # von Mises bump with that FWHM
        self.peak = prof[:, 2]

    def crank_angle_deg(self, t: np.ndarray) -> np.ndarray:
        return self._unwrapped(t) % 360.0

    def _unwrapped(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        w = 2 * np.pi * self.j_f
        # Integral of 6 deg/s per rpm over a slowly drifting cadence.
        drift = -self.jitter / w * (np.cos(w * t + self.j_ph) - np.cos(self.j_ph))
        return self.start + 6.0 * (self.cadence_rpm * t + drift)

    def drive(self, t: np.ndarray) -> np.ndarray:
        th = np.deg2rad(self._unwrapped(t))[:, None]
        t = np.asarray(t, dtype=float)[:, None]
        bump = np.exp(self.kappa * (np.cos(th - self.centre) - 1.0))
        gain = 1.0 + self.variability * (
            np.sin(2 * np.pi * self.g_f[0] * t + self.g_ph[0]) + np.sin(2 * np.pi * self.g_f[1] * t + self.g_ph[1])
        ) / np.sqrt(2)
        return np.clip(self.tone + self.intensity * self.peak * gain * bump, 0.0, 1.0)

    def annotations(self, t_end: float) -> list[Annotation]:
        return [(0.0, float(t_end), f"cycling {self.cadence_rpm:g} rpm")]


class MVC(Scenario):
    """Isometric ramps to maximal voluntary contraction, one muscle after the other (repeating).

    Each trial: linear ramp 0 -> ``peak`` over ``ramp_s``, hold ``hold_s``, release over
    ``release_s``, rest ``rest_s``.  Synergists (same leg, same group) co-activate at
    ``synergist`` x and antagonists at ``antagonist`` x the target's drive.
    """

    name = "mvc"
    motion_rate_hz = 0.03

    def __init__(
        self,
        sites: Sequence[MuscleSite],
        seed: int = 0,
        *,
        ramp_s: float = 3.0,
        hold_s: float = 2.0,
        release_s: float = 1.0,
        rest_s: float = 4.0,
        lead_s: float = 1.0,
        peak: float = 1.0,
        synergist: float = 0.3,
        antagonist: float = 0.1,
    ) -> None:
        super().__init__(sites, seed)
        self.ramp_s, self.hold_s, self.release_s = float(ramp_s), float(hold_s), float(release_s)
        self.rest_s, self.lead_s, self.peak = float(rest_s), float(lead_s), float(peak)
        self.trial_s = self.ramp_s + self.hold_s + self.release_s
        self.period_s = self.trial_s + self.rest_s
        m = len(self.sites)
        co = np.zeros((m, m))
        for i, a in enumerate(self.sites):
            for j, b in enumerate(self.sites):
                if i == j:
                    co[i, j] = 1.0
                elif a.side == b.side:
                    co[i, j] = synergist if a.group == b.group else antagonist
        self.co = co  # row: target muscle, column: drive fraction of each muscle
        self.classes = ("rest", *(f"mvc {s.name}" for s in self.sites))

    def _trial(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = np.asarray(t, dtype=float) - self.lead_s
        k = np.floor(rel / self.period_s)
        tau = rel - k * self.period_s
        env = np.interp(
            tau,
            [0.0, self.ramp_s, self.ramp_s + self.hold_s, self.trial_s],
            [0.0, 1.0, 1.0, 0.0],
            right=0.0,
        )
        env = np.where(rel < 0, 0.0, env)
        return (k % len(self.sites)).astype(int), env

    def drive(self, t: np.ndarray) -> np.ndarray:
        target, env = self._trial(t)
        return self.peak * env[:, None] * self.co[target]

    def class_index(self, t: np.ndarray) -> np.ndarray:
        target, env = self._trial(t)
        rel = np.asarray(t, dtype=float) - self.lead_s
        inside = (rel >= 0) & (rel - np.floor(rel / self.period_s) * self.period_s < self.trial_s)
        return np.where(inside, target + 1, 0).astype(np.int16)

    def annotations(self, t_end: float) -> list[Annotation]:
        out: list[Annotation] = []
        k = 0
        while (onset := self.lead_s + k * self.period_s) < t_end:
            dur = min(self.trial_s, t_end - onset)
            out.append((onset, dur, f"mvc {self.sites[k % len(self.sites)].name}"))
            k += 1
        return out


#: Default gesture classes: drive of each muscle type (both legs unless ``legs`` says otherwise).
GESTURES: dict[str, dict[str, float]] = {
    "rest": {},
    "knee_extension": {"RF": 0.35, "VL": 0.45, "BF": 0.05, "ST": 0.05},
    "knee_flexion": {"RF": 0.05, "VL": 0.05, "BF": 0.40, "ST": 0.45},
    "co_contraction": {"RF": 0.30, "VL": 0.30, "BF": 0.30, "ST": 0.30},
}


class Gestures(Scenario):
    """Labelled isometric gestures held for ``hold_s`` with rests of ~``rest_s`` between.

    Trials come in rounds; each round presents every class once in a random order.  Each
    trial's level varies by ``jitter`` (relative SD); onsets and offsets are smoothed over
    ``rise_s`` (inside the labelled window).  Gaps are labelled ``"rest"``.

    Args:
        hold_s: gesture duration.
        rest_s: mean rest between gestures (+-20 %).
        rise_s: onset/offset ramp duration.
        lead_s: rest before the first gesture.
        level: scales every class's drive.
        jitter: relative SD of a trial's level.
        classes: class name -> {muscle type ("RF", ...) or site name ("L_RF"): drive};
            must contain ``"rest"``.
        legs: ``"both"``, ``"L"`` or ``"R"``: which legs perform the gestures.
    """

    name = "gestures"
    motion_rate_hz = 0.03

    def __init__(
        self,
        sites: Sequence[MuscleSite],
        seed: int = 0,
        *,
        hold_s: float = 3.0,
        rest_s: float = 2.0,
        rise_s: float = 0.25,
        lead_s: float = 1.0,
        level: float = 1.0,
        jitter: float = 0.15,
        classes: Mapping[str, Mapping[str, float]] | None = None,
        legs: str = "both",
    ) -> None:
        super().__init__(sites, seed)
        spec = dict(GESTURES if classes is None else classes)
        if "rest" not in spec:
            spec = {"rest": {}, **spec}
        names = ["rest", *[c for c in spec if c != "rest"]]
        self.classes = self._names = tuple(names)
        m = len(self.sites)
        self.pattern = np.zeros((len(names), m))
        for ci, c in enumerate(names):
            for mi, s in enumerate(self.sites):
                if legs != "both" and s.side != legs:
                    continue
                lvl = spec[c].get(s.name, spec[c].get(s.muscle, 0.0))
                self.pattern[ci, mi] = level * float(lvl)
        self.hold_s, self.rest_s, self.rise_s = float(hold_s), float(rest_s), float(rise_s)
        self.lead_s, self.jitter = float(lead_s), float(jitter)
        # Trials: (onset, class, level factor, gap after); extended lazily, deterministic.
        self._trials: list[tuple[float, int, float, float]] = []
        self._round = 0
        self._next_onset = self.lead_s

    def _extend(self, t_max: float) -> None:
        while self._next_onset <= t_max + self.hold_s:
            rng = _rng(self.seed, 2, self._round)
            for c in rng.permutation(len(self._names)):
                f = max(0.2, 1.0 + self.jitter * rng.standard_normal())
                gap = self.rest_s * rng.uniform(0.8, 1.2)
                self._trials.append((self._next_onset, int(c), f, gap))
                self._next_onset += self.hold_s + gap
            self._round += 1

    def _overlapping(self, t0: float, t1: float) -> list[tuple[float, int, float, float]]:
        self._extend(t1)
        return [tr for tr in self._trials if tr[0] < t1 and tr[0] + self.hold_s > t0]

    def drive(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.zeros((t.size, len(self.sites)))
        if t.size == 0:
            return out
        r = max(self.rise_s, 1e-9)
        for onset, c, f, _ in self._overlapping(float(t.min()), float(t.max()) + 1e-9):
            up = np.clip((t - onset) / r, 0.0, 1.0)
            down = np.clip((onset + self.hold_s - t) / r, 0.0, 1.0)
            env = 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))  # raised-cosine edges
            out += (f * env)[:, None] * self.pattern[c][None, :]
        return np.clip(out, 0.0, 1.0)

    def class_index(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.zeros(t.size, dtype=np.int16)
        if t.size == 0:
            return out
        for onset, c, _, _ in self._overlapping(float(t.min()), float(t.max()) + 1e-9):
            out[(t >= onset) & (t < onset + self.hold_s)] = c
        return out

    def annotations(self, t_end: float) -> list[Annotation]:
        out: list[Annotation] = [(0.0, min(self.lead_s, t_end), "rest")]
        self._extend(t_end)
        for onset, c, _, gap in self._trials:
            if onset >= t_end:
                break
            out.append((onset, min(self.hold_s, t_end - onset), self._names[c]))
            g0 = onset + self.hold_s
            if g0 < t_end:
                out.append((g0, min(gap, t_end - g0), "rest"))
        return out


SCENARIOS: dict[str, type[Scenario]] = {
    "cycling": Cycling,
    "rest": Rest,
    "mvc": MVC,
    "gestures": Gestures,
    "sustained": Sustained,
}


def make_scenario(name: str, sites: Sequence[MuscleSite], seed: int = 0, **options: object) -> Scenario:
    """Instantiate a scenario by name (``cycling``, ``rest``, ``mvc``, ``gestures``, ``sustained``).

    Raises:
        ValueError: unknown scenario.
        TypeError: unknown option for that scenario.
    """
    try:
        cls = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose from {sorted(SCENARIOS)}") from None
    return cls(sites, seed, **options)  # type: ignore[arg-type]
