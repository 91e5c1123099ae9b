# The withdrawal reflex on the unix port: bit-exact with the host reference (golden
# vectors), latency that falls with strength and with both legs, the policy's stop.
import gc
import json
from array import array

from garmentfw.reflex import Reflex
from garmentfw.reflex_spec import S_LEN
from garmentfw.stim_policy import Policy

MOTOR = array("i", [10000, 10000, 10000, 10000, 0, 0, 0, 0])
TOP = array("i", [30000, 30000, 30000, 30000, 0, 0, 0, 0])


def test_golden_vectors_bit_exact():
    with open("../../../models/golden/reflex_withdrawal.json") as f:
        g = json.load(f)
    r = Reflex.from_dict({})
    for k, call in enumerate(g["calls"]):
        a = call["act"]
        for e in range(4):
            r.z[e] = call["z"][e]
        r.run(a[0], a[1], a[2], a[3], call["steps"])
        got = [r.state[i] for i in range(S_LEN)]
        assert got == call["state"], (k, got, call["state"])
    assert r.withdrawals > 0


def _latency(strength, legs):
    r = Reflex.from_dict({})
    r.run(300, 300, 300, 300, 2000)  # quiet pedalling: the baseline settles
    for t in range(1000):
        q1 = strength if legs == 2 else 300
        if r.run(strength, strength, q1, q1, 1):
            return t
    return None


def test_latency_encodes_the_strength_and_sums_over_legs():
    assert _latency(1200, 1) is None  # a mild co-contraction never stops the ride
    weak, strong = _latency(2500, 1), _latency(4096, 1)
    assert strong is not None and weak is not None and strong < weak <= 40, (weak, strong)
    both = _latency(2500, 2)
    assert both < weak, (both, weak)  # spatial summation


def test_policy_stops_every_channel_and_holds():
    p = Policy.from_dict({"preset": "cycling", "params": {"phase_on": [0, 0], "phase_off": [350, 350], "delay_ms": 0,
                                                          "reflex": 1, "reflex_inputs": [0, 1, 2, 3], "reflex_hold_ms": 500}}, 4)
    out = array("i", bytes(32))
    acts = array("i", [300, 300, 300, 300])
    t = 0
    for t in range(0, 2000, 10):
        p.set_crank(9000, 0, t)
        p.targets(acts, 4, MOTOR, TOP, out, t)
    assert out[0] == 30000 and out[1] == 30000
    acts[0] = acts[1] = 4096  # a sudden co-contraction on the left leg
    stopped = None
    for t in range(2000, 2200, 10):
        p.set_crank(9000, 0, t)
        p.targets(acts, 4, MOTOR, TOP, out, t)
        if out[0] == 0 and out[1] == 0:
            stopped = t
            break
    assert stopped is not None and stopped - 2000 <= 30, stopped
    acts[0] = acts[1] = 300
    for t in range(stopped + 10, stopped + 400, 10):
        p.set_crank(9000, 0, t)
        p.targets(acts, 4, MOTOR, TOP, out, t)
        assert out[0] == 0  # held off
    for t in range(stopped + 400, stopped + 700, 10):
        p.set_crank(9000, 0, t)
        p.targets(acts, 4, MOTOR, TOP, out, t)
    assert out[0] == 30000  # after the hold the windows resume
    try:
        Policy.from_dict({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "reflex_level": 5}}, 4)
    except ValueError as e:
        assert "reflex=1" in str(e)
    else:
        raise AssertionError("reflex parameters accepted without reflex=1")


def test_no_allocation():
    p = Policy.from_dict({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "reflex": 1,
                                                          "reflex_inputs": [0, 1, 2, 3]}}, 4)
    out = array("i", bytes(32))
    acts = array("i", [300, 300, 300, 300])
    p.set_crank(100, 6000, 0)
    p.targets(acts, 4, MOTOR, TOP, out, 1)
    gc.collect()
    before = gc.mem_alloc()
    for i in range(300):
        acts[0] = (i * 97) % 4097
        p.set_crank((i * 500) % 36000, 6000, i * 7)
        p.targets(acts, 4, MOTOR, TOP, out, i * 7)
    assert gc.mem_alloc() - before == 0
