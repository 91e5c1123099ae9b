"""HD-EMG phantom: monopolar grid signals of one muscle with per-unit ground truth.

The motor-neuron pool (:mod:`.motor_units`) fires the units of vastus lateralis; each unit's
action potential on every electrode comes from the grid forward model (:mod:`.hd_units`);
amplifier noise, mains and baseline wander are added per electrode (:mod:`.noise`).

Scenarios (drive 0..1 = fraction of maximal voluntary contraction):

- ``trapezoid``: isometric ramp up (``ramp_s``), plateau at ``level`` (0.1..0.5), ramp down.
- ``cycling``: the pedal-cycle drive of VL (:class:`.scenarios.Cycling`), and the muscle slides
  under the grid with the crank (``shift_mm``), so action potentials change shape over a cycle.
- ``multitask``: a sequence of labelled tasks (:data:`TASKS`), each a drive pattern held for
  ``task_s`` with rest between; class labels per sample are part of the truth.

With ``fatigue`` (a :class:`.fatigue.FatigueLaw`, the bipolar phantom's law) the muscle fatigues
with its drive: every 0.5 s the conduction velocity of every unit drops by the law's quantised
factor and each discharge's potential on every electrode is that of the slower wave (longer,
lower median frequency; one forward-model pass per CV step and muscle position). The discharges
(the truth) are the same as without fatigue; ``extra["cv_factor"]`` is the factor per sample.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .fatigue import CV_STEP, FatigueLaw
from .hd_grid import GridLayout, grid
from .hd_units import TEMPLATE_S, GridUnits, draw_units, grid_muaps
from .montage import site
from .motor_units import MotorUnitPool, discharge, initial_residuals
from .noise import Interference, InterferenceConfig
from .scenarios import Cycling

#: Rate at which firing rates follow the drive (Hz), as in the bipolar phantom.
CONTROL_HZ = 500.0
#: RMS (uV) of the mean monopolar channel at maximal drive (calibrates unit amplitudes).
MVC_RMS_UV = 450.0
#: Muscle-under-grid positions used for the moving-muscle templates (cycling).
SHIFT_BINS = 9
#: Segment (s) over which the fatigue state and the conduction velocity stay constant, as in
#: the bipolar phantom's engine.
FATIGUE_SEGMENT_S = 0.5
#: Tasks of the ``multitask`` scenario: name -> (kind, level, parameter).
TASKS: dict[str, tuple[str, float, float]] = {
    "rest": ("hold", 0.0, 0.0),
    "hold-low": ("hold", 0.10, 0.0),
    "hold-mid": ("hold", 0.25, 0.0),
    "hold-high": ("hold", 0.40, 0.0),
    "pulse-2hz": ("sine", 0.20, 2.0),
    "ramp-up": ("ramp", 0.35, 0.0),
}


@dataclass
class HDResult:
    """A simulated HD-EMG recording with its ground truth.

    Attributes:
        emg_uV: (n, E) float32 monopolar samples (microvolts), channel ``r * cols + c``.
        fs: sampling rate (Hz).
        layout: the grid.
        drive: (n,) drive of the muscle (fraction of MVC).
        spikes: per unit, sorted discharge samples (int64); units never recruited are empty.
        muaps: (U, L, E) each unit's action potential on every electrode (muscle at rest position).
        units: anatomy (depth, lateral position, innervation zone, conduction velocity, ...).
        recruitment_drive: (U,) drive at which each unit starts firing.
        scenario: scenario name.
        seed: seed it was generated with.
        classes: task names (multitask only), and ``class_index`` (n,) per sample.
        shift_mm: (n,) displacement of the muscle under the grid (cycling), else zeros.
        noise_uV: RMS of the white noise per electrode.
        extra: ``crank_deg`` (n,) left crank angle (cycling); ``cv_factor`` (n,) conduction-velocity
            factor per sample (1 = fresh; with fatigue only).
    """

    emg_uV: np.ndarray
    fs: float
    layout: GridLayout
    drive: np.ndarray
    spikes: list[np.ndarray]
    muaps: np.ndarray
    units: GridUnits
    recruitment_drive: np.ndarray
    scenario: str
    seed: int
    classes: tuple[str, ...] = ()
    class_index: np.ndarray | None = None
    shift_mm: np.ndarray | None = None
    noise_uV: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.emg_uV.shape[0])

    def recruited(self, min_spikes: int = 10) -> np.ndarray:
        """Indices of units with at least ``min_spikes`` discharges."""
        return np.array([u for u, s in enumerate(self.spikes) if s.size >= min_spikes], dtype=np.int64)

    def to_recording(self) -> Any:
        """As a :class:`garment.recordings.Recording` (grid in the labels, drive as truth)."""
        from garment.recordings.model import Annotation, Recording

        ann = [Annotation(0.0, self.n_samples / self.fs, self.scenario)]
        if self.class_index is not None:
            edges = np.flatnonzero(np.diff(self.class_index)) + 1
            starts = np.concatenate([[0], edges])
            stops = np.concatenate([edges, [self.n_samples]])
            ann += [Annotation(a / self.fs, (b - a) / self.fs, self.classes[int(self.class_index[a])])
                    for a, b in zip(starts, stops)]
        truth: dict[str, np.ndarray] = {"drive": self.drive.astype(np.float32)}
        if self.class_index is not None:
            truth["class_index"] = self.class_index.astype(np.int16)
        return Recording(self.emg_uV, self.fs, self.layout.labels(), ["uV"] * self.layout.n_channels,
                         annotations=ann, truth=truth,
                         meta={"grid": self.layout.name, "grid_ied_mm": f"{self.layout.ied_mm:g}",
                               "scenario": self.scenario, "seed": str(self.seed)})

    def save(self, path: str | Path) -> Path:
        """Write a BDF+ recording, its grid sidecar and the per-unit truth (``*_units.npz``)."""
        from garment.recordings.atomic import atomic_path
        from garment.recordings.edf import write_bdf

        path = Path(path)
        write_bdf(self.to_recording(), path)
        write_grid_sidecar(path, self.layout)
        u = self.units
        flat = np.concatenate(self.spikes) if self.spikes else np.zeros(0, np.int64)
        counts = np.array([s.size for s in self.spikes], dtype=np.int64)
        with atomic_path(unit_truth_path(path)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, spikes=flat, counts=counts, muaps=self.muaps.astype(np.float32),
                         depth_mm=u.depth_mm, lateral_mm=u.lateral_mm, iz_mm=u.iz_mm, cv=u.cv,
                         semi_mm=u.semi_mm, spread_mm=u.spread_mm, amp=u.amp,
                         recruitment_drive=self.recruitment_drive, fs=self.fs)
        return path


def unit_truth_path(data_path: str | Path) -> Path:
    """``<stem>_units.npz`` beside a recording."""
    p = Path(data_path)
    return p.with_name(p.stem + "_units.npz")


def grid_sidecar_path(data_path: str | Path) -> Path:
    """``<stem>_grid.json`` beside a recording."""
    p = Path(data_path)
    return p.with_name(p.stem + "_grid.json")


def write_grid_sidecar(data_path: str | Path, layout: GridLayout) -> Path:
    """Describe the grid of a recording in ``<stem>_grid.json`` (rows, cols, IED, labels)."""
    from garment.recordings.atomic import atomic_write_text

    doc = {"rows": layout.rows, "cols": layout.cols, "ied_mm": layout.ied_mm, "labels": layout.labels(),
           "order": "row-major, rows along the fibres"}
    return atomic_write_text(grid_sidecar_path(data_path), json.dumps(doc, indent=1))


def load_unit_truth(data_path: str | Path) -> dict[str, Any]:
    """Per-unit truth written by :meth:`HDResult.save`: ``spikes`` as a list per unit, the rest arrays."""
    with np.load(unit_truth_path(data_path)) as z:
        d = {k: z[k] for k in z.files}
    edges = np.concatenate([[0], np.cumsum(d.pop("counts"))])
    flat = d.pop("spikes")
    d["spikes"] = [flat[a:b] for a, b in zip(edges[:-1], edges[1:])]
    return d


# -- scenarios -------------------------------------------------------------------------------
def trapezoid_drive(t: np.ndarray, level: float, ramp_s: float, seconds: float) -> np.ndarray:
    """Isometric trapezoid: 0 -> ``level`` over ``ramp_s``, plateau, back to 0 at ``seconds``."""
    up = np.clip(t / ramp_s, 0.0, 1.0)
    down = np.clip((seconds - t) / ramp_s, 0.0, 1.0)
    return level * np.minimum(up, down)


def multitask_drive(t: np.ndarray, order: list[str], task_s: float, rest_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Drive and class index per sample for tasks ``order`` held ``task_s`` each, ``rest_s`` between."""
    names = list(TASKS)
    period = task_s + rest_s
    k = np.floor(t / period).astype(np.int64)
    within = t - k * period
    drive = np.zeros_like(t)
    cls = np.zeros(t.size, np.int64)
    for i, name in enumerate(order):
        on = (k == i) & (within < task_s)
        kind, level, par = TASKS[name]
        tt = within[on]
        if kind == "hold":
            d = np.full(tt.size, level)
        elif kind == "sine":
            d = level * (0.55 + 0.45 * np.sin(2 * np.pi * par * tt))
        else:  # ramp
            d = level * tt / task_s
        # 0.3 s onset so holds do not start with a step.
        drive[on] = d * np.clip(tt / 0.3, 0.0, 1.0)
        cls[on] = names.index(name)
    return drive, cls


