"""Fixed-point EMG filters: coefficient design, the shared coefficient table and the
bit-exact numpy reference of the firmware's filters (``firmware/lib/garmentfw/dsp.py``).

The data path filters every EMG channel with a cascade of biquad sections:

* a Butterworth high-pass at 20 Hz (order 2 or 4: one or two sections), then
* a mains notch at 50 or 60 Hz (Q = 30) and, optionally, one at its 2nd harmonic.

Stimulation artefacts are blanked (linear interpolation, :func:`blank`) on the raw
samples *before* the filters, so that neither the high-pass nor the notch rings on them.

Coefficients are designed here with scipy, quantised to Q2.14 and written, as plain
Python ints, to the contract module ``garmentfw/filter_coeffs.py`` that the device and
this module both import (``python -m garment.features.filters --write-table``).

Integer rule of one section (the ONE definition, copied exactly by the device)::

    v        = clamp(x, V_MIN, V_MAX)               # only bites on out-of-contract input
    t        = b0*v + b1*x1 + b2*x2 + na1*y1 + na2*y2          # Q14 coefficients
             + ((na1*f1 + na2*f2) >> 14)             # error feedback (fractions of y1, y2)
             + 2**13                                 # round half up
    y        = t >> 14                               # floor
    f        = (t & (2**14 - 1)) - 2**13             # remainder, in [-2**13, 2**13)
    if y outside [V_MIN, V_MAX]: y = clamp(y); f = 0

``f`` is the part of the exact result that the integer output ``y`` dropped, in units of
2**-14 LSB; feeding it back through the same recursive coefficients makes the recursion
run as if ``y`` kept 14 fractional bits (error feedback with the quantised denominator
itself, i.e. "double-precision" feedback). Without it, the rounding noise of a 20 Hz
high-pass at 2 kHz would be amplified by 1/A(z) ~ 250x near DC, and that of the Q = 30
notch by ~60x around mains. ``>>`` is an arithmetic (floor) shift everywhere. The device
evaluates the same ``t`` with hi/lo split products so that no intermediate exceeds 32
bits (see ``dsp.py``); here int64 holds it directly and ``check_words=True`` recomputes
the device's split and asserts every 32-bit intermediate.

CLI::

    python -m garment.features.filters --write-table   # regenerate filter_coeffs.py
    python -m garment.features.filters --check-table   # exit 1 if it is stale
    python -m garment.features.filters --write-golden  # regenerate models/golden/filters.json
    python -m garment.features.filters --info          # quantised responses
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import numpy as np

from garment.contracts import load_contract
from garment.paths import firmware_lib, repo_root

# Design parameters (written into the table; the table is what both sides use).
FS_TABLE: tuple[int, ...] = (250, 500, 1000, 1024, 2000, 2048)  # 1024, 2048: the HD garment (wire.HD_FS)
MAINS_TABLE: tuple[int, ...] = (50, 60)
HP_ORDERS: tuple[int, ...] = (2, 4)
HP_FC_HZ: int = 20
NOTCH_Q: int = 30

# Arithmetic of the sections (also written into the table).
Q: int = 14  # coefficient fraction bits: Q2.14
SPLIT: int = 12  # width of the low part in the device's hi/lo split of a 27-bit word
V_MAX: int = (1 << 26) - 1  # saturation of inputs, states and outputs
V_MIN: int = -(1 << 26)
# Sum of |coefficients| of one section that the device's overflow argument allows.
COEF_ABS_SUM_MAX: int = 7 << Q

Section = tuple[int, int, int, int, int]  # (b0, b1, b2, na1, na2), Q2.14

TABLE_MODULE = "filter_coeffs"
GOLDEN_N = 256
GOLDEN_NCH = 8


# --------------------------------------------------------------------------- design


def design_highpass(fs: int, fc: float = HP_FC_HZ, order: int = 4) -> np.ndarray:
    """Float Butterworth high-pass as second-order sections (scipy ``sos``, a0 = 1).

    Sections are ordered by increasing pole Q and each is scaled to unit gain at
    Nyquist, so that b = b0 * [1, -2, 1] with b0 < 1 (what the overflow argument needs).
    """
    from scipy import signal

    if order not in HP_ORDERS:
        raise ValueError(f"high-pass order must be one of {HP_ORDERS}")
    sos = signal.butter(order, fc, btype="highpass", fs=fs, output="sos")
    out = []
    for sec in sos:
        a1, a2 = float(sec[4]), float(sec[5])
        b0 = (1.0 - a1 + a2) / 4.0
        out.append([b0, -2.0 * b0, b0, 1.0, a1, a2])
    # Increasing pole radius (a2 = r**2) is increasing Q for equal |pole|.
    out.sort(key=lambda s: s[5])
    return np.array(out)


def design_notch(fs: int, f0: float, q: float = NOTCH_Q) -> tuple[np.ndarray, np.ndarray]:
    """Float IIR notch (scipy ``iirnotch``): ``b = g [1, -2cos w0, 1]``, ``a = [1, -2g cos w0, 2g - 1]``."""
    from scipy import signal

    if not 0 < f0 < fs / 2:
        raise ValueError(f"notch frequency {f0} Hz is outside (0, fs/2) for fs={fs}")
    b, a = signal.iirnotch(f0, q, fs=fs)
    return np.asarray(b, float), np.asarray(a, float)


def _q(v: float) -> int:
    return int(np.floor(v * (1 << Q) + 0.5))


def quantise_highpass(sos: np.ndarray) -> list[Section]:
    """Q2.14 sections of :func:`design_highpass`.

    The denominator is rounded; ``b0`` is recomputed from the *rounded* denominator for
    unit gain at Nyquist, and ``b1 = -2 b0``, ``b2 = b0`` exactly, so the double zero
    stays exactly at DC (DC gain is exactly 0: a constant input decays to exactly 0).
    """
    out: list[Section] = []
    for sec in sos:
        na1 = _q(-float(sec[4]))
        na2 = _q(-float(sec[5]))
        b0 = ((1 << Q) + na1 - na2 + 2) // 4
        out.append(_checked((b0, -2 * b0, b0, na1, na2)))
    return out


def quantise_notch(fs: int, f0: float, q: float = NOTCH_Q, search: int = 24, gain_tol: float = 1e-3) -> Section:
    """Q2.14 notch section.

    The denominator is rounded. ``b0 = b2`` keeps the zeros exactly on the unit circle
    (infinite depth). Plain rounding of ``b1`` would put them up to ~0.06 Hz off ``f0``
    at 2 kHz, capping the depth at mains near 30 dB; so among the ``b0`` within
    ``search`` LSB of the ideal, with ``b1 = round(-2cos(w0) b0)`` and DC gain
    ``(2 b0 + b1) / (1 + a1 + a2)`` within ``gain_tol`` of 1, the pair whose ratio
    ``b1/b0`` is closest to ``-2cos(w0)`` is taken (zeros within ~0.001 Hz of ``f0``).
    """
    b, a = design_notch(fs, f0, q)
    na1 = _q(-a[1])
    na2 = _q(-a[2])
    den = (1 << Q) - na1 - na2
    c = -2.0 * np.cos(2 * np.pi * f0 / fs)
    ideal = _q(b[0])
    cands = []
    for b0 in range(ideal - search, ideal + search + 1):
        if b0 >= 1 << Q:
            continue
        b1 = _q(c * b0 / (1 << Q))
        cands.append((abs(b1 / b0 - c), abs((2 * b0 + b1) / den - 1), b0, b1))
    ok = [cd for cd in cands if cd[1] <= gain_tol]
    _, _, b0, b1 = min(ok) if ok else min(cands, key=lambda cd: cd[1])
    return _checked((b0, b1, b0, na1, na2))


def _checked(sec: Section) -> Section:
    b0, b1, b2, na1, na2 = sec
    if sum(abs(c) for c in sec) > COEF_ABS_SUM_MAX:
        raise ValueError(f"section {sec}: sum |c| exceeds the overflow budget {COEF_ABS_SUM_MAX}")
    if max(abs(c) for c in sec) > 1 << (Q + 1):
        raise ValueError(f"section {sec}: coefficient exceeds 2.0 in Q2.14")
    # Stability of the quantised denominator (Jury: |a2| < 1, |a1| < 1 + a2).
    a1, a2 = -na1, -na2
    if not (abs(a2) < 1 << Q and abs(a1) < (1 << Q) + a2):
        raise ValueError(f"section {sec}: unstable after quantisation")
    return (int(b0), int(b1), int(b2), int(na1), int(na2))


def build_table() -> dict[str, Any]:
    """All quantised sections: ``{"HP": {(fs, order): sections}, "NOTCH": {(fs, mains): (f0, 2 f0)}}``."""
    hp: dict[tuple[int, int], tuple[Section, ...]] = {}
    notch: dict[tuple[int, int], tuple[Section, Section]] = {}
    for fs in FS_TABLE:
        for order in HP_ORDERS:
            hp[(fs, order)] = tuple(quantise_highpass(design_highpass(fs, HP_FC_HZ, order)))
        for mains in MAINS_TABLE:
            notch[(fs, mains)] = (quantise_notch(fs, mains), quantise_notch(fs, 2 * mains))
    return {"HP": hp, "NOTCH": notch}


def table_source() -> str:
    """The text of ``garmentfw/filter_coeffs.py`` as the generator makes it."""
    t = build_table()
    lines = [
        "# GENERATED by `python -m garment.features.filters --write-table`: do not edit.",
        "# Fixed-point EMG filter coefficients: the ONE table shared by the firmware",
        "# (garmentfw.dsp) and the host reference (garment.features.filters). A host test",
        "# checks that this file is exactly what the generator makes.",
        "#",
        "# A section is (b0, b1, b2, na1, na2) in Q2.14 (value * 2**14, na = -a), run as",
        "#   t = b0*x + b1*x1 + b2*x2 + na1*y1 + na2*y2 + ((na1*f1 + na2*f2) >> 14) + 2**13",
        "#   y = t >> 14 ; f = (t & 0x3FFF) - 2**13   (f: error feedback, see dsp.py)",
        "# Every section has sum(|c|) <= 7 * 2**14, which the 32-bit overflow argument in",
        "# dsp.py relies on.",
        "try:",
        "    from micropython import const",
        "except ImportError:  # CPython (host side)",
        "    def const(x):  # type: ignore[no-redef]",
        "        return x",
        "",
        f"Q = const({Q})",
        f"SPLIT = const({SPLIT})",
        f"V_MAX = const({V_MAX})",
        f"V_MIN = const({V_MIN})",
        f"HP_FC_HZ = const({HP_FC_HZ})",
        f"NOTCH_Q = const({NOTCH_Q})",
        f"FS = {FS_TABLE!r}",
        f"MAINS = {MAINS_TABLE!r}",
        f"HP_ORDERS = {HP_ORDERS!r}",
        "",
        f"# Butterworth high-pass at {HP_FC_HZ} Hz, unit gain at Nyquist per section,",
        "# increasing pole Q: HP[(fs, order)] = (section, ...)",
        "HP = {",
    ]
    for key, secs in t["HP"].items():
        lines.append(f"    {key!r}: (")
        lines.extend(f"        {s!r}," for s in secs)
        lines.append("    ),")
    lines += [
        "}",
        "",
        f"# Mains notch, Q = {NOTCH_Q}: NOTCH[(fs, mains)] = (at mains, at 2 x mains)",
        "NOTCH = {",
    ]
    for key, secs in t["NOTCH"].items():
        lines.append(f"    {key!r}: (")
        lines.extend(f"        {s!r}," for s in secs)
        lines.append("    ),")
    lines += ["}", ""]
    return "\n".join(lines)


def table_path() -> Path:
    """Where the contract table lives in the firmware tree."""
    return firmware_lib() / "garmentfw" / f"{TABLE_MODULE}.py"


def write_table(path: Path | None = None) -> Path:
    """Regenerate the contract table file; returns its path."""
    path = path or table_path()
    path.write_text(table_source())
    return path


def coeffs() -> ModuleType:
    """The contract table module (``garmentfw/filter_coeffs.py``) as the device sees it."""
    return load_contract(TABLE_MODULE)


def select_sections(
    fs: int,
    mains_hz: int = 50,
    *,
    hp: bool = True,
    notch: bool = True,
    hp_order: int = 4,
    harmonic: bool = True,
) -> list[Section]:
    """The cascade for one configuration, in processing order (high-pass, then notches).

    Same selection rule as ``garmentfw.dsp.FilterBank``.
    """
    c = coeffs()
    if fs not in c.FS:
        raise ValueError(f"fs must be one of {c.FS}")
    if mains_hz not in c.MAINS:
        raise ValueError(f"mains_hz must be one of {c.MAINS}")
    if hp_order not in c.HP_ORDERS:
        raise ValueError(f"hp_order must be one of {c.HP_ORDERS}")
    secs: list[Section] = []
    if hp:
        secs.extend(c.HP[(fs, hp_order)])
    if notch:
        pair = c.NOTCH[(fs, mains_hz)]
        secs.append(pair[0])
        if harmonic:
            secs.append(pair[1])
    return [tuple(int(v) for v in s) for s in secs]  # type: ignore[misc]


def sections_to_sos(sections: Sequence[Section]) -> np.ndarray:
    """Float ``sos`` (scipy layout) of quantised sections: the exact rational filter the integers implement."""
    one = float(1 << Q)
    return np.array(
        [[b0 / one, b1 / one, b2 / one, 1.0, -na1 / one, -na2 / one] for b0, b1, b2, na1, na2 in sections]
    ).reshape(-1, 6)


def frequency_response(sections: Sequence[Section], fs: float, freqs: np.ndarray | Sequence[float]) -> np.ndarray:
    """Complex response of the quantised cascade at ``freqs`` (Hz)."""
    from scipy import signal

    f = np.atleast_1d(np.asarray(freqs, float))
    if not sections:
        return np.ones_like(f, dtype=complex)
    _, h = signal.sosfreqz(sections_to_sos(sections), worN=f, fs=fs)
    return h


def highpass_corner(sections: Sequence[Section], fs: float) -> float:
    """Frequency (Hz) where the quantised cascade's gain first reaches -3.0103 dB (half power)."""
    from scipy.optimize import brentq

    target = 1 / np.sqrt(2)

    def g(f: float) -> float:
        return float(abs(frequency_response(sections, fs, [f])[0])) - target

    return float(brentq(g, 1.0, min(60.0, fs / 2 * 0.9)))


