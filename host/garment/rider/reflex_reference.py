"""Bit-exact host reference of the garment's withdrawal reflex (``garmentfw/reflex.py``;
equations in ``garmentfw/reflex_spec.py``), vectorised over time where it can be and
stepped per millisecond where it must, for golden vectors and false-stop measurements."""
from __future__ import annotations

from typing import Any

import numpy as np

from garment.contracts import load_contract

_spec = load_contract("reflex_spec")
LIMITS: tuple[tuple[str, int, int, int], ...] = _spec.LIMITS


class ReflexReference:
    """One reflex network; ``run`` takes the four activations (Q12) for ``steps`` ms."""

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

    def run(self, q0: int, h0: int, q1: int, h1: int, steps: int = 1) -> bool:
        p = self.p
        c = (min(q0, h0), min(q1, h1))
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
            vo = self.vo + p["w_leg"] * n - (self.vo >> p["out_sh"])
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
        """The firmware's state words: v_leg0 v_leg1 base0 base1 v_out withdrawals off_left."""
        return [self.v[0], self.v[1], self.b[0], self.b[1], self.vo, self.withdrawals, self.off_left]


def golden_cases() -> dict[str, Any]:
    """``models/golden/reflex_withdrawal.json``: calls with random activations, bursts of
    co-contraction included, and the state after each."""
    rng = np.random.default_rng(4)
    ref = ReflexReference()
    calls = []
    for k in range(200):
        burst = 60 <= k < 70 or 140 <= k < 143
        acts = [int(x) for x in rng.integers(0, 4097 if burst else 1500, 4)]
        if burst:
            acts = [max(a, 3000) for a in acts]
        steps = int(rng.integers(1, 25))
        ref.run(*acts, steps=steps)
        calls.append({"act": acts, "steps": steps, "state": ref.state()})
    return {"what": "garmentfw/reflex.py withdrawal reflex, default parameters", "calls": calls}
