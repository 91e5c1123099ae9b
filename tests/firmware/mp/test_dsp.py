# Firmware unit tests of garmentfw.dsp (run on the MicroPython unix port).
# Golden vectors: models/golden/filters.json, also checked by tests/host/test_filters.py.
import gc
import json
from array import array

from garmentfw import dsp
from garmentfw import filter_coeffs as fc

_GOLDEN = None


def _golden():
    global _GOLDEN
    if _GOLDEN is None:
        with open("../../../models/golden/filters.json") as f:
            _GOLDEN = json.load(f)
    return _GOLDEN


def _bank(case, n_ch):
    return dsp.FilterBank(
        n_ch, case["fs"], case["mains_hz"], hp=case["hp"], notch=case["notch"],
        hp_order=case["hp_order"], harmonic=case["harmonic"],
    )


def _first_diff(got, want):
    for i in range(len(want)):
        if got[i] != want[i]:
            return "at %d: got %d want %d" % (i, got[i], want[i])
    return "lengths %d vs %d" % (len(got), len(want))


def test_golden_cases_whole_block():
    g = _golden()
    n, n_ch = g["n_samples"], g["n_ch"]
    for case in g["cases"]:
        fb = _bank(case, n_ch)
        blk = array("i", g["inputs"][str(case["fs"])])
        fb.process(blk, n)
        got = list(blk)
        assert got == case["output"], (case["fs"], case["mains_hz"], _first_diff(got, case["output"]))


def test_golden_cases_in_chunks():
    # Block boundaries must not change a single integer.
    g = _golden()
    n, n_ch = g["n_samples"], g["n_ch"]
    sizes = (1, 7, 64, 3, 100, 1000)
    for case in g["cases"]:
        fb = _bank(case, n_ch)
        inp = g["inputs"][str(case["fs"])]
        out = []
        i = 0
        j = 0
        while i < n:
            m = min(sizes[j % len(sizes)], n - i)
            blk = array("i", inp[i * n_ch:(i + m) * n_ch])
            fb.process(blk, m)
            out.extend(blk)
            i += m
            j += 1
        assert out == case["output"], (case["fs"], case["mains_hz"], _first_diff(out, case["output"]))


