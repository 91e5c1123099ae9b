# A late correction onto the AFE model's queued input lands on exactly the conversions
# it names, and never on samples already converted.
from array import array

import vclock  # noqa: F401  (first: the virtual `time`)

from garmentfw.sim.ads1299_model import FakeADS1299
from garmentfw.drivers.ads1299 import ADS1299, unpack


def test_add_input_patches_only_queued_samples():
    chip = FakeADS1299(clock=vclock.ticks_us, depth=64)
    drv = ADS1299(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, start=chip.start_pin,
                  pwdn=chip.pwdn_pin, sleep_us=vclock.sleep_us)
    drv.init()
    drv.configure(1000, 8, 1)
    drv.start()
    base = array("i", [0] * (8 * 20))
    chip.feed(base, 20)
    vclock.advance_us(5000)  # five conversions done: indices 0..4 took their input
    add = array("i", [0] * (8 * 6))
    for i in range(6):
        add[8 * i] = 1_000_000 * (i + 1)  # +1..+6 mV on channel 0
    got = chip.add_input(3, add, 6)  # indices 3, 4 are converted already: only 5..8 patched
    assert got == 4, got
    vclock.advance_us(10000)
    frame = bytearray(27)
    out = array("i", [0] * 8)
    vals = []
    while chip.pending():
        drv.read_frame(frame)
        unpack(frame, out, 0, 8)
        vals.append(out[0])
    lsb_nv = 4_500_000_000 * 2 // (1 << 24)  # gain 1: ~536 nV
    mv = [round(v * lsb_nv / 1e6) for v in vals]
    # the 64-deep output holds conversions 0..14: 5..8 carry +3..+6 mV, the rest ~0
    assert mv[5:9] == [3, 4, 5, 6], mv
    assert all(abs(x) <= 0 for x in mv[:5] + mv[9:15]), mv
