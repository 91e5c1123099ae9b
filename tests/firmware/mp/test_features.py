# Firmware feature extraction (garmentfw.features) on the MicroPython unix port:
# golden vectors (shared with tests/host/test_features.py) fed in irregular blocks,
# the spec's definitions computed naively, extremes, errors and zero allocation.
import gc
import json
from array import array

from garmentfw import feature_spec as spec
from garmentfw.features import FeatureExtractor


def _golden():
    with open("../../../models/golden/features.json") as f:
        return json.load(f)


def _feed(fx, x, n, nch, sizes):
    # Push n samples of interleaved x in blocks whose sizes cycle through `sizes`
    # (a list, or a seed for pseudo-random sizes 1..fx.max_block). Returns (ends, rows).
    blk = array("i", bytes(4 * fx.max_block * nch))
    ends = []
    rows = []
    off = 0
    i = 0
    seed = sizes if isinstance(sizes, int) else 0
    while off < n:
        if isinstance(sizes, int):
            seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
            m = 1 + (seed >> 8) % fx.max_block
        else:
            m = sizes[i % len(sizes)]
            i += 1
        if m > n - off:
            m = n - off
        for j in range(m * nch):
            blk[j] = x[off * nch + j]
        k = fx.push(blk, m)
        assert k == fx.count
        for j in range(k):
            ends.append(fx.ends[j])
            rows.append(list(fx.out[j * fx.width:(j + 1) * fx.width]))
        off += m
    return ends, rows


def _golden_input(g, nch):
    n = g["n"]
    src = g["x"]
    gch = g["n_ch"]
    x = array("i", bytes(4 * n * nch))
    for t in range(n):
        for c in range(nch):
            x[t * nch + c] = src[t * gch + c]
    return x, n


def test_golden_irregular_blocks():
    g = _golden()
    assert g["spec_version"] == spec.SPEC_VERSION
    for case in g["cases"]:
        fx = FeatureExtractor.from_dict(case["config"])
        x, n = _golden_input(g, fx.n_ch)
        for seed in (1, 99):
            ends, rows = _feed(fx, x, n, fx.n_ch, seed)
            assert ends == case["ends"], case["name"]
            assert rows == case["features"], case["name"]
            fx.reset()


def test_golden_fixed_block_sizes():
    g = _golden()
    for case in g["cases"]:
        cfg = case["config"]
        for sizes in ([1], [64], [cfg["increment"]], [63, 2, 17, 5], [200, 1]):
            fx = FeatureExtractor.from_dict(cfg, max_block=max(sizes))
            x, n = _golden_input(g, fx.n_ch)
            ends, rows = _feed(fx, x, n, fx.n_ch, sizes)
            assert ends == case["ends"] and rows == case["features"], (case["name"], sizes)


