"""The host reference of the garment's spiking pattern generator reproduces its golden
vectors (which the firmware reproduces on the unix port: tests/firmware/mp/test_cpg.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from garment.rider.cpg_reference import CpgParams, CpgReference, golden_cases

GOLDEN = Path(__file__).resolve().parents[2] / "models" / "golden" / "cpg_halfcentre.json"


def test_reference_reproduces_the_golden_vectors() -> None:
    stored = json.loads(GOLDEN.read_text())
    assert stored == golden_cases()
    for case in stored["cases"]:
        p = case["params"]
        w = p["weights"]
        ref = CpgReference(CpgParams({k: v for k, v in p.items() if k != "weights"}, [w[i : i + 2] for i in range(0, len(w), 2)]))
        for call in case["calls"]:
            ref.run(call["angle_cdeg"], *call["act"], steps=call["steps"])
        last = case["calls"][-1]["state"]
        assert [int(x) for x in np.concatenate([ref.v[0], ref.a[0], ref.s[0], ref.since[0], ref.count[0]])] == last


def test_batch_runs_are_independent_and_parameters_checked() -> None:
    p = CpgParams()
    w = np.stack([np.asarray(p.weights), -np.asarray(p.weights)])
    ref = CpgReference(p, batch=2, weights=w)
    one = CpgReference(p)
    for t in range(3000):
        ang = (t * 36) % 36000
        ref.run(ang)
        one.run(ang)
    assert np.array_equal(ref.v[0], one.v[0]) and np.array_equal(ref.count[0], one.count[0])
    assert not np.array_equal(ref.count[0], ref.count[1])
    with pytest.raises(ValueError, match="tonic"):
        CpgParams(dict(CpgParams().values, tonic=-5))
