"""Reward-modulated STDP for the pattern generator's crank synapses, on the rider model.

The garment's oscillator (``garmentfw/cpg.py``, here its bit-exact twin) gets its crank
input through ``bins`` independent synaptic bundles, one per phase bin of the advanced
crank angle, each with a weight to side A and to side B. An episode rides the host-only
rider (no garment, faster than real time) with the oscillator timing the stimulation as the
garment's cycling policy would (side A: left quadriceps + hamstrings, B: right). Per
synapse an STDP eligibility accumulates: potentiation when the side spikes while its bin's
presynaptic trace is up, depression when the bin is active while the side's postsynaptic
trace is up (Izhikevich 2007, "Solving the distal reward problem"; Florian 2007). At the
end of the episode the reward (stimulated crank work per charge, scaled down by the
cadence error) against its running mean gates the update: ``w += eta * (R - R_mean) * E``.
Exploration: each episode's weights carry Gaussian noise. The effect of the number of
bundles on learning is measured by ``benchmarks/bench_cpg_learning.py`` (Kobayashi et al.
report that R-STDP stops learning beyond about eight independent bundles).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from garment.phantom.artefacts import motor_threshold_ma

from .cpg_reference import CpgParams, CpgReference
from .rider import Rider

W_MAX = 1 << 16
TAU_TRACE_MS = 20.0
STIM_HZ = 18
WIDTH_US = 300.0
DELAY_MS = 100.0
CHARGE0_MC = 0.5


@dataclass
class Episode:
    reward: float
    eligibility: np.ndarray  # (bins, 2)
    summary: dict[str, float]


def ride_episode(weights: np.ndarray, seconds: float = 6.0, cadence_rpm: float = 60.0, intensity: float = 0.4,
                 seed: int = 0) -> Episode:
    """One host-only ride with the oscillator's crank weights ``weights`` (bins, 2)."""
    w = np.clip(np.rint(weights), -W_MAX, W_MAX).astype(np.int64)
    bins = w.shape[0]
    params = CpgParams(dict(CpgParams().values, bins=bins), w.tolist())
    cpg = CpgReference(params)
    rider = Rider(cadence_rpm, seed=seed, settle_s=min(2.0, seconds / 3))
    motor = motor_threshold_ma(WIDTH_US)
    amp = motor + intensity * (2.5 * motor - motor)
    period = int(round(1000 / STIM_HZ))
    pre = np.zeros(bins)
    post = np.zeros(2)
    elig = np.zeros((bins, 2))
    k_tr = np.exp(-1.0 / TAU_TRACE_MS)
    for step in range(int(seconds * 1000)):
        ang = (rider.angle_deg + 6.0 * rider.cadence_rpm * DELAY_MS / 1000.0) % 360.0
        cd = int(ang * 100) % 36000
        spk = cpg.run(cd)[0]
        b = cd * bins // 36000
        pre *= k_tr
        post *= k_tr
        pre[b] += 1.0 / TAU_TRACE_MS
        elig[:, spk] += pre[:, None]  # pre before post: potentiate
        elig[b] -= 0.5 * post / TAU_TRACE_MS  # post before pre: depress
        post += spk
        if step % period == 0:
            on = cpg.bursting()[0]
            for side in (0, 1):
                if on[side]:
                    rider.pulse(rider.time_s, 2 * side, amp, WIDTH_US)
                    rider.pulse(rider.time_s, 2 * side + 1, amp, WIDTH_US)
        rider.step()
    s = rider.summary()
    return Episode(reward(s), elig, s)


def reward(summary: dict[str, float]) -> float:
    """Stimulated crank work per charge (J/mC), scaled by the cadence tracking
    (1 at the target, 1/2 at 10 rpm rms error); braking stimulation is negative."""
    charge = summary["charge_mc"]
    work = summary["stim_power_w"] * summary["duration_s"]
    err = summary["cadence_error_rpm"]
    # + CHARGE0: a silent oscillator (no charge) earns nothing, not an infinite ratio
    return float(work / (charge + CHARGE0_MC) / (1.0 + (err / 10.0) ** 2))


@dataclass
class Learner:
    """Episodic R-STDP over ``bins`` bundles (weights (bins, 2), from zero)."""

    bins: int = 8
    eta: float = 400.0
    noise: float = 500.0
    seed: int = 0
    weights: np.ndarray = field(init=False)
    r_mean: float | None = field(default=None, init=False)
    history: list[float] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.bins <= 16:
            raise ValueError("bins (independent synaptic bundles) must be 1..16")
        self.weights = np.zeros((self.bins, 2))
        self.rng = np.random.default_rng(self.seed)

    def update(self, ep: Episode) -> None:
        """One R-STDP step from an episode ridden with (noisy) current weights."""
        if self.r_mean is None:
            self.r_mean = ep.reward
        # synaptic scaling: each side's bundles compete (zero-mean eligibility), so an
        # episode moves the timing rather than every weight up or down together
        e = ep.eligibility - ep.eligibility.mean(axis=0, keepdims=True)
        scale = np.abs(e).max()
        if scale > 0:
            self.weights += self.eta * (ep.reward - self.r_mean) * e / scale
        self.weights = np.clip(self.weights, -W_MAX, W_MAX)
        self.r_mean = 0.8 * self.r_mean + 0.2 * ep.reward
        self.history.append(ep.reward)

    def episode(self, seconds: float = 6.0, cadence_rpm: float = 60.0) -> Episode:
        """Ride once with exploration noise on the weights, then learn from it."""
        w = self.weights + self.rng.normal(0.0, self.noise, self.weights.shape)
        ep = ride_episode(w, seconds, cadence_rpm, seed=len(self.history))
        self.update(ep)
        return ep