def _naive_ar(v):
    # AR1..AR4 by the spec's text (MicroPython ints are unbounded: no limbs here).
    one = 1 << spec.AR_Q
    r = []
    for k in range(spec.AR_ORDER + 1):
        r.append(sum(v[n] * v[n - k] for n in range(k, len(v))))
    if r[0] == 0:
        return [0, 0, 0, 0]
    b = 0
    while (r[0] >> b) > 0:
        b += 1
    sh = b - spec.AR_NORM_BITS if b > spec.AR_NORM_BITS else 0
    r = [q >> sh for q in r]
    rho = []
    for q in r[1:]:
        m = min(abs(q) * one // r[0], one)
        rho.append(-m if q < 0 else m)
    e = one
    a = [0, 0, 0, 0]
    for m in range(1, 5):
        acc = rho[m - 1]
        for i in range(1, m):
            acc += (a[i - 1] * rho[m - i - 1] + one // 2) >> spec.AR_Q
        k = 0
        if acc != 0:
            k = one - 1 if abs(acc) >= e else abs(acc) * one // e
            if acc > 0:
                k = -k
        old = list(a)
        for i in range(1, m):
            a[i - 1] = old[i - 1] + ((k * old[m - i - 1] + one // 2) >> spec.AR_Q)
        a[m - 1] = k
        e -= (e * ((k * k + one // 2) >> spec.AR_Q) + one // 2) >> spec.AR_Q
    return a


def _isqrt(v):
    # floor(sqrt(v)) of a non-negative int (Newton from above)
    if v < 2:
        return v
    r = 1 << ((len(bin(v)) - 2 + 1) // 2)
    while True:
        q = (r + v // r) // 2
        if q >= r:
            return r
        r = q


def _naive_cr(u, v):
    # CRk of channels c (u) and d (v) by the spec's text.
    a = sum(p * p for p in u)
    b = sum(q * q for q in v)
    sxy = sum(u[i] * v[i] for i in range(len(u)))
    if a == 0 or b == 0:
        return 0
    shs = []
    roots = []
    for val in (a, b):
        sh = len(bin(val)) - 2 - 29
        sh -= sh & 1
        vp = val >> sh if sh >= 0 else val << -sh
        shs.append(sh)
        roots.append(_isqrt(vp))
    den = (roots[0] * roots[1]) >> 14
    t = (shs[0] + shs[1]) // 2
    m = abs(sxy) >> t if t >= 0 else abs(sxy) << -t
    r = min(m // den, 1 << spec.CR_Q)
    return -r if sxy < 0 else r


def _naive(xs, w, inc, zt, st, names):
    # The spec's definitions, literally (xs: per-channel lists of saturated samples).
    rows = []
    e = w - 1
    n = len(xs[0])
    while e < n:
        s = e - w + 1
        row = []
        for c in range(len(xs)):
            v = xs[c][s:e + 1]
            vals = {}
            vals["MAV"] = sum(abs(a) for a in v) // w
            vals["WL"] = sum(abs(v[i] - v[i - 1]) for i in range(1, w)) // (w - 1)
            vals["ZC"] = sum(1 for i in range(1, w) if v[i - 1] * v[i] < 0 and abs(v[i] - v[i - 1]) >= zt)
            vals["SSC"] = sum(1 for m in range(1, w - 1) if (v[m] - v[m - 1]) * (v[m] - v[m + 1]) > 0
                              and (abs(v[m] - v[m - 1]) >= st or abs(v[m] - v[m + 1]) >= st))
            ms = sum(a * a for a in v) // w
            r = 0
            while (r + 1) * (r + 1) <= ms:  # tiny values only
                r += 1
            vals["RMS"] = r
            for name, lag in (("M2", 1), ("M4", 2)):
                if name in names:
                    tot = 0
                    for i in range(lag, w):
                        dv = v[i] - v[i - 1] if lag == 1 else v[i] - 2 * v[i - 1] + v[i - 2]
                        tot += min(abs(dv), spec.SAMPLE_MAX) ** 2
                    ms = tot // (w - lag)
                    r = 0
                    while (r + 1) * (r + 1) <= ms:
                        r += 1
                    vals[name] = r
            for name, a in zip(spec.AR_NAMES, _naive_ar(v)):
                vals[name] = a
            for k in range(1, 4):
                if spec.CR_NAMES[k - 1] in names:
                    vals[spec.CR_NAMES[k - 1]] = _naive_cr(v, xs[(c + k) % len(xs)][s:e + 1])
            row.extend(vals[f] for f in names)
        rows.append(row)
        e += inc
    return rows


def test_matches_naive_definitions():
    seed = 7
    for nch, w, inc, zt, st, names in (
        (3, 16, 5, 3, 2, ("MAV", "WL", "ZC", "SSC", "RMS")),
        (1, 4, 1, 0, 0, ("SSC", "ZC", "RMS")),
        (8, 33, 33, 10, 40, ("WL", "MAV")),
        (2, 12, 3, 0, 0, ("M4", "RMS", "M2")),
        (1, 4, 1, 0, 0, ("M2", "SSC", "M4")),
        (3, 8, 1, 0, 0, ("AR3", "AR1", "AR4", "AR2")),
        (2, 20, 7, 5, 5, ("RMS", "AR2", "ZC", "AR1")),
        (3, 16, 5, 0, 0, ("CR2", "RMS", "CR1")),
        (4, 8, 1, 0, 0, ("AR1", "CR3", "MAV")),
    ):
        n = 3 * w + 11
        x = array("i", bytes(4 * n * nch))
        xs = [[] for _ in range(nch)]
        for t in range(n):
            for c in range(nch):
                seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
                v = (seed >> 10) % 121 - 60
                if (seed >> 4) % 9 == 0:
                    v = 0
                x[t * nch + c] = v
                xs[c].append(v)
        fx = FeatureExtractor(nch, w, inc, zt, st, names)
        ends, rows = _feed(fx, x, n, nch, [7, 1, 3])
        exp = _naive(xs, w, inc, zt, st, names)
        assert rows == exp, (nch, w)
        assert ends == list(range(w - 1, n, inc))


def test_extremes_at_the_rails():
    w = spec.WINDOW_MAX
    fx = FeatureExtractor(2, w, w, 0, 0, spec.NAMES[:12], max_block=64)  # CR1 only: 2 channels
    n = 2 * w
    x = array("i", bytes(8 * n))
    for t in range(n):
        x[2 * t] = -2147483648 if t < w else 2147483647  # saturates to -2^23, then 2^23-1
        x[2 * t + 1] = spec.SAMPLE_MIN if t % 2 else spec.SAMPLE_MAX
    ends, rows = _feed(fx, x, n, 2, [64])
    assert ends == [w - 1, 2 * w - 1]
    # MAV WL ZC SSC RMS M2 M4 (D1, D2 saturate at 2^23 - 1 by definition) AR1..AR4 CR1
    big = (1 << 23) - 1
    alt = [spec.SAMPLE_MAX if t % 2 == 0 else spec.SAMPLE_MIN for t in range(w)]
    assert rows[0][:7] == [1 << 23, 0, 0, 0, 1 << 23, 0, 0]
    assert rows[0][12:19] == [big, (1 << 24) - 1, w - 1, w - 2, big, big, big]
    assert rows[1][:7] == [big, 0, 0, 0, big, 0, 0]
    # AR on the rails: the spec's recursion, with products at their 32-bit bounds
    assert rows[0][7:11] == _naive_ar([spec.SAMPLE_MIN] * w)
    assert rows[0][19:23] == _naive_ar(alt)
    assert rows[0][7] < -16000 and rows[0][19] > 16000  # a_1 ~ -1 (constant), ~ +1 (alternating)
    # CR1 of ch0 with ch1 and of ch1 with ch0: the largest sums of products
    assert rows[0][11] == rows[0][23] == _naive_cr([spec.SAMPLE_MIN] * w, alt)
    assert rows[1][11] == _naive_cr([big] * w, alt)


def test_many_windows_in_one_block():
    # increment 1: a 64-sample block completes up to 64 windows (output queue).
    nch = 2
    fx1 = FeatureExtractor(nch, 8, 1, 0, 0)
    fx2 = FeatureExtractor(nch, 8, 1, 0, 0, max_block=1)
    assert fx1.capacity == 64 and fx2.capacity == 1
    n = 200
    x = array("i", ((i * 7919) % 1001 - 500 for i in range(n * nch)))
    e1, r1 = _feed(fx1, x, n, nch, [64])
    e2, r2 = _feed(fx2, x, n, nch, [1])
    assert e1 == e2 == list(range(7, n)) and r1 == r2


def test_reset_restarts_the_stream():
    nch = 4
    fx = FeatureExtractor(nch, 40, 10)
    n = 300
    x = array("i", ((i * 104729) % 200001 - 100000 for i in range(n * nch)))
    e1, r1 = _feed(fx, x, n, nch, 5)
    assert fx.sample_index == n
    fx.reset()
    assert fx.sample_index == 0
    e2, r2 = _feed(fx, x, n, nch, 6)
    assert e1 == e2 and r1 == r2 and len(e1) == (n - 40) // 10 + 1


def test_window_end_index_wraps_at_2_30():
    fx = FeatureExtractor(1, 4, 2)
    fx._st[8] = spec.INDEX_MOD - 5  # _H_IDX: pretend 2^30 - 5 samples went by
    blk = array("i", range(1, 9))
    assert fx.push(blk, 8) == 3
    assert list(fx.ends[:3]) == [spec.INDEX_MOD - 2, 0, 2]
    assert fx.sample_index == 3


def test_no_allocation_per_sample_and_window():
    nch = 8
    fx = FeatureExtractor(nch, 400, 100, features=spec.NAMES)  # every feature, M4 ring included
    blocks = []
    for b in range(4):
        blocks.append(array("i", ((i * 7919 + b) % 40001 - 20000 for i in range(64 * nch))))
    for b in blocks:  # warm up (first calls)
        fx.push(b, 64)
    push = fx.push
    gc.collect()
    a0 = gc.mem_alloc()
    done = 0
    for r in range(40):  # 10240 samples x 8 ch, 100 windows
        done += push(blocks[r & 3], 64)
        done += push(blocks[(r + 1) & 3], 37)
        done += push(blocks[(r + 2) & 3], 1)
    a1 = gc.mem_alloc()
    assert a1 - a0 == 0, a1 - a0
    assert done >= 40


def test_bad_config_and_blocks_raise():
    for args in ((0, 400, 100), (9, 400, 100), (8, 3, 1), (8, 1025, 1), (8, 400, 0), (8, 400, 401),
                 (8, 400, 100, -1), (8, 400, 100, 0, 1 << 25)):
        try:
            FeatureExtractor(*args)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (args,))
    try:
        FeatureExtractor(2, spec.AR_WINDOW_MIN - 1, 1, features=("MAV", "AR1"))
        raise AssertionError("accepted AR on a window shorter than AR_WINDOW_MIN")
    except ValueError:
        pass
    v2 = {"spec_version": 2, "fs": 2000, "n_ch": 2, "window": 10, "increment": 5, "features": ["MAV", "AR1"],
          "zc_thr": 0, "ssc_thr": 0}
    try:
        FeatureExtractor.from_dict(v2)
        raise AssertionError("accepted AR in a spec-version-2 config")
    except ValueError:
        pass
    v3 = dict(v2)
    v3["spec_version"] = 3
    v3["features"] = ["MAV", "CR1"]
    try:
        FeatureExtractor.from_dict(v3)
        raise AssertionError("accepted CR in a spec-version-3 config")
    except ValueError:
        pass
    try:
        FeatureExtractor(2, 10, 5, features=("MAV", "CR2"))
        raise AssertionError("accepted CR2 on 2 channels")
    except ValueError:
        pass
    v2["features"] = ["MAV", "M4"]
    assert FeatureExtractor.from_dict(v2).features == ("MAV", "M4")  # version 2 configs still run
    for feats in (("MAV", "XX"), ("MAV", "MAV"), (), "MAV"):
        try:
            FeatureExtractor(2, 10, 5, features=feats)
        except ValueError:
            continue
        raise AssertionError("accepted features %r" % (feats,))
    cfg = {"spec_version": spec.SPEC_VERSION + 1, "fs": 2000, "n_ch": 2, "window": 10, "increment": 5,
           "features": ["MAV"], "zc_thr": 0, "ssc_thr": 0}
    try:
        FeatureExtractor.from_dict(cfg)
        raise AssertionError("accepted another spec_version")
    except ValueError:
        pass
    fx = FeatureExtractor(2, 10, 5, max_block=16)
    blk = array("i", bytes(4 * 2 * 20))
    for n in (-1, 17):
        try:
            fx.push(blk, n)
            raise AssertionError("accepted block of %d" % n)
        except ValueError:
            pass
    try:
        fx.push(array("i", bytes(4 * 2 * 3)), 4)
        raise AssertionError("accepted block longer than its buffer")
    except ValueError:
        pass
