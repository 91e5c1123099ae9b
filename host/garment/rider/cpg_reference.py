"""Bit-exact host reference of the garment's spiking pattern generator
(``garmentfw/cpg.py``): the same integer equations, over a batch of independent
oscillators at once (numpy int64 holding int32-bounded values), for golden vectors and
for learning its synapses on the rider model faster than real time."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from garment.contracts import load_contract

_cpg = load_contract("cpg_spec")  # the firmware's own contract: one definition of LIMITS
LIMITS: tuple[tuple[str, int, int, int], ...] = _cpg.LIMITS
SINCE_MAX = 0x3FFF
MAX_BINS = 16


def default_weights(bins: int) -> list[list[int]]:
    """The firmware's default crank weights (``cpg_spec.default_weights``), as pairs."""
    w = list(_cpg.default_weights(bins))
    return [w[2 * i : 2 * i + 2] for i in range(bins)]


@dataclass
class CpgParams:
    """The policy's ``cpg`` object (names and ranges from the firmware's LIMITS)."""

    values: dict[str, int] = field(default_factory=lambda: {n: d for n, d, _, _ in LIMITS})
    weights: list[list[int]] | None = None

    def __post_init__(self) -> None:
        for name, _, lo, hi in LIMITS:
            v = self.values[name]
            if not lo <= v <= hi:
                raise ValueError(f"cpg {name}={v} outside {lo}..{hi}")
        if self.weights is None:
            self.weights = default_weights(self.values["bins"])
        if len(self.weights) != self.values["bins"]:
            raise ValueError("one [A, B] weight pair per crank bin")

    def to_dict(self) -> dict[str, Any]:
        """The firmware's form (``Cpg.from_dict``): the values and flat weights."""
        d: dict[str, Any] = dict(self.values)
        d["weights"] = [int(x) for p in self.weights or [] for x in p]
        return d

    def policy_params(self) -> dict[str, Any]:
        """As cycling-policy parameters in a model file (``cpg_<name>``, ``cpg_weights``)."""
        return {"cpg_" + k: v for k, v in self.to_dict().items()}


class CpgReference:
    """``batch`` half-centre oscillators; ``run`` advances all of them, one ms per step."""

    def __init__(self, params: CpgParams, batch: int = 1, weights: np.ndarray | None = None) -> None:
        self.p = params
        self.batch = batch
        v = params.values
        self.tonic, self.thr = v["tonic"], v["thr"]
        self.lsh, self.ssh, self.ash = v["leak_sh"], v["syn_sh"], v["a_sh"]
        self.winh, self.ainc, self.wemg = v["w_inh"], v["a_inc"], v["w_emg"]
        self.hold, self.bins = v["hold_ms"], v["bins"]
        w = np.asarray(params.weights, dtype=np.int64)
        self.w = np.broadcast_to(w, (batch,) + w.shape).copy() if weights is None else np.asarray(weights, np.int64)
        self.v = np.zeros((batch, 2), np.int64)
        self.v[:, 0] = self.thr // 2
        self.a = np.zeros((batch, 2), np.int64)
        self.s = np.zeros((batch, 2), np.int64)
        self.since = np.full((batch, 2), SINCE_MAX, np.int64)
        self.count = np.zeros((batch, 2), np.int64)

    def bin_of(self, angle_cdeg: np.ndarray | int) -> np.ndarray:
        a = np.asarray(angle_cdeg, np.int64)
        return np.where(a >= 0, a * self.bins // 36000, -1)

    def run(self, angle_cdeg: np.ndarray | int, act0: np.ndarray | int = 0, act1: np.ndarray | int = 0, steps: int = 1) -> np.ndarray:
        """``steps`` ms at this crank angle (cdeg, -1 = none) and EMG activations (Q12),
        per oscillator; returns the spikes of the last step, (batch, 2) bool."""
        b = np.broadcast_to(self.bin_of(angle_cdeg), (self.batch,))
        rows = np.arange(self.batch)
        bi = np.where(b >= 0, b, 0)
        c = np.where((b >= 0)[:, None], self.w[rows, bi], 0)
        e = np.stack([(self.wemg * np.broadcast_to(np.asarray(act0, np.int64), (self.batch,))) >> 12,
                      (self.wemg * np.broadcast_to(np.asarray(act1, np.int64), (self.batch,))) >> 12], axis=1)
        spk = np.zeros((self.batch, 2), bool)
        for _ in range(steps):
            v = self.v + self.tonic + c + e - self.s[:, ::-1] - self.a - (self.v >> self.lsh)
            v = np.maximum(v, 0)
            spk = v >= self.thr
            v = np.where(spk, 0, v)
            a = self.a + spk * self.ainc
            s = self.s + spk * self.winh
            self.since = np.where(spk, 0, np.minimum(self.since + 1, SINCE_MAX))
            self.count = (self.count + spk) & 0x3FFFFFFF
            self.v = v
            self.a = a - (a >> self.ash)
            self.s = s - (s >> self.ssh)
        return spk

    def bursting(self) -> np.ndarray:
        """(batch, 2) bool: each side bursting (a spike within hold_ms)."""
        return self.since < self.hold


def golden_cases() -> dict[str, Any]:
    """The golden vectors of ``models/golden/cpg_halfcentre.json``: runs of the reference
    over crank angles, EMG activations and step counts, with the state after each call
    (v, a, s, since, count per side), for the default and an EMG-entrained parameter set."""
    cases = []
    rng = np.random.default_rng(18)
    sets = [
        CpgParams(),
        CpgParams(dict(CpgParams().values, bins=5, w_emg=-3000, tonic=7000, a_inc=300, leak_sh=3),
                  [[int(x) for x in rng.integers(-60000, 60000, 2)] for _ in range(5)]),
    ]
    for params in sets:
        ref = CpgReference(params)
        calls = []
        ang = 0
        for k in range(160):
            ang = (ang + int(rng.integers(0, 2500))) % 36000
            a = -1 if k % 37 == 36 else ang
            act0, act1 = int(rng.integers(0, 4097)), int(rng.integers(0, 4097))
            steps = int(rng.integers(1, 30))
            ref.run(a, act0, act1, steps)
            calls.append({"angle_cdeg": a, "act": [act0, act1], "steps": steps,
                          "state": [int(x) for x in np.concatenate([ref.v[0], ref.a[0], ref.s[0], ref.since[0], ref.count[0]])]})
        cases.append({"params": params.to_dict(), "calls": calls})
    return {"what": "garmentfw/cpg.py half-centre oscillator; state = v0 v1 a0 a1 s0 s1 since0 since1 count0 count1",
            "cases": cases}
