"""From recordings to training windows, with the garment's own integer pipeline.

Recordings (BDF+ with class annotations, or UCI files) -> ADC codes (as the ADS1299 at
gain 24 would give them) -> the firmware's fixed-point filters (bit-exact host reference;
skipped for recordings the garment already filtered) -> the firmware's integer features
(bit-exact reference) -> one row per window, labelled by the annotation at the window's
end, grouped by recording. What the decoder is trained on is exactly what it will see.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from garment.features.filters import filter_block, make_state, prime_state
from garment.features.reference import FeatureConfig, compute_features
from garment.recordings import Recording, read_edf

#: Input-referred volts per code of the ADS1299 at gain 24 (2 * 4.5 V / 24 / 2^24).
UV_PER_CODE_G24 = 2 * 4.5 / 24 / 2**24 * 1e6
_UNIT_TO_UV = {"uv": 1.0, "µv": 1.0, "microvolts": 1.0, "mv": 1000.0, "v": 1e6}


@dataclass
class WindowSet:
    """Feature rows with their labels, groups and where each window ended."""

    X: np.ndarray  # (n_windows, n_ch * n_feat) int64
    labels: np.ndarray  # (n_windows,) str (or float targets for regression)
    groups: np.ndarray  # (n_windows,) recording index
    ends: np.ndarray  # (n_windows,) end sample of each window within its recording
    config: FeatureConfig
    names: list[str]  # recording names, by group


def emg_channels(rec: Recording, channels: Sequence[str] | None = None) -> Recording:
    """The EMG channels of a recording: ``channels`` found by name, unit and position
    (:func:`garment.recordings.channels.find_channels`, renamed to the wanted names), or
    every channel in volts."""
    if channels:
        from garment.recordings.channels import find_channels

        idx, _ = find_channels(rec.channel_names, rec.units, list(channels),
                               rec.meta.get("source_file") or "recording")
        out = rec.select_channels([rec.channel_names[i] for i in idx])
        out.channel_names = list(channels)
        return out
    keep = [n for n, u in zip(rec.channel_names, rec.units) if u.lower() in _UNIT_TO_UV]
    return rec.select_channels(keep)


def to_microvolts(rec: Recording) -> np.ndarray:
    """The samples of voltage channels (uV, mV, V) in microvolts, float64 (n, ch)."""
    scale = np.array([_UNIT_TO_UV[u.lower()] for u in rec.units], dtype=np.float64)
    return np.asarray(rec.samples, dtype=np.float64) * scale[None, :]


def to_codes(rec: Recording, uV_per_code: float = UV_PER_CODE_G24) -> np.ndarray:
    """Physical samples -> int32 ADC codes, clipped at the 24-bit rails like the AFE."""
    codes = np.rint(to_microvolts(rec) / uV_per_code)
    return np.clip(codes, -(2**23), 2**23 - 1).astype(np.int32)


def device_filter(codes: np.ndarray, fs: int, mains_hz: int = 50, highpass: bool = True,
                  notch: bool = True) -> np.ndarray:
    """The firmware's filter chain on a whole recording (bit-exact with FilterBank)."""
    if not (highpass or notch):
        return codes
    state = make_state(codes.shape[1], fs, mains_hz, hp=highpass, notch=notch)
    prime_state(state, codes[0])  # as the garment primes on its first samples
    return filter_block(codes, state)


def already_filtered(rec: Recording) -> bool:
    """Recordings streamed from a garment carry its filtered samples already."""
    return rec.meta.get("stream_kind") == "filtered"


def recording_windows(
    rec: Recording,
    config: FeatureConfig,
    channels: Sequence[str] | None = None,
    mains_hz: int = 50,
    target: str | None = None,
    filters: tuple[bool, bool] = (True, True),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, ends) of one recording. ``target`` names a channel (e.g. the knee
    angle FX) whose value at each window's end is the regression target. ``filters``:
    (high-pass, notch) as the garment runs them."""
    if int(round(rec.fs)) != config.fs:
        raise ValueError(f"recording at {rec.fs} Hz, decoder configured for {config.fs} Hz")
    emg = emg_channels(rec, channels)
    if emg.n_channels != config.n_ch:
        raise ValueError(f"{emg.n_channels} EMG channels, decoder configured for {config.n_ch}")
    codes = to_codes(emg)
    if not already_filtered(rec):
        codes = device_filter(codes, config.fs, mains_hz, *filters)
    X, ends = compute_features(codes, config)
    if target is not None:
        y: np.ndarray = rec.channel(target)[ends].astype(float)
    else:
        y = rec.labels_per_sample(default="")[ends]
    return X, y, ends


def build_windows(
    recordings: Sequence[Recording],
    config: FeatureConfig,
    channels: Sequence[str] | None = None,
    mains_hz: int = 50,
    target: str | None = None,
    names: Sequence[str] | None = None,
    context: tuple[int, int] = (1, 1),
    filters: tuple[bool, bool] = (True, True),
    full_context: bool = False,
) -> WindowSet:
    """Windows of many recordings, grouped by recording (never split across CV folds).

    With temporal context ``(K, S)`` each row holds the window and K-1 earlier ones of
    the same recording, S apart, as the garment's decoder sees them from the start of
    a stream (:func:`garment.models.reference.stack_context`), before unlabelled
    windows are dropped. ``full_context`` (for training) also drops the first (K-1)*S
    windows of each recording, whose context reaches back before its start (a fresh
    decoder repeats its first window there: not what a running decoder sees).
    """
    from garment.models.reference import stack_context

    Xs, ys, gs, es = [], [], [], []
    for i, rec in enumerate(recordings):
        X, y, e = recording_windows(rec, config, channels, mains_hz, target, filters)
        X = stack_context(X, *context)
        keep = y != "" if target is None else np.isfinite(y)
        if full_context:
            keep &= np.arange(len(y)) >= (context[0] - 1) * context[1]
        Xs.append(X[keep])
        ys.append(y[keep])
        gs.append(np.full(int(keep.sum()), i))
        es.append(e[keep])
    if not Xs:
        raise ValueError("no recordings")
    return WindowSet(np.vstack(Xs), np.concatenate(ys), np.concatenate(gs), np.concatenate(es), config,
                     list(names) if names else [f"rec{i}" for i in range(len(recordings))])


def load_recordings(paths: Sequence[str | Path]) -> list[Recording]:
    """BDF+/EDF+ recordings (labels in annotations)."""
    return [read_edf(p) for p in paths]
