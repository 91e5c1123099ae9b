"""Host reference of the fixed-point EMG filters (garment.features.filters).

The same golden vectors (models/golden/filters.json) are checked on the device by
tests/firmware/mp/test_dsp.py.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from garment.features import filters as F
from garment.paths import firmware_lib, micropython_exe


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(F.golden_path().read_text())


def _state(case: dict, n_ch: int) -> F.FilterState:
    return F.make_state(
        n_ch, case["fs"], case["mains_hz"], hp=case["hp"], notch=case["notch"],
        hp_order=case["hp_order"], harmonic=case["harmonic"],
    )


def _input(golden: dict, fs: int) -> np.ndarray:
    return np.array(golden["inputs"][str(fs)], dtype=np.int32).reshape(golden["n_samples"], golden["n_ch"])


# ------------------------------------------------------------------ the shared table


def test_committed_table_is_what_the_generator_makes() -> None:
    assert F.table_path().read_text() == F.table_source(), "run: python -m garment.features.filters --write-table"
    assert F.main(["--check-table"]) == 0


def test_table_constants_match_the_reference() -> None:
    c = F.coeffs()
    assert (c.Q, c.SPLIT, c.V_MAX, c.V_MIN) == (F.Q, F.SPLIT, F.V_MAX, F.V_MIN)
    assert tuple(c.FS) == F.FS_TABLE and tuple(c.MAINS) == F.MAINS_TABLE
    for secs in list(c.HP.values()) + list(c.NOTCH.values()):
        for sec in secs:
            assert all(isinstance(v, int) for v in sec)
            assert sum(abs(v) for v in sec) <= 7 << 14  # the overflow argument's budget
            assert max(abs(v) for v in sec) <= 1 << 15


def test_highpass_zeros_are_exactly_at_dc() -> None:
    for secs in F.coeffs().HP.values():
        for b0, b1, b2, _, _ in secs:
            assert b1 == -2 * b0 and b2 == b0


def test_notch_zeros_are_on_the_unit_circle() -> None:
    for secs in F.coeffs().NOTCH.values():
        for b0, _, b2, _, _ in secs:
            assert b0 == b2


# ------------------------------------------------------- response of the quantised filters


@pytest.mark.parametrize("fs", F.FS_TABLE)
@pytest.mark.parametrize("order", F.HP_ORDERS)
def test_highpass_corner_near_20_hz(fs: int, order: int) -> None:
    secs = F.select_sections(fs, notch=False, hp_order=order)
    assert len(secs) == order // 2
    assert abs(F.highpass_corner(secs, fs) - 20.0) < 0.1
    h = np.abs(F.frequency_response(secs, fs, [0.0, 2.0, 100.0, fs / 2]))
    assert h[0] < 1e-9  # exact zero at DC
    assert 20 * np.log10(h[1]) < (-35 if order == 2 else -75)
    assert abs(20 * np.log10(h[2])) < 0.25  # passband
    assert abs(20 * np.log10(h[3])) < 0.01  # unit gain at Nyquist


@pytest.mark.parametrize("fs", F.FS_TABLE)
@pytest.mark.parametrize("mains", F.MAINS_TABLE)
def test_notch_depth_at_mains(fs: int, mains: int) -> None:
    f0, f1 = F.coeffs().NOTCH[(fs, mains)]
    for sec, f in ((f0, mains), (f1, 2 * mains)):
        depth = -20 * np.log10(abs(F.frequency_response([sec], fs, [f])[0]) + 1e-300)
        assert depth > 30, (fs, f, depth)
        # Narrow (Q = 30, bandwidth f/30): 10 % away the passband is untouched.
        near = [g for g in (0.9 * f, 1.1 * f) if g < fs / 2]
        side = np.abs(F.frequency_response([sec], fs, near))
        assert np.all(20 * np.log10(side) > -0.5), (fs, f, side)
        # Unit gain at DC within 0.1 %.
        assert abs(abs(F.frequency_response([sec], fs, [0.0])[0]) - 1) < 1e-3


@pytest.mark.parametrize("fs", [250, 2000])
@pytest.mark.parametrize("mains", F.MAINS_TABLE)
def test_integer_filter_removes_mains(fs: int, mains: int) -> None:
    # Measured on the integers themselves, not just on the coefficients.
    n = fs * 4
    t = np.arange(n) / fs
    x = np.stack([4_000_000 * np.sin(2 * np.pi * mains * t), 4_000_000 * np.sin(2 * np.pi * 2 * mains * t + 1)], 1)
    st = F.make_state(2, fs, mains, hp=False, notch=True, harmonic=True)
    y = F.filter_block(np.rint(x).astype(np.int32), st)
    tail = slice(n // 2, n)  # Q = 30 notch settles in ~Q/f0 s
    rms_in = np.sqrt(np.mean(x[tail].astype(float) ** 2, 0))
    rms_out = np.sqrt(np.mean(y[tail].astype(float) ** 2, 0))
    assert np.all(20 * np.log10(rms_in / np.maximum(rms_out, 1e-9)) > 30), rms_out


# ------------------------------------------------------------- precision of the integers


@pytest.mark.parametrize("fs", [250, 2000])
def test_integers_track_the_exact_rational_filter(fs: int) -> None:
    rng = np.random.default_rng(fs)
    n = 3000
    x = rng.normal(0, 400_000, (n, 4)) + 2_000_000 * np.sin(2 * np.pi * 50 * np.arange(n) / fs)[:, None] + 3e6
    x = np.clip(np.rint(x), -(1 << 23), (1 << 23) - 1).astype(np.int32)
    for cfg in ({}, {"hp": False, "harmonic": False}, {"notch": False}):
        st = F.make_state(4, fs, 50, **cfg)
        y = F.filter_block(x, st)
        ref = signal.sosfilt(F.sections_to_sos(F.select_sections(fs, 50, **cfg)), x.astype(float), axis=0)
        err = y - ref
        assert np.abs(err).max() < 3, cfg  # error feedback: no 1/A(z) noise gain
        assert abs(err[n // 2 :].mean()) < 0.05, cfg  # and no DC bias


def test_constant_input_decays_to_exactly_zero() -> None:
    st = F.make_state(2, 2000, 50)
    x = np.tile(np.array([[5_000_000, -(1 << 23)]], np.int32), (8000, 1))
    y = F.filter_block(x, st)
    assert np.all(y[-500:] == 0)


def test_prime_removes_dc_transient() -> None:
    st = F.make_state(2, 500, 60)
    x = np.tile(np.array([[4_000_000, -1_234_567]], np.int32), (100, 1))
    F.prime_state(st, x[0])
    assert np.all(F.filter_block(x, st) == 0)


def test_block_boundaries_do_not_matter() -> None:
    x = F.golden_input(1000)
    whole = F.filter_block(x, F.make_state(8, 1000, 60))
    st = F.make_state(8, 1000, 60)
    cuts = [0, 1, 8, 9, 100, 101, 200, 256]
    parts = [F.filter_block(x[a:b], st) for a, b in zip(cuts, cuts[1:])]
    assert np.array_equal(np.concatenate(parts), whole)


def test_32_bit_words_hold_for_worst_case_inputs() -> None:
    # The device's hi/lo split is re-run step by step (check_words) on signals built to
    # drive every section to its largest outputs: rail-to-rail square waves at each
    # section's own most-amplified frequency, bang-bang sign-matched inputs and int32 garbage.
    rng = np.random.default_rng(7)
    for fs in F.FS_TABLE:
        for mains in F.MAINS_TABLE:
            secs = F.select_sections(fs, mains)
            n = 400
            cols = []
            for j in range(len(secs)):
                sos = F.sections_to_sos(secs[: j + 1])  # the cascade up to section j
                w, h = signal.sosfreqz(sos, worN=2048, fs=fs)
                fpk = w[np.argmax(np.abs(h))]
                cols.append(np.where(np.sin(2 * np.pi * fpk * np.arange(n) / fs) >= 0, F.V_MAX, F.V_MIN))
                imp = signal.sosfilt(sos, np.r_[1.0, np.zeros(n - 1)])
                cols.append(np.where(imp[::-1] >= 0, F.V_MAX, F.V_MIN))
                cols.append(np.where(imp[::-1] >= 0, (1 << 23) - 1, -(1 << 23)))  # same, 24-bit
            cols.append(rng.integers(-(1 << 31), 1 << 31, n))
            cols.append(rng.choice([-(1 << 23), (1 << 23) - 1], n))
            x = np.stack(cols, 1).astype(np.int64).clip(-(1 << 31), (1 << 31) - 1).astype(np.int32)
            st = F.make_state(x.shape[1], fs, mains)
            y = F.filter_block(x, st, check_words=True)  # raises on any int32 overflow
            assert y.min() >= F.V_MIN and y.max() <= F.V_MAX
            # The worst 24-bit input stays below 2**25: saturation never bites in contract.
            assert np.abs(y[:, 2::3][:, : len(secs)]).max() < 1 << 25


# ------------------------------------------------------------------------ blanking


def test_blank_interpolates_and_handles_edges() -> None:
    x = np.array([[10, 1], [0, 2], [0, 3], [0, 4], [-7, 5]], dtype=np.int32)
    F.blank(x, 0b01, 1, 3)
    assert x[:, 0].tolist() == [10, 10 + (-17 * 1) // 4, 10 + (-17 * 2) // 4, 10 + (-17 * 3) // 4, -7]
    assert x[:, 1].tolist() == [1, 2, 3, 4, 5]
    x = np.array([[5], [6], [7], [8], [9], [10]], dtype=np.int32)
    assert F.blank(x.copy(), 1, 0, 2)[:, 0].tolist() == [7, 7, 7, 8, 9, 10]
    assert F.blank(x.copy(), 1, 4, 10)[:, 0].tolist() == [5, 6, 7, 8, 8, 8]
    assert F.blank(x.copy(), 1, -3, 100)[:, 0].tolist() == [0] * 6
    assert F.blank(x.copy(), 1, 3, 0)[:, 0].tolist() == [5, 6, 7, 8, 9, 10]
    st = F.make_state(1, 500, 50, hp=False, notch=False)
    F.filter_block(np.array([[1], [100]], np.int32), st)
    y = F.blank(np.array([[0], [0], [0], [200]], np.int32), 1, 0, 3, st)
    assert y[:, 0].tolist() == [125, 150, 175, 200]


# ------------------------------------------------------------------- golden vectors


def test_golden_file_is_what_the_generator_makes(golden: dict) -> None:
    assert F.golden_data() == golden, "run: python -m garment.features.filters --write-golden"


def test_golden_cases(golden: dict) -> None:
    n_ch = golden["n_ch"]
    assert len(golden["cases"]) == len(F.FS_TABLE) * len(F.MAINS_TABLE) + len(F.GOLDEN_VARIANTS)
    for case in golden["cases"]:
        x = _input(golden, case["fs"])
        want = np.array(case["output"], dtype=np.int64).reshape(-1, n_ch)
        assert np.array_equal(F.filter_block(x, _state(case, n_ch)), want), case["fs"]
        # and in uneven chunks
        st = _state(case, n_ch)
        cuts = [0, 1, 8, 72, 75, 175, 256]
        got = np.concatenate([F.filter_block(x[a:b], st) for a, b in zip(cuts, cuts[1:])])
        assert np.array_equal(got, want)


def test_golden_blank_then_filter(golden: dict) -> None:
    b = golden["blank"]
    n_ch, L = golden["n_ch"], b["block_len"]
    x = _input(golden, b["fs"])
    st = _state(b, n_ch)
    blanked, outs = [], []
    for bi in range(golden["n_samples"] // L):
        blk = x[bi * L : (bi + 1) * L].copy()
        for w_bi, mask, start, length in b["windows"]:
            if w_bi == bi:
                F.blank(blk, mask, start, length, st)
        blanked.append(blk.copy())
        outs.append(F.filter_block(blk, st))
    assert np.concatenate(blanked).reshape(-1).tolist() == b["blanked"]
    assert np.concatenate(outs).reshape(-1).tolist() == b["output"]


_MP_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[1])
from array import array
from garmentfw import dsp
n_ch, n, fs, mains = 8, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
with open(sys.argv[2], 'rb') as f:
    raw = f.read()
blk = array('i', raw)
fb = dsp.FilterBank(n_ch, fs, mains)
i = 0
step = 1
while i < n:
    m = min(step, n - i)
    part = array('i', blk[i * n_ch:(i + m) * n_ch])
    if i == 0:
        fb.prime(part)
    if i % 3 == 1:
        fb.blank(part, m, 0x5A, 1, 2)
    fb.process(part, m)
    for j in range(m * n_ch):
        blk[i * n_ch + j] = part[j]
    i += m
    step = step * 5 % 61 + 1
with open(sys.argv[2], 'wb') as f:
    f.write(blk)
"""


