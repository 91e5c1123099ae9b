"""Batch generation: a whole recording with its ground truth in one call."""
from __future__ import annotations

from typing import Any

from .result import PhantomResult
from .stream import PhantomStream


def generate(
    scenario: str = "cycling",
    seconds: float = 10.0,
    fs: float = 2000.0,
    channels: int = 8,
    seed: int = 0,
    **scenario_options: Any,
) -> PhantomResult:
    """Simulate a surface-EMG recording of the garment with ground truth.

    Args:
        scenario: ``cycling`` (options ``cadence_rpm``, ``intensity``, ...), ``rest``, ``mvc``
            (ramps to MVC per muscle in turn), ``gestures`` (labelled classes) or
            ``sustained`` (constant ``level``; fatigue studies).
        seconds: duration.
        fs: sampling rate (Hz); 250..2000 typical, higher works.
        channels: first ``channels`` (1..8) of ``L_RF, L_VL, L_BF, L_ST, R_RF, R_VL, R_BF, R_ST``.
        seed: seed of every random choice (same seed -> identical output).
        **scenario_options: scenario options plus phantom options (see :class:`PhantomStream`),
            e.g. ``mains_hz=60``, ``noise_uV=2``, ``fatigue_rate=0``,
            ``stim_pulses=pulse_train(1, 2.0, 1.0, 30, 25)``.

    Returns:
        :class:`PhantomResult` with ``emg_uV`` (n, channels) float32 and ground truth.
    """
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    stream = PhantomStream(scenario, fs, channels, seed, keep_truth=True, **scenario_options)
    n = int(round(seconds * stream.fs))
    emg = stream.next_block(n)
    return stream.result(emg)