# ------------------------------------------------------------------ bit-exact reference


@dataclass
class FilterState:
    """State of a bank of cascaded sections over ``n_ch`` channels (host mirror of ``FilterBank``).

    ``x1, x2, y1, y2, f1, f2`` have shape ``(n_sec, n_ch)``; ``last`` is the last raw
    (clamped) input per channel, the left anchor of a blanking window at sample 0.
    """

    fs: int
    mains_hz: int
    n_ch: int
    coef: np.ndarray
    x1: np.ndarray
    x2: np.ndarray
    y1: np.ndarray
    y2: np.ndarray
    f1: np.ndarray
    f2: np.ndarray
    last: np.ndarray
    have_last: bool = False
    hp: bool = False  # the cascade starts with the high-pass (what prime_state needs)

    @property
    def n_sec(self) -> int:
        """Number of biquad sections in the cascade."""
        return int(self.coef.shape[0])


def make_state(
    n_ch: int,
    fs: int,
    mains_hz: int = 50,
    *,
    hp: bool = True,
    notch: bool = True,
    hp_order: int = 4,
    harmonic: bool = True,
) -> FilterState:
    """Fresh (zero) state, as ``FilterBank(n_ch, fs, mains_hz, hp, notch, hp_order, harmonic)`` after construction."""
    secs = select_sections(fs, mains_hz, hp=hp, notch=notch, hp_order=hp_order, harmonic=harmonic)
    coef = np.array(secs, dtype=np.int64).reshape(-1, 5)
    z = lambda: np.zeros((coef.shape[0], n_ch), dtype=np.int64)  # noqa: E731
    return FilterState(fs, mains_hz, n_ch, coef, z(), z(), z(), z(), z(), z(), np.zeros(n_ch, np.int64), hp=hp)


