# The spiking pattern generator on the unix port: bit-exact with the host reference
# (golden vectors), alternating bursts locked to the crank, no allocation per step.
import gc
import json

from garmentfw.cpg import Cpg
from garmentfw.cpg_spec import S_LEN


def _golden():
    with open("../../../models/golden/cpg_halfcentre.json") as f:
        return json.load(f)


def test_golden_vectors_bit_exact():
    g = _golden()
    assert len(g["cases"]) == 2
    for case in g["cases"]:
        c = Cpg.from_dict(case["params"])
        for k, call in enumerate(case["calls"]):
            c.run(call["angle_cdeg"], call["act"][0], call["act"][1], call["steps"])
            got = [c.state[i] for i in range(S_LEN)]
            assert got == call["state"], (k, got, call["state"])


def test_bursts_alternate_locked_to_the_crank():
    c = Cpg.from_dict({})
    first = [0, 0]  # ms bursting with the crank in its first half, per side
    second = [0, 0]
    for t in range(8000):
        ang = (t * 360 * 100 // 1000) % 36000  # 60 rpm
        c.run(ang, 0, 0, 1)
        if t < 2000:
            continue
        for side in (0, 1):
            if c.bursting(side):
                if ang < 18000:
                    first[side] += 1
                else:
                    second[side] += 1
    assert first[0] > 4 * second[0], (first, second)  # A: the first half of the cycle
    assert second[1] > 4 * first[1], (first, second)  # B: the second half


def test_refuses_bad_parameters():
    for bad, word in (({"tonic": -1}, "tonic"), ({"bins": 17}, "bins"), ({"thr": 1.5}, "thr"),
                      ({"weights": [1, 2]}, "weights"), ({"bins": 1, "weights": [1, 70000]}, "weights"),
                      ({"speed": 1}, "speed"), ([], "object")):
        try:
            Cpg.from_dict(bad)
        except ValueError as e:
            assert word in str(e), (word, str(e))
            continue
        raise AssertionError("accepted %r" % (bad,))


def test_no_allocation_per_step():
    c = Cpg.from_dict({"w_emg": 2000})
    c.run(100, 10, 10, 5)
    gc.collect()
    before = gc.mem_alloc()
    for t in range(500):
        c.run((t * 37) % 36000, t % 4096, 4095 - t % 4096, 2)
        c.bursting(t & 1)
    used = gc.mem_alloc() - before
    assert used == 0, used
