# ADS1299 driver against the register-level chip model, on a virtual clock.
import gc
from array import array

import vclock  # noqa: F401  (first: the virtual `time`)

from garmentfw.sim.ads1299_model import FakeADS1299
from garmentfw.drivers import ads1299 as drv
from garmentfw.drivers.ads1299 import ADS1299, ADS1299Error, lead_off, lead_off_pn, unpack

DEFAULTS = b"\x3e\x96\xc0\x60\x00" + b"\x61" * 8 + b"\x00\x00\x00\x00\x00\x00\x00\x0f\x00\x00\x00"


class VClock:
    """The virtual clock (vclock) restarted at 0: it moves only when someone sleeps."""

    def __init__(self):
        vclock.start(us=0)

    @property
    def t(self):
        return vclock.ticks_us()

    def now(self):
        return vclock.ticks_us()

    def sleep_us(self, us):
        vclock.sleep_us(us)


def rig(depth=1, start_pin=False, chip_id=0x3E, capacity=4096):
    clk = VClock()
    chip = FakeADS1299(clock=clk.now, depth=depth, capacity=capacity, chip_id=chip_id)
    ads = ADS1299(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin,
                  start=chip.start_pin if start_pin else None, pwdn=chip.pwdn_pin,
                  sleep_us=clk.sleep_us)
    return clk, chip, ads


def expected_code(nv, gain):
    # round(nv * gain * 2^23 / 4.5e9), half away from zero, clipped to the 24-bit rails.
    q = (abs(nv) * gain * (1 << 24) + 4_500_000_000) // 9_000_000_000
    if nv < 0:
        return -min(q, 0x800000)
    return min(q, 0x7FFFFF)


def clean(chip):
    assert chip.ignored_busy == 0, chip.ignored_busy
    assert chip.ignored_rdatac == 0, chip.ignored_rdatac
    assert chip.reserved_violations == 0, chip.reserved_violations
    assert chip.ignored_ro == 0 and chip.ignored_unknown == 0 and chip.short_resets == 0


def read_codes(ads, frame, out):
    assert ads.ready()
    assert ads.read_frame(frame)
    unpack(frame, out, 0, 8)


def test_reset_defaults_and_id():
    clk, chip, ads = rig()
    assert ads.init() == 0x3E
    assert clk.t >= 128_000  # waited tPOR = 2^18 tCLK before talking
    regs = bytearray(24)
    ads.read_regs(0, regs)
    assert bytes(regs) == DEFAULTS, regs
    assert not chip.rdatac()
    clean(chip)
    # Other silicon revisions (REV_ID bits 7:5) are the same part.
    clk, chip, ads = rig(chip_id=0xDE)
    assert ads.init() == 0xDE


def test_id_check_refuses_other_chips():
    for cid, words in ((0x3C, "ADS1299-4"), (0x3D, "ADS1299-6"), (0x92, "not an ADS1299"), (0x00, "no register data")):
        clk, chip, ads = rig(chip_id=cid)
        try:
            ads.init()
        except ADS1299Error as e:
            assert words in str(e), str(e)
        else:
            raise AssertionError("accepted ID 0x%02X" % cid)


def test_commands_before_tpor_are_ignored():
    clk, chip, ads = rig()
    try:
        ads.init(power_up=False)  # skips the 2^18 tCLK wait: the chip is not listening yet
    except ADS1299Error as e:
        assert "no register data" in str(e)
    else:
        raise AssertionError("chip answered before tPOR")
    assert chip.ignored_busy > 0
    clk.sleep_us(128_000)
    assert ads.init(power_up=False) == 0x3E  # later it does


