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


def _cyc(**kw):
    params = {"phase_on": [0, 180], "phase_off": [120, 300], "delay_ms": 0}
    params.update(kw)
    return Policy.from_dict({"preset": "cycling", "params": params}, 4)


def test_cycling_modes_are_validated():
    _refused({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "mode": 3}}, "unknown cycling mode")
    _refused({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "level": 0.3}}, "needs mode 1")
    _refused({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "cpg_tonic": 10}}, "needs mode 2")
    _refused({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "mode": 2, "cpg_side": [0, 2]}}, "cpg_side")
    _refused({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "mode": 2, "cpg_bins": 0}}, "bins")
    _refused({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "mode": 2, "cpg_weights": [1, 2]}}, "weights")
    _refused({"preset": "cycling", "params": {"phase_on": [0], "phase_off": [90], "target_rpm": 300}}, "target_rpm")


def test_emg_triggered_assist_starts_on_the_riders_drive_and_latches_to_the_window_end():
    p = _cyc(mode=1, level=0.25, inputs=[1, 5])
    out = array("i", bytes(32))
    acts = array("i", bytes(4 * 8))
    p.set_crank(3000, 0, 0)  # 30 deg: inside channel 0's window
    p.targets(acts, 8, MOTOR, TOP, out, 0)
    assert out[0] == 0  # in the window, but the rider is not pushing: no assist
    acts[1] = 1100  # the rider's drive rises (0.27 >= 0.25)
    p.targets(acts, 8, MOTOR, TOP, out, 0)
    assert out[0] == 30000, list(out[:2])
    acts[1] = 0  # the EMG under stimulation is blanked: the trigger holds
    p.set_crank(11000, 0, 0)
    p.targets(acts, 8, MOTOR, TOP, out, 0)
    assert out[0] == 30000
    p.set_crank(13000, 0, 0)  # the window ends: off, and the latch is gone
    p.targets(acts, 8, MOTOR, TOP, out, 0)
    p.set_crank(1000, 0, 0)
    p.targets(acts, 8, MOTOR, TOP, out, 0)
    assert out[0] == 0 and out[1] == 0


def test_cpg_mode_follows_the_pattern_generators_bursts():
    p = _cyc(mode=2, cpg_side=[0, 1, -1, 0])
    out = array("i", bytes(32))
    acts = array("i", bytes(16))
    on_first = [0, 0, 0, 0]
    on_second = [0, 0, 0, 0]
    for t in range(0, 6000, 10):  # 60 rpm, a policy call every 10 ms
        ang = (t * 36) % 36000
        p.set_crank(ang, 6000, t)
        p.targets(acts, 0, MOTOR, TOP, out, t)
        if t >= 2000:
            for ch in range(4):
                if out[ch]:
                    if ang < 18000:
                        on_first[ch] += 1
                    else:
                        on_second[ch] += 1
    assert on_first[0] > 4 * on_second[0] and on_second[1] > 4 * on_first[1], (on_first, on_second)
    assert on_first[2] + on_second[2] == 0  # side -1: never
    assert on_first[3] == 0 and on_second[3] == 0  # channel 3 is not calibrated


def test_cadence_tracking_scales_the_intensity():
    p = _cyc(target_rpm=60, kp=0.05, ki=0.0)
    out = array("i", bytes(32))
    acts = array("i", bytes(16))
    p.set_crank(3000, 6000, 0)  # at the target: only the integral (starts at 0.5)
    p.targets(acts, 0, MOTOR, TOP, out, 0)
    assert out[0] == 10000 + 20000 * 2048 // 4096, out[0]
    p.set_crank(3000, 5000, 10)  # 10 rpm slow: + 0.5
    p.targets(acts, 0, MOTOR, TOP, out, 10)
    assert out[0] == 30000, out[0]
    p.set_crank(3000, 7500, 20)  # 15 rpm fast: 0.5 - 0.75 < 0 -> off
    p.targets(acts, 0, MOTOR, TOP, out, 20)
    assert out[0] == 0, out[0]
    q = _cyc(target_rpm=60, kp=0.0, ki=0.1)
    q.set_crank(3000, 5000, 0)
    for t in range(0, 1001, 10):  # 10 rpm slow for 1 s: the integral rises by 1.0 x 0.1 x 10
        q.set_crank(3000, 5000, t)
        q.targets(acts, 0, MOTOR, TOP, out, t)
    assert q.integ_q12 == ACT_ONE, q.integ_q12


def test_cycling_modes_allocate_nothing():
    pols = (_cyc(mode=1, inputs=[0, 1]), _cyc(mode=2, cpg_inputs=[0, 1], cpg_w_emg=500), _cyc(target_rpm=70))
    out = array("i", bytes(32))
    acts = array("i", [1000, 3000, 4096, 0])
    for p in pols:
        p.set_crank(100, 6000, 0)
        p.targets(acts, 4, MOTOR, TOP, out, 1)
    gc.collect()
    before = gc.mem_alloc()
    for i in range(200):
        for p in pols:
            p.set_crank((i * 500) % 36000, 6000, i * 7)
            acts[0] = (i * 37) % 4097
            p.targets(acts, 4, MOTOR, TOP, out, i * 7)
    used = gc.mem_alloc() - before
    assert used == 0, used


def test_week_old_crank_data_is_stale():
    import vclock

    vclock.start(ms=vclock.PERIOD - 60000)
    p = Policy.from_dict({"preset": "cycling", "params": {"phase_on": [30], "phase_off": [150]}}, 4)
    now = S.ticks_ms()
    p.set_crank(1000, 6000, now)
    assert p.crank_angle(now) >= 0
    later = S.ticks_add(now, 7 * 24 * 3600 * 1000)  # a week later, past half the tick period
    assert p.crank_angle(later) == -1, "7-day-old crank data read as fresh"


def test_crank_from_the_thigh_imu_is_chosen_by_the_policy():
    base = {"phase_on": [10], "phase_off": [138]}
    p = Policy.from_dict({"preset": "cycling", "params": base}, 4)
    assert p.crank_source == 0
    d = dict(base)
    d.update({"crank_source": 1, "imu_max_deg": 21.9, "imu_min_deg": 197.0})
    p = Policy.from_dict({"preset": "cycling", "params": d}, 4)
    assert p.crank_source == 1 and p.imu_max_cdeg == 2190 and p.imu_min_cdeg == 19700
    for bad, word in (({"crank_source": 1}, "imu_max_deg"), ({"crank_source": 2}, "crank_source"),
                      ({"crank_source": 0.5}, "crank_source"),
                      ({"crank_source": 1, "imu_max_deg": 20, "imu_min_deg": 20}, "differ"),
                      ({"crank_source": 1, "imu_max_deg": 400, "imu_min_deg": 20}, "imu_max_deg")):
        d = dict(base)
        d.update(bad)
        _refused({"preset": "cycling", "params": d}, word)