# -- synthesis -------------------------------------------------------------------------------
def _calibrate(units: GridUnits, muaps: np.ndarray, pool: MotorUnitPool, fs: float) -> float:
    """Amplitude factor giving the mean channel ``MVC_RMS_UV`` at full drive (Campbell's theorem)."""
    energy = (muaps**2).sum(axis=1) / fs  # (U, E): integral of the squared potential
    var = (pool.pfr[:, None] * energy).sum(axis=0)
    return float(MVC_RMS_UV / np.sqrt(var.mean()))


def _spike_trains(pool: MotorUnitPool, drive: np.ndarray, fs: float, rng: np.random.Generator) -> list[np.ndarray]:
    q = max(1, int(round(fs / CONTROL_HZ)))
    n = drive.size
    pad = (-n) % q
    coarse = np.concatenate([drive, np.full(pad, drive[-1] if n else 0.0)]).reshape(-1, q).mean(axis=1)
    unit, t, _ = discharge(pool, coarse, q / fs, initial_residuals(pool, rng), rng)
    samples = np.floor(t * q).astype(np.int64)
    keep = samples < n
    unit, samples = unit[keep], samples[keep]
    return [samples[unit == u] for u in range(pool.n_units)]


def _sum_potentials(spikes: list[np.ndarray], bins: list[np.ndarray] | None, banks: np.ndarray, n: int) -> np.ndarray:
    """Sum of every discharge's potential: one sparse (n, U*K*L) x dense (U*K*L, E) product.

    ``banks`` is (U, K, L, E); ``bins[u]`` is the template index (0..K-1) of each discharge.
    """
    u_n, k_n, length, e_n = banks.shape
    rows, cols = [], []
    lag = np.arange(length)
    for u, s in enumerate(spikes):
        if s.size == 0:
            continue
        b = np.zeros(s.size, np.int64) if bins is None else bins[u]
        rows.append((s[:, None] + lag[None, :]).ravel())
        cols.append((((u * k_n + b) * length)[:, None] + lag[None, :]).ravel())
    if not rows:
        return np.zeros((n, e_n))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    ok = r < n
    mat = sp.csr_matrix((np.ones(int(ok.sum())), (r[ok], c[ok])), shape=(n, u_n * k_n * length))
    return np.asarray(mat @ banks.reshape(u_n * k_n * length, e_n))


