# Eight ADS1299s in daisy-chain mode (the HD garment) behind the real driver, on a
# virtual clock: one CS, the chain's frames through chip 1's DOUT, RREG on chip 1 only.
import gc
from array import array

import vclock  # noqa: F401  (first: the virtual `time`)

from garmentfw.sim.ads1299_chain import FakeDaisyChain
from garmentfw.sim.ads1299_model import FakeADS1299
from garmentfw.drivers.ads1299 import ADS1299, ADS1299Error, FCLK_HD_HZ, chain_ok


def rig(n_chips=8, driver_chips=None, depth=4, fclk=FCLK_HD_HZ, chip_id=0x3E):
    vclock.start(us=0)
    c = FakeDaisyChain(n_chips, clock=vclock.ticks_us, depth=depth, fclk_hz=fclk, chip_id=chip_id)
    d = ADS1299(c.spi, c.cs, c.drdy, reset=c.reset_pin, start=c.start_pin, pwdn=c.pwdn_pin,
                sleep_us=vclock.sleep_us, n_chips=driver_chips or n_chips, fclk_hz=fclk)
    d.init()
    return c, d


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return str(e)
    raise AssertionError("%s not raised" % exc.__name__)


def code(nv):  # gain 24: round(nv * 24 * 2^23 / 4.5e9)
    q = (abs(nv) * 24 * (1 << 24) + 4_500_000_000) // 9_000_000_000
    return -q if nv < 0 else q


def test_chain_of_eight_streams_64_channels_at_2048():
    c, d = rig()
    d.configure(2048, 64, 24)
    assert d.n_ch == 64 and d.per_chip == 8 and c.fs() == 2048
    nv = array("i", [(i * 7919 % 4001 - 2000) * 37 for i in range(64 * 40)])
    assert c.feed(nv, 40) == 40
    d.start()
    fr = bytearray(d.frame_bytes)
    out = array("i", bytes(4 * 64))
    vclock.sleep_us(1_000_000 * 40 // 2048 + 1)  # 40 conversions at 2048 SPS
    assert c.conversions() == 40
    assert c.pending() == 4 and c.overruns == 36
    k = 36
    while d.ready():
        assert d.read_frame(fr) and d.frame_ok(fr)
        d.unpack(fr, out, 0, 64)
        for i in range(64):  # input i is chip i // 8, channel i % 8: chip-major
            assert out[i] == code(nv[k * 64 + i]), (k, i, out[i])
        k += 1
    assert k == 40


def test_registers_broadcast_and_rreg_reads_chip_one_only():
    c, d = rig()
    d.configure(2048, 32, 24)  # 4 channels on every chip
    for chip in c.chips:
        assert chip.regs[1:] == c.chips[0].regs[1:]  # one WREG programmed all of them
        assert chip.regs[0x05] & 0x80 == 0 and chip.regs[0x09] & 0x80  # CH1..4 on, CH5 off
    c.chips[3].regs[0] = 0x00  # chip 4's ID is invisible: its DOUT goes into chip 3's DAISY_IN
    d.stop()
    assert d.read_reg(0) == 0x3E
    assert raises(ValueError, d.configure, 2048, 30, 24)  # not 8 x m channels


def test_a_missing_chip_is_named():
    c, d = rig()
    c.fit(2, False)
    msg = raises(ADS1299Error, d.configure, 2048, 64, 24)
    assert "chip 3 of 8" in msg, msg


def test_a_longer_chain_than_configured_is_refused():
    c, d = rig(n_chips=8, driver_chips=4)
    msg = raises(ADS1299Error, d.configure, 2048, 32, 24)
    assert "more chips" in msg, msg
    c2, d2 = rig(n_chips=4, driver_chips=4)
    d2.configure(2048, 32, 24)  # DAISY_IN of the last chip reads 0: accepted


def test_past_the_chain_reads_zero_and_readback_mode_hides_the_chain():
    c, d = rig(n_chips=2)
    d.configure(2048, 16, 24)
    d.start()
    vclock.sleep_us(600)
    buf = bytearray(27 * 3)
    c.cs.off()
    c.spi.readinto(buf, 0)
    c.cs.on()
    assert chain_ok(buf, 2) and bytes(buf[54:]) == bytes(27)
    d.stop()
    d.write_reg(0x01, d.read_reg(0x01) | 0x40)  # DAISY_EN' = 1: multiple readback
    d.start()
    vclock.sleep_us(600)
    c.cs.off()
    c.spi.readinto(buf, 0)
    c.cs.on()
    assert buf[27:54] == buf[0:27] and buf[54:] == buf[0:27]  # chip 1 repeats itself


def test_clock_range_and_rates():
    assert raises(ValueError, FakeADS1299, clock=vclock.ticks_us, fclk_hz=2_400_000)  # tCLK < 444 ns
    c, d = rig()
    msg = raises(ValueError, d.configure, 2000, 64, 24)  # 2000 SPS needs the 2.048 MHz clock
    assert "2048" in msg, msg
    assert d.fs_allowed[:4] == (256, 512, 1024, 2048)


def test_lead_off_names_the_chip():
    c, d = rig()
    d.configure(2048, 64, 24)
    c.set_lead_off(21, True, False)  # chip 3, channel 6
    d.start()
    vclock.sleep_us(600)
    fr = bytearray(d.frame_bytes)
    d.read_frame(fr)
    assert d.lead_off(fr) == 1 << 2


def test_chain_frame_read_allocates_nothing():
    c, d = rig(depth=64)
    d.configure(2048, 64, 24)
    nv = array("i", bytes(4 * 64 * 64))
    c.feed(nv, 64)
    d.start()
    fr = bytearray(d.frame_bytes)
    out = array("i", bytes(4 * 64))
    vclock.sleep_us(20_000)
    d.read_frame(fr)
    d.unpack(fr, out, 0, 64)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(20):
        d.read_frame(fr)
        d.unpack(fr, out, 0, 64)
        d.lead_off(fr)
    assert gc.mem_alloc() - before == 0
