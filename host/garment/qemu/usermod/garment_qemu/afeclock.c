// afeclock: the ADS1299 model's conversion clock as a hardware timer interrupt. A real
// chip converts on its own clock and pulls DRDY low at each conversion, and the MCU's
// DRDY interrupt preempts whatever the loop is doing to read it. Here the chip model is
// Python on the same core, so a CMSDK APB timer of the MPS2 (TIMER0, external interrupt
// 8) fires at the data rate and its handler calls `callback(n)` as MicroPython's hard
// IRQs do (scheduler and GC locked, exceptions caught: shared/runtime/mpirq.c): the
// chip's conversion and the firmware's DRDY handler run there, between any two
// bytecodes of the loop. `n` is the conversions completed since the last call, counted
// on a free-running reference (TIMER1) so that a handler later than one period (the
// interrupt masked, a longer handler) sees n > 1: the chip model then overwrites the
// unread ones, as the real chip does, and counts them. Except when the core was asleep
// (coresleep's WFI): a real core wakes at once for each conversion, but qemu's idle
// guest clock follows the host's (`-icount sleep=on`), and a host that did not run qemu
// for a few ms moves it on in one step; those conversions are handed over one by one
// (`idle_catchup` counts them), since no firmware made them late.
//
//   afeclock.start(callback, hz)  conversions at `hz` from now (restarts the phase)
//   afeclock.stop()               no more conversions
//   afeclock.hold() / release()   mask / unmask the interrupt (nested): the chip model's
//                                 own atomic sections (the loop feeding its input); a
//                                 conversion due meanwhile is taken at release
//   afeclock.stats()              (calls, conversions, late conversions, errors, busy_us,
//                                 idle_catchup)
//   afeclock.busy_us()            microseconds of the core's time in the handler so far
//
// A callback that raises is reported on the console and stopped (as a hard IRQ handler is
// disabled on the MCU ports). Other boards (RISC-V) have no such timer here and no module:
// the board then models the interrupt (sim/afe_irq.py).
#include "py/gc.h"
#include "py/mphal.h"
#include "py/runtime.h"

#include "vectors.h"

#if defined(QEMU_SOC_MPS2)
MP_REGISTER_ROOT_POINTER(mp_obj_t afeclock_callback);

static volatile uint32_t n_calls;
static volatile uint32_t n_conv;
static volatile uint32_t n_late;
static volatile uint32_t n_errors;
static volatile uint64_t isr_cycles;
static volatile uint32_t n_idle_catchup;

#define TIMER0_CTRL     (*(volatile uint32_t *)0x40000000)
#define TIMER0_VALUE    (*(volatile uint32_t *)0x40000004)
#define TIMER0_RELOAD   (*(volatile uint32_t *)0x40000008)
#define TIMER0_INTCLEAR (*(volatile uint32_t *)0x4000000C)
#define TIMER1_CTRL     (*(volatile uint32_t *)0x40001000)
#define TIMER1_VALUE    (*(volatile uint32_t *)0x40001004)
#define TIMER1_RELOAD   (*(volatile uint32_t *)0x40001008)
#define NVIC_ISER0      (*(volatile uint32_t *)0xE000E100)
#define NVIC_ICER0      (*(volatile uint32_t *)0xE000E180)
#define NVIC_ICPR0      (*(volatile uint32_t *)0xE000E280)
#define NVIC_IPR        ((volatile uint8_t *)0xE000E400)
#define TIMER0_IRQ      (8)  // MPS2: CMSDK APB timer 0 is external interrupt 8
#define TIMER0_BIT      (1u << TIMER0_IRQ)
#define CTRL_EN         (1u << 0)
#define CTRL_INTEN      (1u << 3)
#define PCLK_HZ         (25000000u)  // the MPS2's APB clock (the port's CPU_FREQ_HZ)

static uint32_t period;    // timer cycles per conversion
static uint32_t ref_last;  // TIMER1 (counting down) at the last conversion boundary seen
static uint32_t acc;       // cycles past that boundary
static uint32_t holds;

