# The sim board's clock on virtual time (sim/clock.py): frozen until advanced, ms and us in
# step, sleeps advance it, it wraps at 2**30 like an MCU's, reading and advancing allocate
# nothing, and handing it back to the wall clock never jumps back.
import gc

from garmentfw.sim import clock

MASK = (1 << 30) - 1


def _fresh(ms, us):
    clock.go_real()
    clock.start(ms, us)
    clock.go_virtual()


def test_virtual_time_stands_still_until_advanced():
    _fresh(1000, 5000)
    a, b = clock.ticks_ms(), clock.ticks_us()
    for _ in range(2000):
        pass
    assert clock.ticks_ms() == a and clock.ticks_us() == b
    clock.advance(2500)
    assert clock.ticks_us() == (b + 2500) & MASK
    assert clock.ticks_diff(clock.ticks_ms(), a) == 2
    clock.advance(500)
    assert clock.ticks_diff(clock.ticks_ms(), a) == 3  # the carried 500 us completes a ms
    clock.go_real()


def test_sleeps_advance_virtual_time_instead_of_waiting():
    _fresh(0, 0)
    a, b = clock.ticks_ms(), clock.ticks_us()
    clock.sleep_ms(250)
    clock.sleep_us(40)
    assert clock.ticks_diff(clock.ticks_ms(), a) == 250 and clock.ticks_diff(clock.ticks_us(), b) == 250040
    clock.go_real()


def test_virtual_time_wraps_at_2_30():
    _fresh(MASK - 20, MASK - 19_999)
    a, b = clock.ticks_ms(), clock.ticks_us()
    clock.advance(50_000)
    assert clock.ticks_us() == (b + 50_000) & MASK and clock.ticks_us() < b  # wrapped
    assert clock.ticks_diff(clock.ticks_ms(), a) == 50 and clock.ticks_ms() < a
    clock.go_real()


def test_back_to_the_wall_clock_from_where_virtual_time_stood():
    _fresh(10, 10)
    clock.advance(7_000_000)
    v = clock.ticks_ms()
    clock.go_real()
    assert not clock.is_virtual()
    d = clock.ticks_diff(clock.ticks_ms(), v)
    assert 0 <= d < 50, d


def test_reading_and_advancing_allocate_nothing():
    _fresh(0, 0)
    clock.advance(1)
    clock.ticks_ms()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(200):
        clock.advance(2000)
        clock.ticks_ms()
        clock.ticks_us()
    assert gc.mem_alloc() - before == 0
    clock.go_real()


# Interrupts at clock reads (the sim board's DRDY): the chip model reports when its next
# conversion is due; a clock read at or after that runs the handler first, once per due
# conversion, never before, never recursively, allocation-free; virtual time stays exact.
def _chip_on_the_clock(fs_reg=0x96):
    from garmentfw.drivers.ads1299 import ADS1299
    from garmentfw.sim.ads1299_model import FakeADS1299

    chip = FakeADS1299(clock=clock.ticks_us, depth=1)
    drv = ADS1299(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, start=chip.start_pin, pwdn=chip.pwdn_pin)
    clock.advance(200000)  # tPOR
    drv.init()
    seen = []
    depth = [0, 0]  # now, deepest

    def edge(_pin):
        depth[0] += 1
        depth[1] = max(depth[1], depth[0])
        clock.ticks_ms()  # a handler that reads the clock itself must not recurse
        seen.append(chip._conv_total)
        depth[0] -= 1

    chip.drdy.irq(edge, trigger=1, hard=True)
    clock.interrupts(chip.conversions)
    chip.report_due(clock.due_at)
    return chip, drv, seen, depth


def _off(chip):
    clock.interrupts(None)
    chip.report_due(None)
    clock.go_real()


def test_drdy_interrupts_fire_at_clock_reads_when_due_and_not_before():
    _fresh(0, 0)
    chip, drv, seen, depth = _chip_on_the_clock()
    drv.configure(2000, 8)
    drv.start()
    n0 = len(seen)
    clock.advance(499)
    clock.ticks_us()
    assert len(seen) == n0  # the first conversion is due 500 us after START
    clock.advance(1)
    clock.ticks_us()
    assert len(seen) == n0 + 1
    clock.advance(2500)
    assert len(seen) == n0 + 1  # nothing reads the clock: nothing fires
    clock.ticks_ms()  # a ms read runs them too
    assert seen[n0:] == [1, 2, 3, 4, 5, 6], seen[n0:]  # each in its own interrupt, in order
    assert depth[1] == 1  # the handler's own clock read did not recurse
    _off(chip)


def test_a_clock_read_with_nothing_due_allocates_nothing_and_a_due_one_neither():
    _fresh(0, 0)
    chip, drv, seen, depth = _chip_on_the_clock()
    chip.drdy.irq(lambda _p: None, trigger=1, hard=True)  # a handler that allocates nothing
    drv.configure(2000, 8)
    drv.start()
    clock.advance(1000)
    clock.ticks_us()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(200):
        clock.ticks_us()  # none due
        clock.advance(250)
        clock.ticks_ms()  # every other read: one due
    assert gc.mem_alloc() - before == 0
    assert chip.conversions() >= 100
    _off(chip)
