"""Bit-exact host reference of the garment's withdrawal reflex (``garmentfw/reflex.py``;
equations in ``garmentfw/reflex_spec.py``), vectorised over time where it can be and
stepped per millisecond where it must, for golden vectors and false-stop measurements."""
from __future__ import annotations

from typing import Any

import numpy as np

from garment.contracts import load_contract

_spec = load_contract("reflex_spec")
LIMITS: tuple[tuple[str, int, int, int], ...] = _spec.LIMITS
N_Z: int = _spec.N_Z
IMPEDANCE_MAX_OHM: int = load_contract("limits").IMPEDANCE_MAX_OHM


class ReflexReference:
    """One reflex network; ``run`` takes the four activations (Q12) and up to four
    electrode impedance readings (ohm, 0 = none) for ``steps`` ms."""

    def __init__(self, params: dict[str, int] | None = None) -> None:
        p = {n: d for n, d, _, _ in LIMITS}
        for k, v in (params or {}).items():
            if k not in p:
                raise ValueError(f"unknown reflex parameter {k!r}")
            p[k] = int(v)
        for n, _, lo, hi in LIMITS:
            if not lo <= p[n] <= hi:
                raise ValueError(f"reflex {n}={p[n]} outside {lo}..{hi}")
        self.p = p
        self.v = [0, 0]
        self.b = [0, 0]
        self.vo = 0
        self.withdrawals = 0
        self.off_left = 0
        self.zb = [0] * N_Z  # impedance baselines, Q12 ohm
        self.u = 0  # the impedance neuron

    def run(self, q0: int, h0: int, q1: int, h1: int, steps: int = 1, z: list[int] | None = None) -> bool:
        p = self.p
        c = (min(q0, h0), min(q1, h1))
        zs = [int(v) if 0 < int(v) <= IMPEDANCE_MAX_OHM else 0 for v in (z or [0] * N_Z)]
        if len(zs) != N_Z:
            raise ValueError(f"z: {N_Z} impedance readings, got {len(zs)}")
        rs = 0  # the electrodes' summed drop below their baselines
        for e, ze in enumerate(zs):
            if ze:
                if self.zb[e] == 0:
                    self.zb[e] = ze << 12
                else:
                    b = self.zb[e] >> 12
                    if b > 0:
                        rs += max((b - ze) * 4096 // b - p["zlevel"], 0)
        fired = False
        for _ in range(steps):
            n = 0
            for leg in (0, 1):
                self.b[leg] += (c[leg] - self.b[leg]) >> p["base_sh"]
                d = max(c[leg] - self.b[leg] - p["level"], 0)
                v = self.v[leg] + d - (self.v[leg] >> p["leak_sh"])
                if v >= p["thr_leg"]:
                    v = 0
                    n += 1
                self.v[leg] = v
            for e, ze in enumerate(zs):
                if ze:
                    self.zb[e] += ((ze << 12) - self.zb[e]) >> p["zb_sh"]
            u = self.u + rs - (self.u >> p["zleak_sh"])
            nz = 0
            if u >= p["zthr"]:
                u = 0
                nz = 1
            self.u = u
            vo = self.vo + p["w_leg"] * n + p["w_z"] * nz - (self.vo >> p["out_sh"])
            if vo >= p["thr_out"]:
                vo = 0
                self.withdrawals = (self.withdrawals + 1) & 0x3FFFFFFF
                self.off_left = p["hold_ms"]
                fired = True
            elif self.off_left > 0:
                self.off_left -= 1
            self.vo = vo
        return fired

    def state(self) -> list[int]:
        """The firmware's state words: v_leg0 v_leg1 base0 base1 v_out withdrawals off_left
        zb0..zb3 u."""
        return [self.v[0], self.v[1], self.b[0], self.b[1], self.vo, self.withdrawals, self.off_left, *self.zb, self.u]


def golden_cases() -> dict[str, Any]:
    """``models/golden/reflex_withdrawal.json``: calls with random activations, bursts of
    co-contraction included, then with electrode impedance readings (missing ones, noisy
    ones, drops on one and on all electrodes, readings past the electrode-fault limit),
    and the state after each."""
    rng = np.random.default_rng(4)
    ref = ReflexReference()
    calls = []
    for k in range(400):
        burst = 60 <= k < 70 or 140 <= k < 143
        acts = [int(x) for x in rng.integers(0, 4097 if burst else 1500, 4)]
        if burst:
            acts = [max(a, 3000) for a in acts]
        steps = int(rng.integers(1, 25))
        z = [0] * N_Z
        if k >= 200:  # impedance: nominal ~1700 ohm with noise, none on electrode 3 at first
            z = [int(x) for x in rng.integers(1600, 1800, N_Z)]
            if k < 230:
                z[3] = 0
            if 260 <= k < 275:
                z[1] = z[1] * 6 // 10  # one electrode breaks down
            if 320 <= k < 340:
                z = [v * 85 // 100 for v in z]  # all electrodes at once (a sweat response)
            if k == 350:
                z[2] = IMPEDANCE_MAX_OHM + 1  # an electrode fault's reading: no input
        ref.run(*acts, steps=steps, z=z)
        calls.append({"act": acts, "z": z, "steps": steps, "state": ref.state()})
    return {"what": "garmentfw/reflex.py withdrawal reflex, default parameters", "calls": calls}