def _units_subset(units: GridUnits, idx: np.ndarray, cv_factor: float) -> GridUnits:
    """Units ``idx`` of ``units`` with their conduction velocity scaled by ``cv_factor``."""
    sub = {f.name: getattr(units, f.name)[idx] for f in dataclasses.fields(units)}
    sub["cv"] = sub["cv"] * cv_factor
    return GridUnits(**sub)


def fatigue_cv(law: FatigueLaw, drive: np.ndarray, fs: float) -> np.ndarray:
    """Conduction-velocity factor per sample of a muscle fatiguing with ``drive`` under ``law``.

    The state steps per :data:`FATIGUE_SEGMENT_S` on the segment's mean drive; each segment
    uses the factor of the state at its start, as the bipolar phantom's engine does.
    """
    seg = max(1, int(round(FATIGUE_SEGMENT_S * fs)))
    out = np.empty(drive.size)
    f = 0.0
    for a in range(0, drive.size, seg):
        d = drive[a : a + seg]
        out[a : a + d.size] = law.cv_factor(f)
        f = float(law.step(f, float(d.mean()), d.size / fs))
    return out


def _sum_fatigued(spikes: list[np.ndarray], shift: np.ndarray, levels: np.ndarray | None, units: GridUnits,
                  layout: GridLayout, fs: float, cvf: np.ndarray, n: int) -> np.ndarray:
    """Every discharge's potential at the conduction velocity of its moment (``cvf`` per sample).

    Discharges are grouped by CV step: each step's potentials (only of the units that fire in
    it, at every muscle position ``levels``) are computed once by the forward model.
    """
    emg = np.zeros((n, layout.n_channels))
    step_of = [np.round(cvf[s] / CV_STEP).astype(np.int64) for s in spikes]
    keys = np.unique(np.concatenate(step_of)) if spikes else np.zeros(0, np.int64)
    for key in keys:
        f = float(key) * CV_STEP
        sel = [s[k == key] for s, k in zip(spikes, step_of)]
        active = np.array([u for u, x in enumerate(sel) if x.size], dtype=np.int64)
        sub = _units_subset(units, active, f)
        length = int(np.ceil(TEMPLATE_S / f * fs))
        pos = np.zeros(1) if levels is None else levels
        banks = np.stack([grid_muaps(sub, layout, fs, float(x), length) for x in pos], axis=1)
        part = [sel[u] for u in active]
        bins = None if levels is None else [np.abs(shift[x][:, None] - levels[None, :]).argmin(axis=1) for x in part]
        emg += _sum_potentials(part, bins, banks, n)
    return emg