def test_register_commands_ignored_in_rdatac():
    clk, chip, ads = rig()
    ads.init()
    ads.command(drv.RDATAC)  # back to the power-up mode
    ads.write_reg(drv.REG_CONFIG1, 0x93)
    assert chip.ignored_rdatac >= 1
    ads.command(drv.SDATAC)
    assert ads.read_reg(drv.REG_CONFIG1) == 0x96  # the WREG was lost
    ads.write_reg(drv.REG_CONFIG1, 0x93)
    assert ads.read_reg(drv.REG_CONFIG1) == 0x93

    class NoSdatac(ADS1299):
        def command(self, op):
            if op != drv.SDATAC:
                super().command(op)

    # Forgetting SDATAC after reset: the ID read returns no register at all.
    clk, chip, _ = rig()
    bad = NoSdatac(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, sleep_us=clk.sleep_us)
    try:
        bad.init()
    except ADS1299Error as e:
        assert "AFE ID 0x00" in str(e) and "SDATAC" in str(e), str(e)
    else:
        raise AssertionError("a driver without SDATAC got an ID")
    assert chip.ignored_rdatac >= 1

    # Reconfiguring while streaming works because configure() leaves RDATAC first.
    clk, chip, ads = rig()
    ads.init()
    ads.configure(1000)
    ads.start()
    clk.sleep_us(5000)
    assert chip.rdatac() and chip.pending() == 1
    ads.configure(500, 4, 12)
    assert chip.regs[drv.REG_CONFIG1] & 7 == 5 and chip.regs[drv.REG_CH1SET] == 0x50
    clean(chip)
    # ... and fails loudly (read-back) for a driver whose stop() forgets SDATAC.
    class StopWithoutSdatac(ADS1299):
        def stop(self):
            self.command(drv.STOP)
            self.running = False

    clk, chip, _ = rig()
    bad = StopWithoutSdatac(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, sleep_us=clk.sleep_us)
    bad.init()
    bad.configure(1000)  # fine: init() left RDATAC
    bad.start()
    clk.sleep_us(3000)
    try:
        bad.configure(500)
    except ADS1299Error as e:
        assert "CONFIG1" in str(e) and "read back" in str(e), str(e)
    else:
        raise AssertionError("configured a chip in RDATAC")
    assert chip.ignored_rdatac >= 1


def test_configure_every_fs_and_gain():
    clk, chip, ads = rig()
    ads.init()
    for i in range(len(drv.FS_ALLOWED)):
        fs = drv.FS_ALLOWED[i]
        for gc_ in range(len(drv.GAINS)):
            g = drv.GAINS[gc_]
            ads.configure(fs, 5, g)
            r = chip.regs
            assert chip.fs() == fs and ads.fs == fs
            assert r[drv.REG_CONFIG1] == 0x90 | (6 - i)
            assert r[drv.REG_CONFIG3] & 0xFE == 0xEC
            for ch in range(8):
                want = (gc_ << 4) if ch < 5 else 0x81  # normal input / off + shorted
                assert r[drv.REG_CH1SET + ch] == want, (fs, g, ch, r[drv.REG_CH1SET + ch])
            assert r[drv.REG_LOFF_SENSP] == 0x1F and r[drv.REG_LOFF_SENSN] == 0x1F
            assert r[drv.REG_BIAS_SENSP] == 0x1F and r[drv.REG_CONFIG4] == 0x02
            assert ads.n_ch == 5 and ads.mask == 0x1F and ads.gains[0] == g and ads.gains[7] == 0
    # Per-channel gains, explicit mask, referential montage, no lead-off / bias.
    ads.configure(250, gain=(1, 2, 4, 6, 8, 12, 24, 24), mask=0xA5, lead_off=False, bias=False, srb1=True)
    r = chip.regs
    assert r[drv.REG_CH1SET] == 0x00 and r[drv.REG_CH1SET + 2] == 0x20 and r[drv.REG_CH1SET + 1] == 0x81
    assert r[drv.REG_MISC1] == 0x20 and r[drv.REG_CONFIG4] == 0 and r[drv.REG_LOFF_SENSP] == 0
    assert r[drv.REG_CONFIG3] & 0xFE == 0xE0 and ads.n_ch == 4
    assert ads.channel_lsb_fv(0) == drv.lsb_fv(1) and ads.channel_lsb_fv(1) == 0
    clean(chip)


