# Calibration and limits: validation (refused, never clamped), the rms current-density
# rule (behaviour 9), infeasible multi-channel timing (9), atomic verified storage.
import stim_testlib as S  # noqa: F401  (virtual clock first)

import struct

from garmentfw import limits as L
from garmentfw import wire
from garmentfw.calibration import CALIB_LEN, RECORD, Calibration, CalibrationSet
from garmentfw.store import Store


def _cal(ch=0, sensory=5000, motor=10000, mx=30000, area=2500, width=300, freq=30):
    return Calibration(ch, sensory, motor, mx, area, width, freq)


def test_struct_sizes_match_the_wire_contract():
    assert struct.calcsize(wire.CALIB_FMT) == CALIB_LEN
    assert struct.calcsize(wire.LIMITS_FMT) == L.LIMITS_LEN
    c = _cal(3)
    assert Calibration.unpack(c.pack()) == c
    lim = L.Limits()
    assert L.Limits.unpack(lim.pack()) == lim


def test_hard_limits_cannot_be_exceeded_by_configuration():
    assert L.Limits().validate() is None  # the defaults are valid
    for name, bad in (("max_ua", L.HARD_MAX_UA + 1), ("max_width_us", L.HARD_MAX_WIDTH_US + 1),
                      ("max_freq_hz", L.HARD_MAX_FREQ_HZ + 1), ("min_freq_hz", 0),
                      ("max_charge_nc", L.HARD_MAX_CHARGE_NC + 1), ("heartbeat_ms", L.HARD_MAX_HEARTBEAT_MS + 1),
                      ("blank_us", L.HARD_MIN_BLANK_US - 1), ("session_s", 0), ("dose_limit", 0),
                      ("slew_ua_per_s", L.HARD_MAX_SLEW + 1)):
        lim = L.Limits()
        setattr(lim, name, bad)
        msg = lim.validate()
        assert msg is not None and name in msg, (name, msg)
    lim = L.Limits(min_freq_hz=50, max_freq_hz=40)
    assert "min_freq_hz" in lim.validate()
    assert L.HARD_MAX_UA == 100000 and L.HARD_MAX_WIDTH_US == 1000 and L.HARD_MAX_CHARGE_NC == 50000
    assert (L.HARD_MIN_FREQ_HZ, L.HARD_MAX_FREQ_HZ) == (1, 150)


def test_calibration_validation_names_the_field():
    lim = L.Limits()
    assert _cal().validate(lim, 4) is None
    cases = (
        (_cal(sensory=12000), "sensory_ua"),
        (_cal(motor=31000), "motor_ua"),
        (_cal(mx=lim.max_ua + 1), "max_ua"),
        (_cal(mx=0, motor=0, sensory=0, area=100), None),  # clear: handled by the set
        (_cal(area=0), "area_mm2"),
        (_cal(width=lim.max_width_us + 1), "width_us"),
        (_cal(width=10), "width_us"),
        (_cal(freq=lim.max_freq_hz + 1), "freq_hz"),
        (_cal(freq=lim.min_freq_hz - 1), "freq_hz"),
        (_cal(ch=4), "channel"),
    )
    for c, field in cases:
        msg = c.validate(lim, 4)
        if field is None:
            assert c.is_clear()
            continue
        assert msg is not None and field in msg, (c.values(), msg)
    # charge per phase: 50 mA x 500 us = 25 uC is the default limit; one more uA is refused
    assert _cal(mx=50000, width=500, area=20000, freq=20).validate(lim, 4) is None
    lim2 = L.Limits(max_charge_nc=24999)
    msg = _cal(mx=50000, width=500, area=20000, freq=20).validate(lim2, 4)
    assert msg is not None and "charge" in msg, msg


def test_density_rule_is_exact_at_2_mA_per_cm2():
    # 2 * 100 us * 50 Hz = 1 % duty -> I_rms = I / 10; 1 cm^2 (100 mm^2) allows 2 mA rms:
    # exactly 20 mA passes, 20.001 mA is refused.
    assert L.check_density(20000, 100, 50, 100) is None
    msg = L.check_density(20001, 100, 50, 100)
    assert msg is not None and "mA/cm^2" in msg and "area_mm2=100" in msg, msg
    # a calibration that breaks it is refused (behaviour 9), naming the density
    lim = L.Limits(max_freq_hz=100)
    assert _cal(mx=20000, motor=10000, area=100, width=100, freq=50).validate(lim, 4) is None
    msg = _cal(mx=20001, motor=10000, area=100, width=100, freq=50).validate(lim, 4)
    assert msg is not None and "density" in msg, msg
    # the largest numbers the limits allow do not upset the integer arithmetic
    assert L.check_density(L.HARD_MAX_UA, L.HARD_MAX_WIDTH_US, L.HARD_MAX_FREQ_HZ, 65535) is None
    assert L.check_density(L.HARD_MAX_UA, L.HARD_MAX_WIDTH_US, L.HARD_MAX_FREQ_HZ, 1) is not None


