"""The in-memory recording: samples, channels, annotations, ground truth, metadata.

One :class:`Recording` type is used by every reader and writer in
:mod:`garment.recordings` (UCI text, BDF+/EDF+, CSV, the live recorder), by the
simulator (which fills ``truth``) and by training code.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Prefix of the annotation the live recorder writes where samples were lost
#: (``"GAP n=123"``). Such annotations are events, not class labels.
GAP_PREFIX = "GAP"


def is_gap_annotation(text: str) -> bool:
    """True for the recorder's own lost-samples annotations (``GAP n=...``)."""
    return text == GAP_PREFIX or text.startswith(GAP_PREFIX + " ")


@dataclass(frozen=True)
class Annotation:
    """An event or a labelled interval, in seconds from the first sample.

    ``duration_s == 0`` marks an instantaneous event (a stimulation pulse train
    start, a decoder decision); a positive duration marks an interval (a class
    label such as ``"mar"``, or a ``GAP n=...`` of lost samples).
    """

    onset_s: float
    duration_s: float
    text: str

    def __post_init__(self) -> None:
        if not np.isfinite(self.onset_s) or not np.isfinite(self.duration_s):
            raise ValueError(f"annotation {self.text!r}: onset and duration must be finite")
        if self.duration_s < 0:
            raise ValueError(f"annotation {self.text!r}: negative duration {self.duration_s}")

    @property
    def end_s(self) -> float:
        """Onset plus duration."""
        return self.onset_s + self.duration_s