def reset_state(state: FilterState) -> None:
    """Zero every state word (``FilterBank.reset``)."""
    for a in (state.x1, state.x2, state.y1, state.y2, state.f1, state.f2, state.last):
        a[...] = 0
    state.have_last = False


def prime_state(state: FilterState, x0: np.ndarray | Sequence[int]) -> None:
    """``FilterBank.prime``: reset, then, if the cascade starts with the high-pass, set its
    input history to ``x0`` (per channel) as if ``x0`` had been applied forever, so an
    electrode DC offset causes no start-up transient (exact: the high-pass DC gain is 0).
    """
    reset_state(state)
    if state.hp and state.n_sec:
        v = np.clip(np.asarray(x0, dtype=np.int64).reshape(state.n_ch), V_MIN, V_MAX)
        state.x1[0] = v
        state.x2[0] = v


def filter_block(x: np.ndarray, state: FilterState, check_words: bool = False) -> np.ndarray:
    """Filter ``x`` (``(n_samples, n_ch)`` ints) through the cascade; returns int32, updates ``state``.

    Bit-exact with ``FilterBank.process`` on the same blocks in the same order (blocks
    may be cut anywhere: the result does not depend on the block boundaries). The
    feed-forward part is vectorised with numpy; the recursion is a plain-int loop per
    channel (~0.4 us per sample, channel and section). With ``check_words`` each step is
    recomputed with the device's hi/lo split, asserting that every intermediate fits a
    signed 32-bit word and that the split gives the same integers.
    """
    a = np.asarray(x)
    if a.ndim != 2 or a.shape[1] != state.n_ch:
        raise ValueError(f"expected shape (n, {state.n_ch}), got {a.shape}")
    v = np.clip(a.astype(np.int64), V_MIN, V_MAX)
    n = v.shape[0]
    if n == 0:
        return v.astype(np.int32)
    state.last[:] = v[-1]
    state.have_last = True
    for k in range(state.n_sec):
        b0, b1, b2, na1, na2 = (int(q) for q in state.coef[k])
        c: Section = (b0, b1, b2, na1, na2)
        # The feed-forward part does not depend on the recursion: vectorise it over time.
        ext = np.concatenate([state.x2[k][None], state.x1[k][None], v])
        fir = b0 * ext[2:] + b1 * ext[1:-1] + b2 * ext[:-2]
        out = np.empty_like(v)
        for ch in range(state.n_ch):
            st = [int(state.y1[k, ch]), int(state.y2[k, ch]), int(state.f1[k, ch]), int(state.f2[k, ch])]
            if check_words:
                col = _recurse_checked(ext[:, ch].tolist(), c, st)
            else:
                col = _recurse(fir[:, ch].tolist(), na1, na2, st)
            out[:, ch] = col
            state.y1[k, ch], state.y2[k, ch], state.f1[k, ch], state.f2[k, ch] = st
        state.x2[k] = ext[-2]
        state.x1[k] = ext[-1]
        v = out
    return v.astype(np.int32)


