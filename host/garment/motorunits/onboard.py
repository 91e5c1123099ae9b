"""The garment's motor-unit stage on the host: its filter upload body, its activity packet and its integer twin.

The contract is the firmware's own ``garmentfw/mu_spec.py`` (layout, limits, the fixed-point rule,
the stage's instruction budget) and ``garmentfw/wire.py`` (``T_MU_UNIT``, ``R_MU_ACTIVITY``), loaded
as they are.  :func:`stage_sources` and :func:`stage_discharges` compute exactly the integers the
firmware's ``mu_stage`` computes; :func:`activity_bodies` the very packets it sends
(``models/golden/mu_stage.json`` pins both sides).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from garment.contracts import load_contract
from garment.protocol.wire import wire

spec = load_contract("mu_spec")

__all__ = ["Activity", "GarmentUnit", "activity_bodies", "decode_activity", "spec", "stage_discharges",
           "stage_sources"]


class GarmentUnitError(ValueError):
    """A filter the garment's stage would refuse, with the stage's own reason."""


@dataclass
class GarmentUnit:
    """One separation filter as the garment's stage runs it (see ``mu_spec.py`` for the rule).

    Attributes:
        unit: its slot on the garment (0..``spec.MAX_UNITS`` - 1).
        fs, n_ch: the acquisition it was made for.
        channels: the streamed channels it reads (indices into the garment's ``n_ch``).
        weights: (len(channels), delays) int16; ``weights[j, d]`` multiplies channel ``channels[j]`` delayed by ``d``.
        in_shift: input shift (the same for every unit of a set); the weights' |w| sum to at most
            ``spec.MAX_WEIGHT_SUM`` (the source then fits 32 bits).
        lag: samples from a discharge to its filter's peak; refractory: samples; threshold: on the integer source.
    """

    unit: int
    fs: int
    n_ch: int
    channels: list[int]
    weights: np.ndarray
    in_shift: int
    lag: int
    refractory: int
    threshold: int

    @property
    def delays(self) -> int:
        return int(self.weights.shape[1])

    @property
    def taps(self) -> int:
        return int(self.weights.size)

    def header(self) -> tuple[int, ...]:
        return (self.unit, self.fs, self.n_ch, len(self.channels), self.delays, self.in_shift, self.lag,
                self.refractory, self.threshold)

    def body(self) -> bytes:
        """The ``T_MU_UNIT`` body.

        Raises:
            GarmentUnitError: the stage would refuse it (its reason, from ``mu_spec.unit_refusal``).
        """
        w = np.asarray(self.weights)
        if w.ndim != 2 or w.shape[0] != len(self.channels) or w.min(initial=0) < -32768 or w.max(initial=0) > 32767:
            raise GarmentUnitError(f"unit {self.unit}: weights must be int16 of shape ({len(self.channels)}, delays)")
        try:
            hdr = struct.pack(spec.UNIT_HDR_FMT, *self.header())
        except struct.error as e:
            raise GarmentUnitError(f"unit {self.unit}: a field does not fit its wire type ({e})") from None
        body = hdr + bytes(self.channels) + w.astype("<i2").tobytes()
        why = spec.unit_refusal(self.header(), len(body), self.fs, self.n_ch) or spec.weight_refusal(
            self.unit, int(np.abs(w.astype(np.int64)).sum()))
        bad_ch = [c for c in self.channels if not 0 <= c < self.n_ch]
        if why is None and bad_ch:
            why = f"unit {self.unit}: channel {bad_ch[0]}, the garment acquires 0..{self.n_ch - 1}"
        if why is not None:
            raise GarmentUnitError(why)
        return body

    @classmethod
    def from_body(cls, body: bytes) -> "GarmentUnit":
        hdr = struct.unpack_from(spec.UNIT_HDR_FMT, body)
        unit, fs, n_ch, n_sub, delays, in_shift, lag, refr, thr = hdr
        a = spec.UNIT_HDR_LEN
        ch = list(body[a : a + n_sub])
        w = np.frombuffer(body, "<i2", n_sub * delays, a + n_sub).reshape(n_sub, delays).astype(np.int16)
        return cls(unit, fs, n_ch, ch, w, in_shift, lag, refr, thr)


def quantise_input(x: np.ndarray, in_shift: int) -> np.ndarray:
    """``xq``: the filtered codes (n, n_ch) shifted right and saturated to int16, as the stage's delay line holds them."""
    return np.clip(np.asarray(x, np.int64) >> in_shift, -32768, 32767)


def stage_sources(units: Sequence[GarmentUnit], x: np.ndarray) -> np.ndarray:
    """Integer sources (K, n) of ``units`` on filtered codes ``x`` (n, n_ch), zero history before sample 0."""
    if not units:
        return np.zeros((0, len(x)), np.int64)
    xq = quantise_input(x, units[0].in_shift)
    n = xq.shape[0]
    out = np.zeros((len(units), n), np.int64)
    for k, u in enumerate(units):
        s = np.zeros(n, np.int64)
        for j, c in enumerate(u.channels):
            col = xq[:, c]
            for d in range(u.delays):
                shifted = np.concatenate([np.zeros(d, np.int64), col[: n - d]]) if d else col
                s += int(u.weights[j, d]) * shifted
        out[k] = s
    return out


def stage_discharges(source: np.ndarray, threshold: int, refractory: int, lag: int, t0: int = 0) -> np.ndarray:
    """The stage's detector on one integer source: discharge samples (``t0`` = index of sample 0).

    A sample above ``threshold`` opens a candidate, a larger one within ``refractory`` samples
    replaces it, and it is a discharge (at its sample minus ``lag``) once a sample ``refractory``
    after it has been processed.
    """
    s = np.asarray(source)
    above = np.flatnonzero(s > threshold)
    out: list[int] = []
    pend_t = -1
    pend_v = 0
    for t in above.tolist():
        if pend_t >= 0 and t - pend_t >= refractory:
            out.append(pend_t)
            pend_t = -1
        v = s[t].item()
        if pend_t >= 0:
            if v > pend_v:
                pend_t, pend_v = t, v
        else:
            pend_t, pend_v = t, v
    if pend_t >= 0 and s.size - 1 - pend_t >= refractory:
        out.append(pend_t)
    return np.asarray(out, np.int64) - lag + t0


def activity_bodies(units: Sequence[GarmentUnit], x: np.ndarray, first: int, flush: bool = True) -> list[bytes]:
    """The ``R_MU_ACTIVITY`` bodies the stage sends for ``x`` (n, n_ch) streamed from AFE index ``first``
    (one per ``mu_spec.INTERVAL_MS``, earlier when ``MAX_EVENTS`` discharges could be exceeded; the
    stream's stop sends the rest when ``flush``)."""
    fs = units[0].fs
    k_units = len(units)
    src = stage_sources(units, x)
    n = src.shape[1]
    events: list[tuple[int, int, int]] = []  # (confirmed at, unit, AFE index)
    for k, u in enumerate(units):
        for t in stage_discharges(src[k], u.threshold, u.refractory, 0).tolist():
            events.append((t + u.refractory, k, t - u.lag))  # confirmed `refractory` after its sample
    events.sort()  # the stage emits units in order within a sample
    interval = spec.interval_samples(fs)
    bodies: list[bytes] = []
    mask = wire.COUNTER_MASK
    i_first, n_in, waiting = first, 0, []  # type: ignore[var-annotated]
    e = 0

    def send() -> None:
        nonlocal i_first, n_in, waiting
        body = struct.pack(wire.MU_ACTIVITY_HDR_FMT, i_first & mask, n_in, k_units, len(waiting))
        for unit, idx in waiting:
            off = ((idx + first - i_first + (1 << 29)) & mask) - (1 << 29)
            body += struct.pack(wire.MU_DISCHARGE_FMT, unit, off)
        bodies.append(body)
        i_first, n_in, waiting = (i_first + n_in) & mask, 0, []

    for t in range(n):
        if len(waiting) + k_units > spec.MAX_EVENTS:
            send()
        while e < len(events) and events[e][0] == t:
            waiting.append((events[e][1], events[e][2]))
            e += 1
        n_in += 1
        if n_in >= interval:
            send()
    if flush and (n_in or waiting):
        send()
    return bodies


@dataclass
class Activity:
    """One ``R_MU_ACTIVITY``: the interval ``[first, first + n_samples)`` and its discharges (unit, AFE index)."""

    first: int
    n_samples: int
    n_units: int
    discharges: list[tuple[int, int]]


def decode_activity(body: bytes) -> Activity:
    """Parse an ``R_MU_ACTIVITY`` body.

    Raises:
        ValueError: a body whose length is not its header's.
    """
    if len(body) < wire.MU_ACTIVITY_HDR_LEN:
        raise ValueError(f"R_MU_ACTIVITY of {len(body)} bytes: shorter than its header")
    first, n_samples, n_units, n = struct.unpack_from(wire.MU_ACTIVITY_HDR_FMT, body)
    if len(body) != wire.MU_ACTIVITY_HDR_LEN + n * wire.MU_DISCHARGE_LEN:
        raise ValueError(f"R_MU_ACTIVITY of {len(body)} bytes with {n} discharges")
    out = []
    for i in range(n):
        unit, off = struct.unpack_from(wire.MU_DISCHARGE_FMT, body, wire.MU_ACTIVITY_HDR_LEN + i * wire.MU_DISCHARGE_LEN)
        out.append((unit, (first + off) & wire.COUNTER_MASK))
    return Activity(first, n_samples, n_units, out)
