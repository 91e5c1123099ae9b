# The stimulation policy: validation of the model file's stimulation section, the
# proportional / threshold / cycling presets in integers, and no allocation per window.
import stim_testlib as S

import gc
from array import array

from garmentfw import model_format
from garmentfw.stim_policy import ACT_ONE, Policy

MOTOR = array("i", [10000, 10000, 20000, 0, 0, 0, 0, 0])
TOP = array("i", [30000, 30000, 40000, 0, 0, 0, 0, 0])  # channel 3: not calibrated


def _refused(d, word, n=4):
    try:
        Policy.from_dict(d, n)
    except ValueError as e:
        assert word in str(e), (word, str(e))
        return
    raise AssertionError("accepted: %r" % (d,))


def test_golden_model_sections_are_accepted():
    seen = []
    for name in ("int8_mlp.gmdl", "int8_lda.gmdl", "int8_ridge.gmdl"):
        with open("../../../models/golden/" + name, "rb") as f:
            m = model_format.parse(f.read())
        p = Policy.from_dict(m.stim, 4)
        seen.append(p.preset)
    assert sorted(seen) == ["cycling", "proportional", "threshold"], seen


def test_validation_refuses_unknown_and_out_of_range():
    _refused({"preset": "tetanus"}, "unknown stimulation preset")
    _refused({"preset": "proportional", "params": {"gian": 1}}, "gian")
    _refused({"preset": "proportional", "params": {"gain": 0}}, "gain")
    _refused({"preset": "proportional", "params": {"gain": 17}}, "gain")
    _refused({"preset": "proportional", "params": {"deadband": 0.95}}, "deadband")
    _refused({"preset": "proportional", "params": {"max_mA": [20, 20, 20, 20, 20]}}, "max_mA")
    _refused({"preset": "proportional", "params": {"max_mA": 0}}, "max_mA")
    _refused({"preset": "proportional", "params": {"inputs": [0, 1.5]}}, "inputs")
    _refused({"preset": "threshold", "params": {"level": 1.5}}, "level")
    _refused({"preset": "cycling", "params": {}}, "phase_on")
    _refused({"preset": "cycling", "params": {"phase_on": [30], "phase_off": [20]}}, "phase_off - phase_on")
    _refused({"preset": "cycling", "params": {"phase_on": [30], "phase_off": [400]}}, "phase_off - phase_on")
    _refused({"preset": "cycling", "params": {"phase_on": [30], "phase_off": [150], "delay_ms": 600}}, "delay_ms")
    _refused({"preset": "off", "params": {"gain": 1}}, "gain")
    _refused({"preset": "off", "extra": 1}, "extra")
    _refused("proportional", "object")