def test_infeasible_multichannel_timing_is_refused():
    lim = L.Limits(max_width_us=1000)  # the default 24 ms blank window, max 100 Hz
    assert lim.blank_us == 24000 and L.BLANK_MARGIN_US == 2500
    cs = CalibrationSet(4)
    for ch in range(3):
        assert cs.set(_cal(ch, mx=20000, width=1000, freq=30), lim) is None
    # one burst per 33.3 ms period: 3 x (2*1000+50+20) = 6210 us + 24 + 2.5 ms leaves EMG
    # to read; a fourth pulse (8280 us) would blank it all
    err = cs.set(_cal(3, mx=20000, width=1000, freq=30), lim)
    assert err is not None and err[0] == wire.E_OUT_OF_RANGE and "whole period" in err[1], err
    assert cs.get(3) is None and cs.mask == 0b111  # refused means not applied
    # the garment's four channels at 300 us and 30 Hz: 4 x 670 us, one window
    cs4 = CalibrationSet(4)
    for ch in range(4):
        assert cs4.set(_cal(ch, freq=30), lim) is None
    # 40 Hz leaves no EMG after a 24 ms window; a shorter window allows it
    err = CalibrationSet(4).set(_cal(0, freq=40), lim)
    assert err is not None and "blank_us=24000" in err[1], err
    assert CalibrationSet(4).set(_cal(0, freq=40), L.Limits(blank_us=18000)) is None
    # bursts at different frequencies never share a window: 27.17 ms at 20 Hz + at 30 Hz
    cs2 = CalibrationSet(4)
    assert cs2.set(_cal(0, freq=20), lim) is None
    err = cs2.set(_cal(1, freq=30), lim)
    assert err is not None and "different frequencies" in err[1], err
    assert cs2.set(_cal(1, freq=20), lim) is None  # the same frequency shares the burst
    # the one-second budget of the pulses on their own
    msg = L.check_timing(L.Limits(blank_us=500, max_freq_hz=150), [1000] * 8, [150] * 8, 0xFF)
    assert msg is not None and "every second" in msg, msg
    assert L.check_timing(L.Limits(blank_us=500, max_freq_hz=150), [1000] * 2, [100] * 2, 0b11) is None


def test_store_roundtrip_and_boot_verification():
    root = S.tmpdir("calib")
    st = Store(root)
    lim = L.Limits()
    cs = CalibrationSet(4, st)
    assert cs.set(_cal(0), lim) is None
    assert cs.set(_cal(2, mx=40000), lim) is None
    # a reboot: a new set loads and verifies the same calibrations
    cs2 = CalibrationSet(4, st)
    assert cs2.load(lim) == []
    assert cs2.get(0) == _cal(0) and cs2.get(2) == _cal(2, mx=40000) and cs2.get(1) is None
    assert cs2.mask == 0b101 and cs2.max[2] == 40000 and cs2.motor[0] == 10000
    # clearing a channel is stored too
    assert cs2.set(_cal(2, 0, 0, 0), lim) is None
    cs3 = CalibrationSet(4, st)
    assert cs3.load(lim) == [] and cs3.mask == 0b001
    # an entry the current limits no longer allow is refused on load, loudly
    notes = CalibrationSet(4, st).load(L.Limits(max_ua=20000))
    assert len(notes) == 1 and "channel 0" in notes[0] and "max_ua" in notes[0], notes
    # a corrupted record is never used
    path = st.path(RECORD)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[5] ^= 0x40
    with open(path, "wb") as f:
        f.write(data)
    cs4 = CalibrationSet(4, st)
    notes = cs4.load(lim)
    assert cs4.mask == 0 and len(notes) == 1 and "refused" in notes[0], notes


def test_storage_failure_keeps_the_old_calibration():
    class BadStore:
        def save(self, name, payload):
            raise OSError(28)

        def load(self, name):
            return None

    lim = L.Limits()
    cs = CalibrationSet(4, BadStore())
    err = cs.set(_cal(1), lim)
    assert err is not None and err[0] == wire.E_STORAGE, err
    assert cs.get(1) is None and cs.mask == 0


def test_new_limits_must_keep_stored_calibrations_valid():
    lim = L.Limits()
    cs = CalibrationSet(4)
    assert cs.set(_cal(0, mx=40000), lim) is None
    msg = cs.check_limits(L.Limits(max_ua=30000))
    assert msg is not None and "channel 0" in msg, msg
    assert cs.check_limits(L.Limits(max_ua=45000)) is None
