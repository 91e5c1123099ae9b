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