def _recurse(fir: list[int], na1: int, na2: int, st: list[int]) -> list[int]:
    """The recursive part of one section on one channel; ``st = [y1, y2, f1, f2]`` is updated."""
    y1, y2, f1, f2 = st
    vmax, vmin = V_MAX, V_MIN
    out = [0] * len(fir)
    for i, t in enumerate(fir):
        t += na1 * y1 + na2 * y2 + ((na1 * f1 + na2 * f2) >> 14) + 8192
        y = t >> 14
        f = (t & 16383) - 8192
        if y > vmax:
            y = vmax
            f = 0
        elif y < vmin:
            y = vmin
            f = 0
        out[i] = y
        y2 = y1
        y1 = y
        f2 = f1
        f1 = f
    st[:] = [y1, y2, f1, f2]
    return out


_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


def _fits(*vals: int) -> None:
    for val in vals:
        if not _I32_MIN <= val <= _I32_MAX:
            raise OverflowError(f"intermediate {val} outside int32")


def _recurse_checked(ext: list[int], c: Section, st: list[int]) -> list[int]:
    """One section on one channel computed exactly as ``dsp._run`` does (hi/lo split),
    asserting every intermediate fits int32 and the result equals the 64-bit form.
    ``ext`` is ``[x2, x1, x0, x1', ...]`` (history then input)."""
    b0, b1, b2, na1, na2 = c
    y1, y2, f1, f2 = st
    lo_mask = (1 << SPLIT) - 1
    out = [0] * (len(ext) - 2)
    for i in range(len(ext) - 2):
        x2, x1, x0 = ext[i], ext[i + 1], ext[i + 2]
        for w in (x0, x1, x2, y1, y2):
            if not V_MIN <= w <= V_MAX:
                raise OverflowError(f"word {w} outside [V_MIN, V_MAX]")
        hi = lo = 0
        for coef, w in ((b0, x0), (b1, x1), (b2, x2), (na1, y1), (na2, y2)):
            ph, pl = coef * (w >> SPLIT), coef * (w & lo_mask)
            hi += ph
            lo += pl
            _fits(ph, pl, hi, lo)
        p1, p2 = na1 * f1, na2 * f2
        _fits(p1, p2, p1 + p2)
        lo += (p1 + p2) >> Q
        _fits(lo)
        lo += 1 << (Q - 1)
        _fits(lo)
        s = hi + (lo >> SPLIT)
        _fits(s)
        y = s >> (Q - SPLIT)
        f = (((s & ((1 << (Q - SPLIT)) - 1)) << SPLIT) | (lo & lo_mask)) - (1 << (Q - 1))
        # The 64-bit form of the reference must agree.
        t = b0 * x0 + b1 * x1 + b2 * x2 + na1 * y1 + na2 * y2 + ((na1 * f1 + na2 * f2) >> Q) + (1 << (Q - 1))
        if (t >> Q, (t & ((1 << Q) - 1)) - (1 << (Q - 1))) != (y, f):
            raise AssertionError("hi/lo split disagrees with the 64-bit form")
        if y > V_MAX or y < V_MIN:
            y = min(max(y, V_MIN), V_MAX)
            f = 0
        out[i] = y
        y2, y1, f2, f1 = y1, y, f1, f
    st[:] = [y1, y2, f1, f2]
    return out


