"""Model presets: decoders built by hand for a known behaviour, not trained.

:func:`envelope_model` is the simplest closed loop - stimulation in proportion to effort -
which the latency benchmark (:mod:`garment.latency`) and the HIL closed-loop tests run on
the garment.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: MAV (ADC codes, after the device's filters) that the envelope model maps to activation 1.0.
#: On the phantom at gain 24: rest ~60-150 codes, drive 0.2 ~2300, drive 0.5 ~7000.
ENVELOPE_FULL_SCALE = 10000


def envelope_model(
    fs: int = 2000,
    n_ch: int = 8,
    outputs: int = 4,
    window_ms: int = 100,
    increment_ms: int = 20,
    full_scale: int = ENVELOPE_FULL_SCALE,
    stim: dict[str, Any] | None = None,
) -> bytes:
    """A regression decoder whose output ``i`` is the EMG envelope (MAV) of channel ``i``
    divided by ``full_scale`` (activation 1.0), with a proportional stimulation policy
    (stim channel ``i`` follows output ``i``) unless ``stim`` says otherwise. It is the
    simplest closed loop - stimulation in proportion to effort - and what the latency
    benchmark and the HIL closed-loop tests run on the garment."""
    from garment.features.reference import FeatureConfig
    from garment.models import modelfile
    from garment.models.quantize import FloatLayer, FloatNet, quantize

    window = max(4, fs * window_ms // 1000)
    inc = max(1, fs * increment_ms // 1000)
    cfg = FeatureConfig(fs=fs, n_ch=n_ch, window=window, increment=inc, features=("MAV",))
    W = np.zeros((outputs, n_ch))
    for i in range(min(outputs, n_ch)):
        W[i, i] = 1.0 / full_scale
    net = FloatNet(np.zeros(n_ch), np.ones(n_ch), [FloatLayer(W, np.zeros(outputs))], "regression",
                   [f"envelope{i}" for i in range(outputs)])
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 2 * full_scale, size=(4000, n_ch)).round().astype(np.int64)
    X[:8] = 0
    policy = stim if stim is not None else {
        "preset": "proportional",
        "params": {"gain": 1.0, "deadband": 0.1, "inputs": list(range(outputs))},
    }
    qm = quantize(net, X, clip_percentile=(0.0, 100.0), features=cfg.to_dict(), stim=policy,
                  info={"trainer": "garment.models.presets.envelope_model", "full_scale": full_scale})
    return modelfile.to_bytes(qm)
