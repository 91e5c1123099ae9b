"""The host reference of the withdrawal reflex reproduces its golden vectors (the
firmware reproduces them on the unix port: tests/firmware/mp/test_reflex.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from garment.rider.reflex_reference import ReflexReference, golden_cases

GOLDEN = Path(__file__).resolve().parents[2] / "models" / "golden" / "reflex_withdrawal.json"


def test_reference_reproduces_the_golden_vectors() -> None:
    assert json.loads(GOLDEN.read_text()) == golden_cases()


def test_quiet_alternating_pedalling_never_withdraws_and_a_burst_does() -> None:
    r = ReflexReference()
    t = np.arange(60_000)  # one minute of quadriceps and hamstrings alternating
    q = (1500 * np.clip(np.sin(2 * np.pi * t / 1000), 0, None)).astype(int)
    h = (1500 * np.clip(np.sin(2 * np.pi * t / 1000 + np.pi), 0, None)).astype(int)
    assert not any(r.run(int(a), int(b), int(b), int(a), steps=20) for a, b in zip(q[::20], h[::20]))
    assert r.withdrawals == 0
    assert any(r.run(3500, 3500, 300, 300) for _ in range(100))
    with pytest.raises(ValueError, match="level"):
        ReflexReference({"level": -1})