def test_device_matches_reference_on_random_blocks(tmp_path: Path) -> None:
    """Beyond the golden file: random 24-bit data, priming, uneven blocks, blanking, on the real firmware."""
    rng = np.random.default_rng(2024)
    n, fs, mains = 1500, 1000, 60
    x = (rng.normal(0, 1e6, (n, 8)) + rng.integers(-3_000_000, 3_000_000, 8)).clip(-(1 << 23), (1 << 23) - 1).astype("<i4")
    data = tmp_path / "blk.bin"
    data.write_bytes(x.tobytes())
    script = tmp_path / "run.py"
    script.write_text(_MP_SCRIPT)
    subprocess.run(
        [str(micropython_exe()), "-X", "heapsize=4m", str(script), str(firmware_lib()), str(data), str(n), str(fs), str(mains)],
        check=True, timeout=120, capture_output=True,
    )
    dev = np.frombuffer(data.read_bytes(), dtype="<i4").reshape(n, 8)
    st = F.make_state(8, fs, mains)
    ref = []
    i, step = 0, 1
    while i < n:
        m = min(step, n - i)
        part = x[i : i + m].copy()
        if i == 0:
            F.prime_state(st, part[0])
        if i % 3 == 1:
            F.blank(part, 0x5A, 1, 2, st)
        ref.append(F.filter_block(part, st))
        i += m
        step = step * 5 % 61 + 1
    assert np.array_equal(dev, np.concatenate(ref))