def test_unsupported_settings_raise():
    clk, chip, ads = rig()
    ads.init()
    for fs in (0, 100, 300, 2001, 32000):
        try:
            ads.configure(fs)
        except ValueError as e:
            assert "250" in str(e) and "2000" in str(e), str(e)
        else:
            raise AssertionError("fs %d accepted" % fs)
    for kw in ({"gain": 3}, {"n_ch": 0}, {"n_ch": 9}, {"mask": 0}, {"mask": 0x100}, {"gain": (24,) * 7}):
        try:
            ads.configure(2000, **kw)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r" % kw)
    assert chip.regs[drv.REG_CONFIG1] == 0x96  # nothing was written


def test_frames_decode_to_fed_nanovolts():
    clk, chip, ads = rig()
    ads.init()
    frame = bytearray(27)
    out = array("i", [0] * 8)
    for g in drv.GAINS:
        full = min(4_500_000_000 // g, 0x7FFFFFFF)  # rail in nV at the electrodes
        lsb = 4_500_000_000 / g / (1 << 23)
        vals = [0, 1, -1, 11, -11, 1234, -98765, 2_500_000, -2_500_000,
                full // 3, -full // 3, full - int(2 * lsb), -full + int(2 * lsb),
                full // 2 + 7, -(full // 2) - 7, 0x7FFFFFFF, -0x80000000]
        if full < 0x7FFFFFFF - 1000:
            vals += [full + 1000, -full - 1000]  # past the rails
        while len(vals) % 8:
            vals.append(-len(vals) * 1000)
        rows = len(vals) // 8
        ads.configure(2000, 8, g)
        assert chip.feed(array("i", vals), rows) == rows
        ads.start()
        for row in range(rows):
            clk.sleep_us(500)
            read_codes(ads, frame, out)
            for ch in range(8):
                nv = vals[row * 8 + ch]
                want = expected_code(nv, g)
                assert abs(out[ch] - want) <= 1, (g, nv, out[ch], want)
                assert out[ch] == want  # the model is exact
                if -0x800000 < want < 0x7FFFFF:
                    # The host's conversion with lsb_fv lands within one LSB of the input.
                    back = out[ch] * drv.lsb_fv(g) / 1_000_000
                    assert abs(back - nv) <= lsb, (g, nv, back)
                elif nv > 0:
                    assert out[ch] == 0x7FFFFF
                else:
                    assert out[ch] == -0x800000
        ads.stop()
        assert chip.underruns == 0 and chip.overruns == 0
    clean(chip)


def test_powered_down_and_noise_floor():
    clk, chip, ads = rig()
    ads.init()
    ads.configure(1000, 3, 24)
    frame = bytearray(27)
    out = array("i", [0] * 8)
    chip.feed(array("i", [5_000_000] * 8), 1)
    ads.start()
    clk.sleep_us(1000)
    read_codes(ads, frame, out)
    assert out[0] == out[1] == out[2] == expected_code(5_000_000, 24)
    assert out[3] == out[4] == out[7] == 0  # powered-down channels read 0
    seen = 0
    for _ in range(20):  # input FIFO empty: small deterministic noise
        clk.sleep_us(1000)
        read_codes(ads, frame, out)
        for ch in range(3):
            assert -4 <= out[ch] <= 3
            seen |= 1 << (out[ch] + 4)
        assert out[5] == 0
    assert seen != 1 << 4  # not a constant
    assert chip.underruns == 20


def test_lead_off_bits():
    clk, chip, ads = rig()
    ads.init()
    frame = bytearray(27)
    out = array("i", [0] * 8)
    chip.set_lead_off(2, True, False)
    chip.set_lead_off(5, False, True)
    chip.set_lead_off(7, True, True)
    ads.configure(2000, 6, 24)  # CH8 not active: its lead-off is not sensed
    ads.start()
    clk.sleep_us(500)
    read_codes(ads, frame, out)
    assert ads.lead_off(frame) == lead_off(frame) == (1 << 2) | (1 << 5)
    assert lead_off_pn(frame) == (0x04 << 8) | 0x20
    assert frame[0] >> 4 == 0xC and ads.status_ok(frame)
    # DC lead-off current drives the open electrode's channel to the rail.
    assert out[2] == 0x7FFFFF and out[5] == 0x7FFFFF and -4 <= out[0] <= 3
    ads.stop()
    assert ads.read_reg(drv.REG_LOFF_STATP) == 0x04 and ads.read_reg(drv.REG_LOFF_STATN) == 0x20
    chip.set_lead_off(2, False, False)
    ads.start()
    clk.sleep_us(500)
    read_codes(ads, frame, out)
    assert lead_off(frame) == 1 << 5
    # Detection off: no status bits and no excitation current.
    ads.configure(2000, 8, 24, lead_off=False)
    ads.start()
    clk.sleep_us(500)
    read_codes(ads, frame, out)
    assert lead_off(frame) == 0 and -4 <= out[5] <= 3 and -4 <= out[7] <= 3
    clean(chip)


def test_overrun_underrun_accounting():
    # depth 1 = the real chip: an unread conversion is overwritten by the next.
    clk, chip, ads = rig()
    ads.init()
    ads.configure(1000, 8, 24)
    rows = array("i", [0] * 80)
    for i in range(80):
        rows[i] = (i // 8) * 10_000
    chip.feed(rows, 10)
    frame = bytearray(27)
    out = array("i", [0] * 8)
    t0 = clk.t  # the START opcode is decoded now; start() then spends a few us on RDATAC
    ads.start()
    assert chip.pending() == 0 and not ads.ready() and chip.conversions() == 0
    clk.sleep_us(t0 + 999 - clk.t)
    assert not ads.ready()
    clk.sleep_us(1)
    assert ads.ready() and chip.pending() == 1 and chip.conversions() == 1
    clk.sleep_us(3000)
    assert chip.conversions() == 4 and chip.pending() == 1 and chip.overruns == 3
    read_codes(ads, frame, out)
    assert out[0] == expected_code(30_000, 24)  # the 4th sample: the newest wins
    assert not ads.ready() and chip.pending() == 0
    clk.sleep_us(20_000)
    assert chip.conversions() == 24 and chip.overruns == 22 and chip.underruns == 14
    assert chip.queued() == 0
    ads.stop()
    clk.sleep_us(10_000)
    assert chip.conversions() == 24  # STOP halts conversions

    # depth 8 = an MCU ring behind the DRDY interrupt: the oldest are lost.
    clk, chip, ads = rig(depth=8, start_pin=True)
    ads.init()
    ads.configure(2000, 8, 24)
    rows = array("i", [0] * 160)
    for i in range(160):
        rows[i] = (i // 8) * 10_000
    chip.feed(rows, 20)
    ads.start()
    assert chip.start_pin.value() == 1
    clk.sleep_us(5 * 500)
    assert chip.pending() == 5 and chip.overruns == 0
    for k in range(5):
        assert chip.next_index() == k
        read_codes(ads, frame, out)
        assert out[7] == expected_code(k * 10_000, 24)
    clk.sleep_us(12 * 500)
    assert chip.pending() == 8 and chip.overruns == 4 and chip.conversions() == 17
    assert chip.next_index() == 9
    for k in range(9, 17):
        read_codes(ads, frame, out)
        assert out[3] == expected_code(k * 10_000, 24), (k, out[3])
    assert not ads.ready()
    # A long stall: lost conversions still consume input; then the noise floor.
    clk.sleep_us(50_000)
    assert chip.conversions() == 117 and chip.pending() == 8
    assert chip.underruns == 97 and chip.overruns == 4 + 92
    ads.stop()
    assert chip.start_pin.value() == 0
    clean(chip)


def test_fast_rates_keep_time():
    clk, chip, ads = rig(depth=64)
    ads.init()
    ads.configure(16000, 8, 24)
    ads.start()
    clk.sleep_us(1000)
    assert chip.conversions() == 16  # 62.5 us period, no drift
    clk.sleep_us(3)
    assert chip.conversions() == 16
    for _ in range(1000):
        clk.sleep_us(1)
    assert chip.conversions() == 32
    ads.configure(250, 8, 24)
    ads.start()
    clk.sleep_us(1_000_000)
    assert chip.conversions() == 250


def test_internal_test_signal():
    clk, chip, ads = rig()
    ads.init()
    ads.configure(250, 2, 12, test_signal=True)
    ads.start()
    frame = bytearray(27)
    out = array("i", [0] * 8)
    amp = expected_code(1_875_000, 12)  # (VREFP - VREFN) / 2400 at gain 12
    signs = 0
    for _ in range(300):  # ~1 Hz square: 128 samples per half period at 250 SPS
        clk.sleep_us(4000)
        read_codes(ads, frame, out)
        assert abs(out[0]) == amp and out[1] == out[0] and out[2] == 0
        signs |= 1 if out[0] > 0 else 2
    assert signs == 3
    assert chip.regs[drv.REG_CONFIG2] == 0xD0 and chip.regs[drv.REG_CH1SET] == 0x55


def test_read_only_and_reserved_bits():
    clk, chip, ads = rig()
    ads.init()
    ads.write_reg(drv.REG_ID, 0x00)
    ads.write_reg(drv.REG_LOFF_STATP, 0xFF)
    assert ads.read_reg(drv.REG_ID) == 0x3E and ads.read_reg(drv.REG_LOFF_STATP) == 0
    assert chip.ignored_ro == 2
    ads.write_reg(drv.REG_CONFIG1, 0x06)  # reserved bits 7 and 4 must be 1
    assert chip.reserved_violations == 1


def test_unpack_and_scale():
    frame = bytearray(27)
    frame[0] = 0xC0
    codes = (0x7FFFFF, 0x800000, 0xFFFFFF, 0x000001, 0x000000, 0x123456, 0xEDCBAA, 0x400000)
    for ch in range(8):
        c = codes[ch]
        frame[3 + 3 * ch] = c >> 16
        frame[4 + 3 * ch] = (c >> 8) & 0xFF
        frame[5 + 3 * ch] = c & 0xFF
    out = array("i", [99] * 12)
    unpack(frame, out, 2, 8)
    assert list(out) == [99, 99, 8388607, -8388608, -1, 1, 0, 0x123456, -0x123456, 0x400000, 99, 99]
    unpack(frame, out, 0, 2)
    assert out[0] == 8388607 and out[1] == -8388608 and out[2] == 8388607
    for g in drv.GAINS:
        exact = 4.5e15 / (1 << 23) / g
        assert abs(drv.lsb_fv(g) - exact) <= 0.5
        assert drv.lsb_fv(g) < 1 << 30  # a small int on every port
    try:
        drv.lsb_fv(3)
    except ValueError:
        pass
    else:
        raise AssertionError("gain 3 has an LSB")


def _stream(n, ads, chip, clk, nv, frame, out):
    # Measures inside: a call to a function with this many locals allocates its frame.
    read_frame = ads.read_frame
    unpack_ = ads.unpack
    lead_off_ = ads.lead_off
    ready = ads.ready
    feed = chip.feed
    sleep = clk.sleep_us
    got = 0
    i = 0
    gc.collect()
    a = gc.mem_alloc()
    while i < n:
        feed(nv, 1)
        sleep(500)
        if ready():
            read_frame(frame)
            unpack_(frame, out, 0, 8)
            got += lead_off_(frame) + 1
        i += 1
    return gc.mem_alloc() - a, got


def test_read_frame_unpack_allocate_nothing():
    clk, chip, ads = rig(depth=4)
    ads.init()
    ads.configure(2000, 8, 24)
    ads.start()
    nv = array("i", [-3_000_000, 2_000_000, 0, 1, -1, 100_000_000, -100_000_000, 7])
    frame = bytearray(27)
    out = array("i", [0] * 8)
    _stream(4, ads, chip, clk, nv, frame, out)
    used, got = _stream(300, ads, chip, clk, nv, frame, out)
    assert used == 0, used
    assert got == 300
    assert out[0] == expected_code(-3_000_000, 24) and out[5] == expected_code(100_000_000, 24)
    # A burst of lost conversions (the skip path) allocates nothing either.
    gc.collect()
    a = gc.mem_alloc()
    clk.sleep_us(100_000)
    chip.pending()
    assert gc.mem_alloc() - a == 0
    assert chip.overruns > 0