def blank(
    x: np.ndarray,
    ch_mask: int,
    start: int,
    length: int,
    state: FilterState | None = None,
) -> np.ndarray:
    """Replace samples ``[start, start+length)`` of the channels in ``ch_mask`` (bit i =
    channel i) by a line between the samples at ``start-1`` and ``start+length``, in place.

    Sample ``k`` of the window (0-based) becomes ``a + floor((b - a) (k+1) / (length+1))``
    with ``a``, ``b`` the clamped anchors. The window is clipped to the block. Without a
    left anchor (``start == 0``) the previous block's last input is used (``state``),
    else the right anchor is held; without a right anchor the left one is held; without
    either the window is set to 0. ``FilterBank.blank`` does exactly this.
    """
    if x.ndim != 2:
        raise ValueError("x must be (n_samples, n_ch)")
    n, n_ch = x.shape
    s = max(int(start), 0)
    e = min(int(start) + int(length), n)
    if e <= s:
        return x
    for ch in range(n_ch):
        if not (ch_mask >> ch) & 1:
            continue
        has_a = s > 0 or (state is not None and state.have_last)
        a = int(x[s - 1, ch]) if s > 0 else (int(state.last[ch]) if has_a and state is not None else 0)
        has_b = e < n
        b = int(x[e, ch]) if has_b else 0
        a = min(max(a, V_MIN), V_MAX)
        b = min(max(b, V_MIN), V_MAX)
        if not has_a:
            a = b
        if not has_b:
            b = a
        m = e - s + 1
        k = np.arange(1, m, dtype=np.int64)
        x[s:e, ch] = a + ((b - a) * k) // m
    return x


