# The reference board's DRDY capture (boards/esp32s3_capture.py) on the ADS1299 model as
# the chip is (one conversion held) and fakes of the esp32 port as it is (fake_esp32: a
# Pin.irq handler is SCHEDULED, run at the VM's next pending check from an 8-deep
# queue; a PCNT counts DRDY edges in hardware). What the tests hold: a handler that
# runs within a conversion period rings every conversion, indexed by the AFE's clock;
# the ring covers a long loop pass; a late handler, a full ring or a PCNT wrap never
# lose a conversion silently (counted, and a gap in the indices).
import gc
from array import array

import vclock  # noqa: F401  (first: the virtual `time`)
import fake_esp32 as F

F.install(sense_pins=(42, 47), amplitude=16, sense_v=2, sense_i=3)

from garmentfw.boards.esp32s3_capture import PCNT_DRDY, PCNT_MOD, Esp32s3Capture  # noqa: E402
from garmentfw.drivers.ads1299 import ADS1299  # noqa: E402
from garmentfw.ring import SampleRing  # noqa: E402
from garmentfw.sim.ads1299_model import FakeADS1299  # noqa: E402

PERIOD_US = 500  # 2 kHz


def _rig(ring_slots=256, pcnt_start=0):
    chip = FakeADS1299(clock=vclock.ticks_us, depth=1)
    drv = ADS1299(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, start=chip.start_pin,
                  pwdn=chip.pwdn_pin, sleep_us=vclock.sleep_us)
    drv.init()
    line = F.DrdyLine(chip)
    cap = Esp32s3Capture(drv, line, F.DrdyLine.IRQ_FALLING)
    F.PCNT.units[PCNT_DRDY].base -= pcnt_start  # the unit's count as if it had run before
    ring = SampleRing(ring_slots, 8)
    cap.attach(ring)
    cap.configure(2000, 8)
    ring.reset(8)
    return chip, cap, ring


def _feed(chip, n):
    # channel 0 carries the sample's number (in 100 nV steps), so order is checkable
    nv = array("i", bytes(4 * 8 * n))
    for i in range(n):
        nv[8 * i] = i * 100
    chip.feed(nv, n)


def _conversions(chip, n, handler_every=1):
    """n conversion periods; the VM reaches a pending check every ``handler_every``."""
    for i in range(n):
        vclock.advance_us(PERIOD_US)
        chip.conversions()  # the hardware is up to date: edges so far raised their ISR
        if (i + 1) % handler_every == 0:
            F.run_scheduled()


def _drain(ring):
    out = array("i", bytes(4 * 8 * 20))
    runs = []
    while True:
        k = ring.take(out, 20)
        if not k:
            return runs
        if runs and runs[-1][0] + runs[-1][1] == ring.first_index:
            runs[-1][1] += k
        else:
            runs.append([ring.first_index, k])


def test_a_prompt_handler_rings_every_conversion_with_the_afe_index():
    chip, cap, ring = _rig()
    _feed(chip, 300)
    _conversions(chip, 200)
    assert ring.count() == 200
    out = array("i", bytes(4 * 8 * 20))
    k = ring.take(out, 20)
    assert k == 20 and ring.first_index == 0
    lsb = [FakeADS1299.nv_to_code(i * 100, 24) for i in range(20)]
    assert [out[8 * i] for i in range(20)] == lsb  # the conversions, in order
    assert _drain(ring) == [[20, 180]]
    assert cap.overruns == 0 and cap.count == 200 and chip.overruns == 0


def test_the_ring_covers_a_long_loop_pass():
    chip, cap, ring = _rig(ring_slots=256)
    _feed(chip, 300)
    _conversions(chip, 240)  # 120 ms in which the loop never consumed
    assert _drain(ring) == [[0, 240]] and cap.overruns == 0


def test_a_full_ring_is_a_counted_gap():
    chip, cap, ring = _rig(ring_slots=64)
    _conversions(chip, 100)
    assert cap.overruns == 36
    runs = _drain(ring)
    assert runs == [[0, 64]]
    _conversions(chip, 10)
    assert _drain(ring) == [[100, 10]]  # the 36 missing are a gap in the indices


def test_a_late_handler_loses_conversions_counted_never_silently():
    chip, cap, ring = _rig()
    _conversions(chip, 20, handler_every=20)  # the handler ran 10 ms late
    # the chip held only the newest; 8 scheduled calls fitted the queue, the rest lost
    assert F.SCHED[2] >= 12
    assert cap.overruns == 19
    assert _drain(ring) == [[19, 1]]
    _conversions(chip, 5)
    assert _drain(ring) == [[20, 5]] and cap.overruns == 19


def test_the_pcnt_wrap_keeps_the_index_continuous():
    chip, cap, ring = _rig(pcnt_start=PCNT_MOD - 5)
    _conversions(chip, 20)
    assert _drain(ring) == [[0, 20]] and cap.overruns == 0


def test_capture_allocates_nothing():
    chip, cap, ring = _rig()
    _feed(chip, 400)
    _conversions(chip, 20)
    out = array("i", bytes(4 * 8 * 20))
    while ring.take(out, 20):
        pass
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(100):
        vclock.advance_us(PERIOD_US)
        chip.conversions()
        F.run_scheduled()
    used = gc.mem_alloc() - before
    assert used == 0, used
    assert ring.count() == 100


def test_the_port_refuses_a_hard_pin_interrupt():
    # the esp32 port's Pin.irq has no `hard` keyword: the capture must not pass it
    p = F.Pin(9, F.Pin.IN)
    try:
        p.irq(handler=None, trigger=F.Pin.IRQ_FALLING, hard=True)
    except TypeError:
        return
    assert False, "the fake accepted hard=True"
