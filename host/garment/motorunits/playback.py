"""A phantom recording played into the simulated garment's AFE on request (the rig's EMG source).

:class:`GridFeed` plays a rest segment back and forth until :meth:`GridFeed.play` is asked for a
recording, then that recording from the same point (its first samples are the rest segment, so
the switch is seamless), then the rest again.  It records where the recording started in its own
samples (``trial_start``), which the feeder maps to the AFE's conversion index, so the host knows
which recorded sample every streamed sample or reported pulse belongs to.
"""
from __future__ import annotations

import threading

import numpy as np


class GridFeed:
    """The feeder's EMG source: the first ``IDLE_S`` of a trial's rest, back and forth (continuous,
    so the garment's filters see no step), until :meth:`play`; then the trial from where the idle
    part stands; back to idle after it."""

    def __init__(self, fs: int, n_inputs: int = 8) -> None:
        self.fs = fs
        self.n_inputs = n_inputs
        self.position = 0  # samples produced
        self._idle: np.ndarray = np.zeros((0, n_inputs), np.float32)
        self._trial: np.ndarray | None = None
        self._ip = 0  # position in the idle part
        self._dir = 1
        self._tp = -1  # position in the trial (-1: idle)
        self.trial_start: int | None = None  # source position of the trial's sample 0
        self.trial_first = 0  # the trial's first sample played (the idle part's position at the switch)
        self.started = threading.Event()
        self._pending: np.ndarray | None = None
        self._rng = np.random.default_rng(0)

    def set_idle(self, x: np.ndarray) -> None:
        self._idle = np.asarray(x, np.float32)
        self._ip, self._dir = 0, 1

    def play(self, trial: np.ndarray) -> None:
        """Start ``trial`` (n, 8) at the next moment the idle part is moving forwards (its first
        ``IDLE_S`` are the idle part itself, so the switch is seamless)."""
        self.started.clear()
        self.trial_start = None
        self._pending = np.asarray(trial, np.float32)

    def next_block(self, n: int) -> np.ndarray:
        out = np.empty((n, self.n_inputs), np.float32)
        i = 0
        while i < n:
            if self._tp < 0 and self._pending is not None and self._dir > 0:
                self._trial, self._pending, self._tp = self._pending, None, self._ip
                self.trial_start = self.position + i - self._ip
                self.trial_first = self._ip
                self.started.set()
            if self._tp >= 0 and self._trial is not None:
                m = min(n - i, self._trial.shape[0] - self._tp)
                out[i : i + m] = self._trial[self._tp : self._tp + m]
                self._tp += m
                i += m
                if self._tp >= self._trial.shape[0]:
                    self._tp, self._trial = -1, None
                    self._ip, self._dir = self._idle.shape[0] - 1, -1
                continue
            L = self._idle.shape[0]
            if not L:
                out[i:] = self._rng.standard_normal((n - i, self.n_inputs)) * 3.0
                break
            if L == 1:
                out[i:] = self._idle[0]
                break
            if self._dir > 0:
                m = min(n - i, L - self._ip)
                out[i : i + m] = self._idle[self._ip : self._ip + m]
                self._ip += m
                if self._ip >= L:
                    self._ip, self._dir = L - 2, -1
            else:
                m = min(n - i, self._ip + 1)
                out[i : i + m] = self._idle[self._ip - m + 1 : self._ip + 1][::-1]
                self._ip -= m
                if self._ip < 0:
                    self._ip, self._dir = 1, 1
            i += m
        self.position += n
        return out