@dataclass(eq=False)
class Recording:
    """A multichannel recording sampled at one rate.

    Attributes:
        samples: ``(n_samples, n_channels)`` float64 array in physical units.
        fs: sampling frequency in Hz.
        channel_names: one name per column (e.g. ``"RF"``, ``"FX"``).
        units: one physical unit per column (e.g. ``"mV"``, ``"deg"``).
        annotations: events and labelled intervals.
        truth: optional per-sample ground truth (simulator), each array's first
            dimension is ``n_samples``; may be empty.
        meta: free-form string metadata (subject, task, source file, ...).
    """

    samples: np.ndarray
    fs: float
    channel_names: list[str]
    units: list[str]
    annotations: list[Annotation] = field(default_factory=list)
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float64)
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.ndim != 2:
            raise ValueError(f"samples must be 2-D (n_samples, n_channels), got shape {samples.shape}")
        self.samples = samples
        self.fs = float(self.fs)
        if not (np.isfinite(self.fs) and self.fs > 0):
            raise ValueError(f"fs must be a positive number, got {self.fs}")
        self.channel_names = [str(c) for c in self.channel_names]
        self.units = [str(u) for u in self.units]
        n_ch = samples.shape[1]
        if len(self.channel_names) != n_ch:
            raise ValueError(f"{len(self.channel_names)} channel names for {n_ch} channels")
        if len(self.units) != n_ch:
            raise ValueError(f"{len(self.units)} units for {n_ch} channels")
        if len(set(self.channel_names)) != n_ch:
            raise ValueError(f"duplicate channel names: {self.channel_names}")
        self.annotations = list(self.annotations)
        truth: dict[str, np.ndarray] = {}
        for key, arr in self.truth.items():
            arr = np.asarray(arr)
            if arr.ndim == 0 or arr.shape[0] != samples.shape[0]:
                raise ValueError(f"truth[{key!r}] has shape {arr.shape}; its first dimension must be n_samples={samples.shape[0]}")
            truth[str(key)] = arr
        self.truth = truth
        self.meta = {str(k): str(v) for k, v in self.meta.items()}

    # -- shape -----------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        """Number of samples (rows)."""
        return int(self.samples.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of channels (columns)."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds (``n_samples / fs``)."""
        return self.n_samples / self.fs

    def times(self) -> np.ndarray:
        """Time of each sample in seconds from the first (``arange(n) / fs``)."""
        return np.arange(self.n_samples, dtype=np.float64) / self.fs

    def channel(self, name: str) -> np.ndarray:
        """The samples of one channel by name (a view)."""
        return self.samples[:, self._index(name)]

    def _index(self, name: str) -> int:
        try:
            return self.channel_names.index(name)
        except ValueError:
            raise KeyError(f"no channel {name!r}; channels are {self.channel_names}") from None

    # -- labels ----------------------------------------------------------------
    def _sample_range(self, ann: Annotation) -> tuple[int, int]:
        start = int(round(ann.onset_s * self.fs))
        stop = int(round(ann.end_s * self.fs))
        return max(0, min(start, self.n_samples)), max(0, min(stop, self.n_samples))

    def labels_per_sample(self, default: str = "", labels: Iterable[str] | None = None) -> np.ndarray:
        """A label for every sample, from the interval annotations.

        Each annotation with a positive duration labels the samples
        ``round(onset*fs) .. round((onset+duration)*fs) - 1``; where intervals
        overlap, the later annotation in :attr:`annotations` wins. Instantaneous
        events (duration 0) and the recorder's ``GAP n=...`` annotations are not
        labels and are ignored. Pass ``labels`` to consider only those texts.

        Returns a numpy unicode array of length ``n_samples``; unlabelled samples
        hold ``default``.
        """
        wanted = None if labels is None else set(labels)
        chosen = [
            a for a in self.annotations
            if a.duration_s > 0 and not is_gap_annotation(a.text) and (wanted is None or a.text in wanted)
        ]
        width = max([len(default), 1] + [len(a.text) for a in chosen])
        out = np.full(self.n_samples, default, dtype=f"<U{width}")
        for a in chosen:
            start, stop = self._sample_range(a)
            out[start:stop] = a.text
        return out

    def segments(self, label: str) -> list[tuple[int, int]]:
        """Half-open sample ranges ``(start, stop)`` where :meth:`labels_per_sample` equals ``label``.

        Adjacent or overlapping intervals with the same label merge into one
        segment. Use :meth:`slice` to cut them out.
        """
        mask = self.labels_per_sample() == label
        if not mask.any():
            return []
        edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        stops = np.flatnonzero(edges == -1)
        return [(int(a), int(b)) for a, b in zip(starts, stops)]

    # -- derived recordings ------------------------------------------------------
    def select_channels(self, names: Sequence[str]) -> Recording:
        """A new recording holding only ``names``, in that order (``KeyError`` on an unknown name)."""
        idx = [self._index(n) for n in names]
        return Recording(
            samples=self.samples[:, idx].copy(),
            fs=self.fs,
            channel_names=[self.channel_names[i] for i in idx],
            units=[self.units[i] for i in idx],
            annotations=list(self.annotations),
            truth={k: v.copy() for k, v in self.truth.items()},
            meta=dict(self.meta),
        )

    def slice(self, start: int, stop: int) -> Recording:
        """Samples ``start:stop`` as a new recording; annotations are clipped and shifted."""
        start = max(0, min(int(start), self.n_samples))
        stop = max(start, min(int(stop), self.n_samples))
        t0, t1 = start / self.fs, stop / self.fs
        anns: list[Annotation] = []
        for a in self.annotations:
            if a.duration_s == 0:
                if t0 <= a.onset_s < t1:
                    anns.append(Annotation(a.onset_s - t0, 0.0, a.text))
                continue
            lo, hi = max(a.onset_s, t0), min(a.end_s, t1)
            if hi > lo:
                anns.append(Annotation(lo - t0, hi - lo, a.text))
        return Recording(
            samples=self.samples[start:stop].copy(),
            fs=self.fs,
            channel_names=list(self.channel_names),
            units=list(self.units),
            annotations=anns,
            truth={k: v[start:stop].copy() for k, v in self.truth.items()},
            meta=dict(self.meta),
        )