# ------------------------------------------------------------------------ golden data


def _lcg(seed: int):
    state = seed & 0xFFFFFFFF

    def nxt() -> int:
        nonlocal state
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        return state

    return nxt


def golden_input(fs: int, n: int = GOLDEN_N) -> np.ndarray:
    """Deterministic ``(n, 8)`` int32 test input at ``fs``: mains at 50 and 60 Hz (+ 2nd
    harmonic), DC offsets, full-scale steps, rail values, EMG-like noise bursts, spikes
    and a channel of out-of-contract int32 extremes."""
    rnd = _lcg(fs)
    t = np.arange(n) / fs
    noise = np.array([(rnd() >> 8) - (1 << 23) for _ in range(n * 8)], dtype=np.int64).reshape(n, 8)
    x = np.zeros((n, 8), dtype=np.float64)
    x[:, 0] = 1_500_000 + 400_000 * np.sin(2 * np.pi * 50 * t + 0.3) + noise[:, 0] / 400
    x[:, 1] = -2_000_000 + 400_000 * np.sin(2 * np.pi * 60 * t) + 100_000 * np.sin(2 * np.pi * 120 * t + 1) + noise[:, 1] / 400
    sq = np.where((np.arange(n) // 64) % 2 == 0, (1 << 23) - 1, -(1 << 23))
    x[:, 2] = sq
    step = np.where((np.arange(n) >= n * 2 // 5) & (np.arange(n) < n * 4 // 5), 3_000_000, 0)
    x[:, 3] = step + 50_000 * np.sin(2 * np.pi * 50 * t) + noise[:, 3] / 200
    x[:, 4] = 0
    x[:, 5] = (1 << 23) - 1
    burst = 0.5 - 0.5 * np.cos(2 * np.pi * 3 * t)
    x[:, 6] = burst * noise[:, 6] / 40 + 100_000 * np.sin(2 * np.pi * 20 * t) + 30_000 * np.sin(2 * np.pi * 60 * t)
    x[:, 7] = noise[:, 7] / 1000
    x[n // 8 :: n // 4, 7] = (1 << 23) - 1
    x[n // 8 + 1 :: n // 4, 7] = -(1 << 23)
    out = np.clip(np.rint(x), -(1 << 23), (1 << 23) - 1).astype(np.int64)
    # Out-of-contract words (not 24-bit): the device must clamp, not wrap.
    out[n // 3, 7] = -(1 << 31)
    out[n // 3 + 1, 7] = (1 << 31) - 1
    out[n // 2, 7] = 1 << 27
    out[n // 2 + 5, 7] = -(1 << 28)
    return out.astype(np.int32)


GOLDEN_VARIANTS: list[dict[str, Any]] = [
    {"fs": 1000, "mains_hz": 50, "hp": True, "notch": False, "hp_order": 2, "harmonic": False},
    {"fs": 1000, "mains_hz": 50, "hp": False, "notch": True, "hp_order": 4, "harmonic": False},
    {"fs": 500, "mains_hz": 60, "hp": True, "notch": True, "hp_order": 2, "harmonic": False},
]
GOLDEN_BLANK_BLOCK = 64
# (block index, ch_mask, start, length): inside, at the block start, at the block end.
GOLDEN_BLANKS: list[tuple[int, int, int, int]] = [
    (0, 0b11111111, 10, 6),
    (1, 0b10100101, 0, 4),
    (1, 0b01011010, 60, 8),
    (2, 0b11000011, 30, 1),
    (3, 0b00111100, 20, 25),
]


def _config(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("hp", "notch", "hp_order", "harmonic")}


def golden_data() -> dict[str, Any]:
    """Inputs and expected integer outputs shared by the host and firmware tests."""
    inputs = {str(fs): golden_input(fs) for fs in FS_TABLE}
    cases = []
    full: dict[str, Any] = {"hp": True, "notch": True, "hp_order": 4, "harmonic": True}
    configs = [dict(fs=fs, mains_hz=m, **full) for fs in FS_TABLE for m in MAINS_TABLE] + GOLDEN_VARIANTS
    for cfg in configs:
        st = make_state(GOLDEN_NCH, cfg["fs"], cfg["mains_hz"], **_config(cfg))
        y = filter_block(inputs[str(cfg["fs"])], st, check_words=True)
        cases.append({**cfg, "output": y.reshape(-1).tolist()})
    # Blanking then filtering, block by block (blank before the filters, anchors across blocks).
    fs, mains = 2000, 50
    st = make_state(GOLDEN_NCH, fs, mains, **full)
    x = inputs[str(fs)].copy()
    blanked = []
    outs = []
    B = GOLDEN_BLANK_BLOCK
    for bi in range(GOLDEN_N // B):
        blk = x[bi * B : (bi + 1) * B].copy()
        for b_i, mask, start, length in GOLDEN_BLANKS:
            if b_i == bi:
                blank(blk, mask, start, length, st)
        blanked.append(blk.copy())
        outs.append(filter_block(blk, st, check_words=True))
    return {
        "description": (
            "Fixed-point EMG filters (garmentfw.dsp / garment.features.filters): interleaved "
            "int32 input (n_samples x n_ch, row-major) per fs and expected outputs per "
            "configuration, the whole input as one block from a fresh FilterBank. 'blank': "
            "blocks of block_len samples, each blanked with the listed (block, ch_mask, start, "
            "length) windows then filtered."
        ),
        "n_samples": GOLDEN_N,
        "n_ch": GOLDEN_NCH,
        "inputs": {k: v.reshape(-1).tolist() for k, v in inputs.items()},
        "cases": cases,
        "blank": {
            "fs": fs,
            "mains_hz": mains,
            **full,
            "block_len": B,
            "windows": [list(w) for w in GOLDEN_BLANKS],
            "blanked": np.concatenate(blanked).reshape(-1).tolist(),
            "output": np.concatenate(outs).reshape(-1).tolist(),
        },
    }


def golden_path() -> Path:
    """``models/golden/filters.json`` in the source checkout."""
    root = repo_root()
    if root is None:
        raise FileNotFoundError("golden vectors live in the source checkout (models/golden)")
    return root / "models" / "golden" / "filters.json"


def write_golden(path: Path | None = None) -> Path:
    """Regenerate the golden vectors file; returns its path."""
    path = path or golden_path()
    d = golden_data()
    # One case per line keeps the file diffable without being huge.
    parts = ["{"]
    items = list(d.items())
    for i, (k, v) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        if k == "cases":
            parts.append(' "cases": [')
            parts.append(",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in v))
            parts.append(" ]" + sep)
        elif k == "inputs":
            parts.append(' "inputs": {')
            parts.append(",\n".join(f"  {json.dumps(fs)}: {json.dumps(arr, separators=(',', ':'))}" for fs, arr in v.items()))
            parts.append(" }" + sep)
        else:
            parts.append(f" {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}{sep}")
    parts.append("}")
    path.write_text("\n".join(parts) + "\n")
    return path


# -------------------------------------------------------------------------------- CLI


def describe() -> str:
    """Human-readable summary of the quantised filters (corner, notch depth)."""
    lines = []
    for fs in FS_TABLE:
        for order in HP_ORDERS:
            secs = select_sections(fs, hp_order=order, notch=False)
            lines.append(f"fs={fs:5d} HP order {order}: -3 dB at {highpass_corner(secs, fs):7.3f} Hz")
        for m in MAINS_TABLE:
            f0, f1 = coeffs().NOTCH[(fs, m)]
            d0 = -20 * np.log10(abs(frequency_response([f0], fs, [m])[0]) + 1e-300)
            d1 = -20 * np.log10(abs(frequency_response([f1], fs, [2 * m])[0]) + 1e-300)
            lines.append(f"fs={fs:5d} notch {m} Hz: depth {d0:6.1f} dB, 2nd harmonic {d1:6.1f} dB")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: regenerate/check the coefficient table and golden vectors."""
    p = argparse.ArgumentParser(prog="python -m garment.features.filters", description=__doc__.split("\n")[0])
    p.add_argument("--write-table", action="store_true", help="regenerate garmentfw/filter_coeffs.py")
    p.add_argument("--check-table", action="store_true", help="exit 1 if filter_coeffs.py is stale")
    p.add_argument("--write-golden", action="store_true", help="regenerate models/golden/filters.json")
    p.add_argument("--info", action="store_true", help="print the quantised filters' corner and notch depth")
    args = p.parse_args(argv)
    if not (args.write_table or args.check_table or args.write_golden or args.info):
        p.print_help()
        return 2
    if args.write_table:
        print(f"wrote {write_table()}")
    if args.check_table:
        if table_path().read_text() != table_source():
            print(f"{table_path()} is stale: run --write-table", file=sys.stderr)
            return 1
        print("table up to date")
    if args.write_golden:
        print(f"wrote {write_golden()}")
    if args.info:
        print(describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