def generate_hd(
    scenario: str = "trapezoid",
    seconds: float = 30.0,
    fs: float = 2048.0,
    grid_name: str = "13x5",
    seed: int = 0,
    *,
    level: float = 0.2,
    ramp_s: float = 5.0,
    n_units: int = 200,
    noise_uV: float = 3.0,
    mains_uV: float = 5.0,
    wander_uV: float = 20.0,
    cadence_rpm: float = 60.0,
    intensity: float = 1.0,
    shift_mm: float = 4.0,
    tasks: list[str] | None = None,
    task_s: float = 4.0,
    rest_s: float = 1.0,
    fatigue: FatigueLaw | None = None,
) -> HDResult:
    """Simulate a monopolar HD-EMG recording of vastus lateralis with per-unit truth.

    Args:
        scenario: ``trapezoid`` (``level`` 0.1..0.5, ``ramp_s``), ``cycling`` (``cadence_rpm``,
            ``intensity``, ``shift_mm``) or ``multitask`` (``tasks`` from :data:`TASKS` in
            order, ``task_s`` each, ``rest_s`` between; default every task once).
        seconds: duration.
        fs: sampling rate (Hz).
        grid_name: ``13x5`` (8 mm) or ``8x8`` (10 mm).
        seed: seed of every random choice.
        n_units: motor units in the pool.
        noise_uV, mains_uV, wander_uV: interference per electrode.
        fatigue: the muscle fatigues with its drive under this law (conduction velocity slows,
            potentials lengthen; the discharges are unchanged); None: fresh throughout.
    """
    if seconds <= 0 or fs <= 0:
        raise ValueError("seconds and fs must be > 0")
    if scenario == "trapezoid" and not 0.0 < level <= 1.0:
        raise ValueError(f"level must be in (0, 1] (fraction of MVC), got {level}")
    layout = grid(grid_name)
    rng = np.random.default_rng([int(seed), 0x4D5])
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    pool = MotorUnitPool.fuglevand(n_units)
    vl = site("L_VL")
    units = draw_units(n_units, rng, pool.size, fat_mm=vl.fat_mm, thickness_mm=vl.thickness_mm)
    shift = np.zeros(n)
    crank = None
    classes: tuple[str, ...] = ()
    cls = None
    if scenario == "trapezoid":
        drive = trapezoid_drive(t, level, ramp_s, seconds)
    elif scenario == "cycling":
        cyc = Cycling([vl], seed, cadence_rpm=cadence_rpm, intensity=intensity)
        drive = cyc.drive(t)[:, 0]
        # The knee angle follows the crank: VL slides under the skin by +-shift_mm per cycle.
        crank = cyc.crank_angle_deg(t)
        shift = shift_mm * np.cos(np.deg2rad(crank))
    elif scenario == "multitask":
        order = list(tasks or TASKS)
        unknown = [x for x in order if x not in TASKS]
        if unknown:
            raise ValueError(f"unknown tasks {unknown}; known: {', '.join(TASKS)}")
        drive, cls = multitask_drive(t, order, task_s, rest_s)
        classes = tuple(TASKS)
    else:
        raise ValueError(f"unknown HD scenario {scenario!r} (trapezoid, cycling, multitask)")
    rest_muaps = grid_muaps(units, layout, fs)
    scale = _calibrate(units, rest_muaps, pool, fs)
    units.amp *= scale
    rest_muaps *= scale
    spikes = _spike_trains(pool, drive, fs, rng)
    cvf = None if fatigue is None else fatigue_cv(fatigue, drive, fs)
    if cvf is not None:
        levels = np.linspace(-shift_mm, shift_mm, SHIFT_BINS) if np.any(shift != 0) else None
        emg = _sum_fatigued(spikes, shift, levels, units, layout, fs, cvf, n)
    elif np.any(shift != 0):
        levels = np.linspace(-shift_mm, shift_mm, SHIFT_BINS)
        banks = np.stack([grid_muaps(units, layout, fs, float(s)) for s in levels], axis=1)
        bins = [np.abs(shift[s][:, None] - levels[None, :]).argmin(axis=1) for s in spikes]
        emg = _sum_potentials(spikes, bins, banks, n)
    else:
        emg = _sum_potentials(spikes, None, rest_muaps[:, None], n)
    inter = Interference(InterferenceConfig(noise_uV=noise_uV, mains_uV=mains_uV, wander_uV=wander_uV),
                         layout.n_channels, fs, rng)
    emg += inter.deterministic(t) + inter.noise(rng, n)
    extra = {} if crank is None else {"crank_deg": crank.astype(np.float32)}
    if cvf is not None:
        extra["cv_factor"] = cvf.astype(np.float32)
    return HDResult(emg.astype(np.float32), float(fs), layout, drive.astype(np.float32), spikes, rest_muaps,
                    units, pool.recruitment_drive, scenario, int(seed), classes, cls, shift, float(noise_uV), extra)