def test_proportional_maps_activation_into_the_calibrated_range():
    p = Policy.from_dict({"preset": "proportional", "params": {"gain": 1.0, "deadband": 0.1, "max_mA": [25, 40, 40, 40]}}, 4)
    out = array("i", [7] * 8)
    acts = array("i", [0, 0, 0, 0])
    p.targets(acts, 4, MOTOR, TOP, out, 0)
    assert list(out[:4]) == [0, 0, 0, 0]  # no activation: off
    acts = array("i", [409, 410, ACT_ONE, ACT_ONE])  # below / at the deadband (0.1 -> 410)
    p.targets(acts, 4, MOTOR, TOP, out, 0)
    assert out[0] == 0 and out[1] == 10000, list(out[:4])  # at the deadband: motor threshold
    assert out[2] == 40000 and out[3] == 0  # full: max comfortable; uncalibrated: off
    acts = array("i", [ACT_ONE, ACT_ONE * 2, 0, 0])
    p.targets(acts, 4, MOTOR, TOP, out, 0)
    assert out[0] == 25000 and out[1] == 30000  # max_mA caps below the calibrated max; > 1.0 saturates
    prev = 0
    for x in range(410, ACT_ONE + 1, 97):  # monotonic, always within [motor, top]
        acts[1] = x
        p.targets(acts, 4, MOTOR, TOP, out, 0)
        assert 10000 <= out[1] <= 30000 and out[1] >= prev
        prev = out[1]
    # inputs: channel 0 follows activation 2, channel 1 none
    p = Policy.from_dict({"preset": "proportional", "params": {"inputs": [2, -1], "deadband": 0}}, 4)
    p.targets(array("i", [0, ACT_ONE, ACT_ONE // 2]), 3, MOTOR, TOP, out, 0)
    assert out[0] == 10000 + 20000 * 2048 // 4096 and out[1] == 0 and out[2] == 0


def test_threshold_preset():
    p = Policy.from_dict({"preset": "threshold", "params": {"level": 0.5, "intensity": 0.5}}, 4)
    out = array("i", bytes(32))
    p.targets(array("i", [2047, 2048, ACT_ONE]), 3, MOTOR, TOP, out, 0)
    assert out[0] == 0 and out[1] == 20000 and out[2] == 30000, list(out[:3])


def test_cycling_windows_follow_the_crank_with_phase_advance():
    p = Policy.from_dict({"preset": "cycling", "params": {"phase_on": [30, 200, 300], "phase_off": [150, 320, 420],
                                                          "delay_ms": 100, "intensity": [1.0, 0.5, 1.0]}}, 4)
    assert p.continuous
    out = array("i", bytes(32))
    acts = array("i", bytes(32))
    t = 1000
    p.targets(acts, 0, MOTOR, TOP, out, t)
    assert list(out[:4]) == [0, 0, 0, 0]  # no crank data yet: off
    p.set_crank(9000, 0, t)  # 90 deg, standing still: no advance
    p.targets(acts, 0, MOTOR, TOP, out, t)
    assert out[0] == 30000 and out[1] == 0 and out[2] == 0, list(out[:3])
    p.set_crank(1000, 0, t)  # 10 deg: channel 2's window wraps 300..60 deg
    p.targets(acts, 0, MOTOR, TOP, out, t)
    assert out[0] == 0 and out[2] == 40000
    # 60 rpm = 360 deg/s: the 100 ms electromechanical delay advances the angle by 36 deg
    p.set_crank(17000, 6000, t)  # 170 deg -> 206 deg effective: channel 1 on at half intensity
    p.targets(acts, 0, MOTOR, TOP, out, t)
    assert out[1] == 10000 + 20000 // 2 and out[0] == 0, list(out[:3])
    assert p.crank_angle(t) == 20600
    # between crank readings the angle is extrapolated with the cadence
    assert p.crank_angle(t + 250) == (17000 + 6000 * 6 * 350 // 1000) % 36000
    # stale crank data: off
    p.targets(acts, 0, MOTOR, TOP, out, t + 501)
    assert list(out[:3]) == [0, 0, 0]
    # cadence estimated from successive angles (decoder regression output)
    q = Policy.from_dict({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "delay_ms": 0}}, 4)
    q.set_crank(35000, -1, 0)
    q.set_crank(1000, -1, 100)  # +20 deg in 100 ms = 200 deg/s = 33.33 rpm
    assert q.crpm == 3333, q.crpm


def test_off_preset_and_no_allocation_per_window():
    p = Policy.from_dict({"preset": "off"}, 4)
    out = array("i", [5] * 8)
    p.targets(array("i", [ACT_ONE] * 4), 4, MOTOR, TOP, out, 0)
    assert list(out[:4]) == [0, 0, 0, 0]
    pols = (
        Policy.from_dict({"preset": "proportional", "params": {"gain": 0.8, "max_mA": [20, 20, 20, 20]}}, 4),
        Policy.from_dict({"preset": "threshold", "params": {"level": 0.5}}, 4),
        Policy.from_dict({"preset": "cycling", "params": {"phase_on": [30, 200], "phase_off": [150, 320]}}, 4),
    )
    acts = array("i", [1000, 3000, 4096, 0])
    for p in pols:
        p.targets(acts, 4, MOTOR, TOP, out, 0)
    gc.collect()
    before = gc.mem_alloc()
    for i in range(200):
        for p in pols:
            p.set_crank((i * 500) % 36000, 6000, i)
            acts[0] = (i * 37) % 4097
            p.targets(acts, 4, MOTOR, TOP, out, i)
    used = gc.mem_alloc() - before
    assert used == 0, used
