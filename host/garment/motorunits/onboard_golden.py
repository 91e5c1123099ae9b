"""``models/golden/mu_stage.json``: the garment's motor-unit stage pinned for both sides.

Cases: filtered codes (synthetic: noise, three units' potentials, one sample beyond the int16
delay line) with the ``T_MU_UNIT`` bodies of a filter set, the ``R_MU_ACTIVITY`` bodies the stage
sends for them, and bodies the stage must refuse with (a part of) its reason.  Regenerate with
``python -m garment.motorunits.onboard_golden`` (the host test fails when the file differs).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from garment.paths import repo_root

from .onboard import GarmentUnit, activity_bodies, spec, stage_sources

FS = 2048
N_CH = 8


def _signal(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(0, 1500, (n, N_CH))
    for ch, period, amp in ((0, 97, 9000), (3, 61, -7000), (6, 143, 12000)):
        for t in range(20, n - 8, period):
            x[t : t + 6, ch : ch + 2] += amp * np.hanning(6)[:, None]
    x[300, 2] = 3_000_000  # saturates the int16 delay line
    x[301, 5] = -3_000_000
    return np.rint(x).astype(np.int64)


def _units(rng: np.random.Generator, x: np.ndarray, refractory: int, quantile: float) -> list[GarmentUnit]:
    shapes = (([0, 1, 2], 4), ([3, 5], 2), ([6, 7, 1, 0], 8))
    out = []
    for k, (ch, d) in enumerate(shapes):
        w = rng.integers(-32768, 32768, (len(ch), d))
        w[0, 0] = 32767
        w = (np.sign(w) * (np.abs(w) * spec.MAX_WEIGHT_SUM // max(int(np.abs(w).sum()), spec.MAX_WEIGHT_SUM)))
        w = w.astype(np.int16)
        u = GarmentUnit(k, FS, N_CH, ch, w, 2, k + 1, refractory, 1)
        s = stage_sources([u], x)[0]
        u.threshold = max(1, int(np.quantile(s, quantile)))
        out.append(u)
    return out


def golden_cases() -> dict[str, Any]:
    rng = np.random.default_rng(16)
    cases = []
    for name, refr, q, block in (("sparse", 41, 0.97, 20), ("burst", 1, 0.2, 7)):
        x = _signal(rng, 900)
        units = _units(rng, x, refr, q)
        first = (1 << 30) - 400  # the AFE counter wraps inside the case
        cases.append({"name": name, "fs": FS, "n_ch": N_CH, "first": first, "block": block,
                      "samples": x.tolist(), "units": [u.body().hex() for u in units],
                      "activity": [b.hex() for b in activity_bodies(units, x, first)]})
    ok = GarmentUnit(0, FS, N_CH, [0, 1], np.ones((2, 2), np.int16), 0, 0, 10, 100)
    good = ok.body()
    bad: list[dict[str, Any]] = []

    def edit(off: int, val: bytes) -> str:
        b = bytearray(good)
        b[off : off + len(val)] = val
        return b.hex()

    bad.append({"body": edit(0, bytes([8])), "reason": "units 0..7"})
    bad.append({"body": edit(3, bytes([16])), "reason": "the garment acquires 8 ch"})  # made for 16 ch
    bad.append({"body": edit(1, (1000).to_bytes(2, "little")), "reason": "x 1000 Hz"})
    bad.append({"body": edit(5, bytes([17])), "reason": "delays, 1..16"})
    bad.append({"body": edit(18, (30000).to_bytes(2, "little") * 3), "reason": "overflow 32 bits"})  # sum |w| 90001
    bad.append({"body": edit(6, bytes([17])), "reason": "at most 16"})  # in_shift
    bad.append({"body": edit(7, bytes([65])), "reason": "lag 65"})
    bad.append({"body": edit(8, (0).to_bytes(2, "little")), "reason": "refractory 0"})
    bad.append({"body": edit(10, (0).to_bytes(4, "little", signed=True)), "reason": "positive"})
    bad.append({"body": good[:-1].hex(), "reason": "need 24"})
    bad.append({"body": edit(14, bytes([9])), "reason": "channel 9"})
    # 32 channels x 16 delays of a 64-channel garment: 512 taps
    hdr = struct.pack(spec.UNIT_HDR_FMT, 0, FS, 64, 32, 16, 0, 0, 10, 100)
    bad.append({"body": (hdr + bytes(range(32)) + bytes(1024)).hex(), "n_ch": 64, "reason": "at most 256"})
    for case in bad:
        case.setdefault("n_ch", N_CH)
    return {"cases": cases, "refused": bad}


def golden_path() -> Path:
    root = repo_root()
    if root is None:
        raise FileNotFoundError("the golden vectors live in a checkout (models/golden/)")
    return root / "models" / "golden" / "mu_stage.json"


if __name__ == "__main__":
    golden_path().write_text(json.dumps(golden_cases(), separators=(",", ":")) + "\n")
    print(golden_path())
