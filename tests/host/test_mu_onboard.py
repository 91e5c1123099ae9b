"""The garment's motor-unit stage on the host: its contract (golden vectors shared with the
firmware's test) and the filters made for it from a calibration."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from garment.decomposition.agreement import rate_of_agreement
from garment.motorunits.onboard import GarmentUnit, GarmentUnitError, decode_activity, spec, stage_discharges, stage_sources
from garment.motorunits.onboard_filters import export_units, float_discharges
from garment.motorunits.onboard_golden import golden_cases, golden_path
from garment.protocol.wire import wire


def test_golden_vectors_are_what_the_host_twin_computes():
    # The firmware's test (tests/firmware/mp/test_mu_stage.py) feeds the same samples to
    # the stage and must send these very bodies.
    assert json.loads(golden_path().read_text()) == json.loads(json.dumps(golden_cases(), separators=(",", ":")))


def test_golden_bodies_decode_and_every_refusal_has_the_firmware_reason():
    g = golden_cases()
    case = g["cases"][1]
    units = [GarmentUnit.from_body(bytes.fromhex(h)) for h in case["units"]]
    assert [u.body().hex() for u in units] == case["units"]
    acts = [decode_activity(bytes.fromhex(b)) for b in case["activity"]]
    assert sum(a.n_samples for a in acts) == len(case["samples"])
    assert max(len(a.discharges) for a in acts) <= spec.MAX_EVENTS
    src = stage_sources(units, np.array(case["samples"]))
    want = sorted((k, (case["first"] + int(t)) & wire.COUNTER_MASK) for k, u in enumerate(units)
                  for t in stage_discharges(src[k], u.threshold, u.refractory, u.lag)
                  if int(t) + u.lag + u.refractory < len(case["samples"]))
    assert sorted(d for a in acts for d in a.discharges) == want
    for bad in g["refused"]:
        body = bytes.fromhex(bad["body"])
        hdr = struct.unpack_from(spec.UNIT_HDR_FMT, body)
        why = spec.unit_refusal(hdr, len(body), 2048, bad["n_ch"])
        if why is None:  # the channel check, made on the channel bytes
            with pytest.raises(GarmentUnitError, match=bad["reason"]):
                GarmentUnit.from_body(body).body()
        else:
            assert bad["reason"] in why
    with pytest.raises(ValueError, match="discharges"):
        decode_activity(bytes.fromhex(case["activity"][0])[:-1])


def test_host_refuses_what_the_garment_would():
    ok = GarmentUnit(0, 2048, 64, [1, 2], np.ones((2, 4), np.int16), 0, 3, 30, 100)
    assert len(ok.body()) == spec.UNIT_HDR_LEN + 2 + 16
    for change, reason in (({"weights": np.full((2, 4), 9000, np.int16)}, "overflow"),
                           ({"channels": [1, 64]}, "channel 64"),
                           ({"threshold": 0}, "positive"), ({"refractory": 5000}, "refractory"),
                           ({"unit": 9}, "units 0..7"), ({"weights": np.ones((2, 17), np.int16)}, "17 delays")):
        u = GarmentUnit(**{**ok.__dict__, **change})
        with pytest.raises(GarmentUnitError, match=reason):
            u.body()


def _synthetic(seed: int, n: int, fs: int = 2048) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    n_ch = 32
    templates = np.zeros((3, 12, n_ch))
    for k, centre in enumerate((5, 16, 27)):
        space = np.exp(-0.5 * ((np.arange(n_ch) - centre) / 2.5) ** 2)
        time = np.sin(np.linspace(0, 2 * np.pi, 12)) * np.hanning(12) * (1 + 0.3 * k)
        templates[k] = 3000 * time[:, None] * space[None, :]
    x = rng.normal(0, 150, (n, n_ch))
    trains = []
    for k in range(3):
        t = np.cumsum(rng.normal(fs / 12, fs / 100, int(n / fs * 14)).astype(int)) + 50
        t = t[t < n - 20]
        trains.append(t)
        for s in t:
            x[s : s + 12] += templates[k]
    return np.rint(x).astype(np.int64), trains, templates


def test_filters_for_the_garment_find_the_units_again():
    fs = 2048
    xb, trains, _ = _synthetic(1, 6 * fs)
    ex = export_units(xb, trains, fs, max_units=3)
    assert len(ex) == 3 and all(e.baseline_roa >= 0.95 for e in ex)
    for e in ex:
        assert e.unit.taps <= spec.MAX_TAPS and len(e.unit.body()) > spec.UNIT_HDR_LEN
    xl, truth, _ = _synthetic(2, 4 * fs)
    units = [e.unit for e in ex]
    src = stage_sources(units, xl)
    for k, e in enumerate(ex):
        found = stage_discharges(src[k], e.unit.threshold, e.unit.refractory, e.unit.lag)
        assert rate_of_agreement(truth[e.source_unit], found, fs)[0] >= 0.95
        assert rate_of_agreement(float_discharges(e, xl), found, fs)[0] >= 0.95  # int16 costs ~nothing