def test_golden_blank_then_filter():
    g = _golden()
    n, n_ch = g["n_samples"], g["n_ch"]
    b = g["blank"]
    fb = _bank(b, n_ch)
    inp = g["inputs"][str(b["fs"])]
    L = b["block_len"]
    blanked = []
    out = []
    for bi in range(n // L):
        blk = array("i", inp[bi * L * n_ch:(bi + 1) * L * n_ch])
        for w in b["windows"]:
            if w[0] == bi:
                fb.blank(blk, L, w[1], w[2], w[3])
        blanked.extend(blk)
        fb.process(blk, L)
        out.extend(blk)
    assert blanked == b["blanked"], _first_diff(blanked, b["blanked"])
    assert out == b["output"], _first_diff(out, b["output"])


def test_process_allocates_nothing():
    n_ch, n = 8, 64
    inp = _golden()["inputs"]["2000"]
    for kw in ({}, {"hp_order": 2, "harmonic": False}, {"hp": False, "notch": False}):
        fb = dsp.FilterBank(n_ch, 2000, 50, **kw)
        blk = array("i", inp[:n * n_ch])
        fb.process(blk, n)  # warm up
        gc.collect()
        a = gc.mem_alloc()
        fb.process(blk, n)
        fb.process(blk, n)
        assert gc.mem_alloc() - a == 0, kw


def test_blank_reset_prime_allocate_nothing():
    n_ch, n = 8, 64
    fb = dsp.FilterBank(n_ch, 1000, 60)
    blk = array("i", _golden()["inputs"]["1000"][:n * n_ch])
    fb.process(blk, n)
    gc.collect()
    a = gc.mem_alloc()
    fb.blank(blk, n, 0xFF, 10, 5)
    fb.blank(blk, n, 0x0F, 0, 3)
    fb.blank(blk, n, 0xF0, 60, 10)
    dsp.blank(blk, n, n_ch, 0x55, 5, 20)
    fb.reset()
    fb.prime(blk)
    assert gc.mem_alloc() - a == 0


def _interp(a, b, length):
    return [a + ((b - a) * (k + 1)) // (length + 1) for k in range(length)]


def test_blank_interpolates_between_anchors():
    n_ch, n = 3, 20
    blk = array("i", [0] * (n * n_ch))
    for i in range(n):
        blk[i * n_ch] = 1000 + 7 * i
        blk[i * n_ch + 1] = -3 * i * i
        blk[i * n_ch + 2] = 99
    before = list(blk)
    dsp.blank(blk, n, n_ch, 0b011, 5, 6)
    for ch in (0, 1):
        a, b = before[4 * n_ch + ch], before[11 * n_ch + ch]
        got = [blk[i * n_ch + ch] for i in range(5, 11)]
        assert got == _interp(a, b, 6), (ch, got)
        # Outside the window nothing changed.
        for i in list(range(5)) + list(range(11, n)):
            assert blk[i * n_ch + ch] == before[i * n_ch + ch]
    assert [blk[i * n_ch + 2] for i in range(n)] == [99] * n
    # Negative slope, rounding towards -inf like the host's floor division.
    blk2 = array("i", [10, 0, 0, 0, -7])
    dsp.blank(blk2, 5, 1, 1, 1, 3)
    assert list(blk2) == [10] + _interp(10, -7, 3) + [-7]


def test_blank_edges():
    n_ch, n = 1, 6
    blk = array("i", [5, 6, 7, 8, 9, 10])
    dsp.blank(blk, n, n_ch, 1, 0, 2)  # no left anchor: hold the right one
    assert list(blk) == [7, 7, 7, 8, 9, 10]
    blk = array("i", [5, 6, 7, 8, 9, 10])
    dsp.blank(blk, n, n_ch, 1, 4, 10)  # runs past the end: hold the left one
    assert list(blk) == [5, 6, 7, 8, 8, 8]
    blk = array("i", [5, 6, 7, 8, 9, 10])
    dsp.blank(blk, n, n_ch, 1, -3, 100)  # no anchor at all: zero
    assert list(blk) == [0] * 6
    blk = array("i", [5, 6, 7, 8, 9, 10])
    dsp.blank(blk, n, n_ch, 1, 3, 0)
    dsp.blank(blk, n, n_ch, 0, 1, 3)
    dsp.blank(blk, n, n_ch, 1, 6, 3)
    assert list(blk) == [5, 6, 7, 8, 9, 10]
    # Near-rail anchors: no overflow in the interpolation.
    blk = array("i", [(1 << 23) - 1, 0, 0, 0, 0, -(1 << 23)])
    dsp.blank(blk, n, n_ch, 1, 1, 4)
    assert list(blk) == [(1 << 23) - 1] + _interp((1 << 23) - 1, -(1 << 23), 4) + [-(1 << 23)]


def test_filterbank_blank_uses_previous_block():
    fb = dsp.FilterBank(1, 500, 50, hp=False, notch=False)  # identity: easy to follow
    blk = array("i", [1, 2, 3, 100])
    fb.process(blk, 4)
    assert list(blk) == [1, 2, 3, 100]
    nxt = array("i", [0, 0, 0, 200])
    fb.blank(nxt, 4, 1, 0, 3)
    assert list(nxt) == _interp(100, 200, 3) + [200]
    fb.reset()
    nxt = array("i", [0, 0, 0, 200])
    fb.blank(nxt, 4, 1, 0, 3)  # after reset no previous block: hold the right anchor
    assert list(nxt) == [200, 200, 200, 200]


def test_constant_input_decays_to_exactly_zero():
    n_ch, n = 2, 500
    fb = dsp.FilterBank(n_ch, 250, 50)
    blk = array("i", [3000000, -(1 << 23)] * n)
    for _ in range(4):
        fb.process(blk, n)
        for i in range(n * n_ch):
            blk[i] = 3000000 if i % 2 == 0 else -(1 << 23)
    fb.process(blk, n)
    assert [blk[i] for i in range(len(blk) - 40, len(blk))] == [0] * 40


def test_prime_removes_dc_transient():
    n_ch, n = 2, 100
    fb = dsp.FilterBank(n_ch, 2000, 60)
    blk = array("i", [4000000, -1234567] * n)
    fb.prime(blk)
    fb.process(blk, n)
    assert list(blk) == [0] * (n * n_ch)
    # Without priming the same block rings.
    fb.reset()
    blk = array("i", [4000000, -1234567] * n)
    fb.process(blk, n)
    assert blk[0] != 0


def test_outputs_saturate_not_wrap():
    n_ch, n = 1, 50
    fb = dsp.FilterBank(n_ch, 1000, 50)
    blk = array("i", [-(1 << 31), (1 << 31) - 1] * (n // 2))
    fb.process(blk, n)
    for v in blk:
        assert fc.V_MIN <= v <= fc.V_MAX


def test_bad_configuration_is_refused():
    for args in ((8, 1234, 50), (8, 1000, 55), (0, 1000, 50)):
        try:
            dsp.FilterBank(*args)
        except ValueError:
            continue
        raise AssertionError(args)
    try:
        dsp.FilterBank(8, 1000, 50, hp_order=3)
    except ValueError:
        pass
    else:
        raise AssertionError("hp_order")
    fb = dsp.FilterBank(2, 1000, 50)
    try:
        fb.process(array("i", [0] * 3), 2)
    except ValueError:
        pass
    else:
        raise AssertionError("short block")


def test_configurations_select_sections():
    assert dsp.FilterBank(1, 1000, 50).n_sec == 4
    assert dsp.FilterBank(1, 1000, 50, hp_order=2, harmonic=False).n_sec == 2
    assert dsp.FilterBank(1, 1000, 50, hp=False).n_sec == 2
    assert dsp.FilterBank(1, 1000, 50, notch=False).n_sec == 2
    assert dsp.FilterBank(1, 1000, 50, hp=False, notch=False).n_sec == 0