static void dispatch(uint32_t n) {
    mp_obj_t cb = MP_STATE_PORT(afeclock_callback);
    if (cb == MP_OBJ_NULL || cb == mp_const_none) {
        return;
    }
    #if MICROPY_ENABLE_SCHEDULER
    mp_sched_lock();
    #endif
    gc_lock();
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_call_function_1(cb, MP_OBJ_NEW_SMALL_INT(n));
        nlr_pop();
    } else {
        TIMER0_CTRL = 0;
        MP_STATE_PORT(afeclock_callback) = mp_const_none;
        n_errors++;
        mp_printf(MICROPY_ERROR_PRINTER, "Uncaught exception in IRQ callback handler\n");
        mp_obj_print_exception(MICROPY_ERROR_PRINTER, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    gc_unlock();
    #if MICROPY_ENABLE_SCHEDULER
    mp_sched_unlock();
    #endif
}

static void timer0_handler(void) {
    TIMER0_INTCLEAR = 1;
    uint32_t now = TIMER1_VALUE;
    acc += ref_last - now;  // a down counter: elapsed cycles, wrap-safe
    ref_last = now;
    uint32_t n = acc / period;
    acc -= n * period;
    // Re-phase to the next boundary: the timer's own reload period then never drifts
    // from the reference's count (a late handler's lateness is not carried over).
    TIMER0_VALUE = period - acc;
    if (n == 0) {
        return;  // a hair before the boundary: the next interrupt is at it
    }
    n_calls++;
    n_conv += n;
    if (n > 1 && garment_core_idle) {
        n_idle_catchup += n - 1;
        while (n--) {
            dispatch(1);
        }
    } else {
        n_late += n - 1;
        dispatch(n);
    }
    isr_cycles += now - TIMER1_VALUE;  // the reference counts down
}

static void clock_start(uint32_t hz) {
    if (hz == 0 || hz > PCLK_HZ / 1000) {
        mp_raise_ValueError(MP_ERROR_TEXT("afeclock rate out of range"));
    }
    __asm volatile ("cpsid i" ::: "memory");
    garment_vector_set(TIMER0_IRQ, &timer0_handler);
    NVIC_IPR[TIMER0_IRQ] = 0x80;  // below SysTick and the UART: they may preempt it
    TIMER0_CTRL = 0;
    TIMER1_CTRL = 0;
    period = PCLK_HZ / hz;
    TIMER1_RELOAD = 0xFFFFFFFFu;
    TIMER1_VALUE = 0xFFFFFFFFu;
    ref_last = 0xFFFFFFFFu;
    acc = 0;
    TIMER0_RELOAD = period;
    TIMER0_VALUE = period;
    TIMER0_INTCLEAR = 1;
    NVIC_ICPR0 = TIMER0_BIT;
    TIMER1_CTRL = CTRL_EN;
    TIMER0_CTRL = CTRL_EN | CTRL_INTEN;
    if (!holds) {
        NVIC_ISER0 = TIMER0_BIT;
    }
    __asm volatile ("cpsie i\n isb" ::: "memory");
}

static void clock_stop(void) {
    TIMER0_CTRL = 0;
    NVIC_ICER0 = TIMER0_BIT;
    NVIC_ICPR0 = TIMER0_BIT;
}

static void clock_hold(void) {
    NVIC_ICER0 = TIMER0_BIT;
    __asm volatile ("dsb\n isb" ::: "memory");
    holds++;
}

static void clock_release(void) {
    if (holds && --holds == 0 && (TIMER0_CTRL & CTRL_EN)) {
        NVIC_ISER0 = TIMER0_BIT;  // a pending conversion is taken here
        __asm volatile ("isb" ::: "memory");
    }
}

static mp_obj_t afeclock_start(mp_obj_t cb_in, mp_obj_t hz_in) {
    mp_int_t hz = mp_obj_get_int(hz_in);
    if (!mp_obj_is_callable(cb_in)) {
        mp_raise_TypeError(MP_ERROR_TEXT("callback must be callable"));
    }
    clock_stop();
    MP_STATE_PORT(afeclock_callback) = cb_in;
    clock_start(hz < 0 ? 0 : (uint32_t)hz);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(afeclock_start_obj, afeclock_start);

static mp_obj_t afeclock_stop(void) {
    clock_stop();
    MP_STATE_PORT(afeclock_callback) = mp_const_none;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(afeclock_stop_obj, afeclock_stop);

static mp_obj_t afeclock_hold(void) {
    clock_hold();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(afeclock_hold_obj, afeclock_hold);

static mp_obj_t afeclock_release(void) {
    clock_release();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(afeclock_release_obj, afeclock_release);

static mp_obj_t afeclock_stats(void) {
    mp_obj_t t[6] = {
        mp_obj_new_int_from_uint(n_calls), mp_obj_new_int_from_uint(n_conv),
        mp_obj_new_int_from_uint(n_late), mp_obj_new_int_from_uint(n_errors),
        mp_obj_new_int_from_ull(isr_cycles / (PCLK_HZ / 1000000u)),
        mp_obj_new_int_from_uint(n_idle_catchup),
    };
    return mp_obj_new_tuple(6, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(afeclock_stats_obj, afeclock_stats);

static mp_obj_t afeclock_busy_us(void) {
    return mp_obj_new_int_from_ull(isr_cycles / (PCLK_HZ / 1000000u));
}
static MP_DEFINE_CONST_FUN_OBJ_0(afeclock_busy_us_obj, afeclock_busy_us);

static const mp_rom_map_elem_t afeclock_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_afeclock) },
    { MP_ROM_QSTR(MP_QSTR_start), MP_ROM_PTR(&afeclock_start_obj) },
    { MP_ROM_QSTR(MP_QSTR_stop), MP_ROM_PTR(&afeclock_stop_obj) },
    { MP_ROM_QSTR(MP_QSTR_hold), MP_ROM_PTR(&afeclock_hold_obj) },
    { MP_ROM_QSTR(MP_QSTR_release), MP_ROM_PTR(&afeclock_release_obj) },
    { MP_ROM_QSTR(MP_QSTR_stats), MP_ROM_PTR(&afeclock_stats_obj) },
    { MP_ROM_QSTR(MP_QSTR_busy_us), MP_ROM_PTR(&afeclock_busy_us_obj) },
};
static MP_DEFINE_CONST_DICT(afeclock_globals, afeclock_globals_table);

const mp_obj_module_t afeclock_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&afeclock_globals,
};
MP_REGISTER_MODULE(MP_QSTR_afeclock, afeclock_module);
#endif
