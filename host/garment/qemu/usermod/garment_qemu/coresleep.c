// coresleep.wait(ms): sleep the core (WFI) until a byte waits on the UART or `ms` have
// passed, as an MCU's idle loop does, instead of the port's busy poll of the UART. Under
// qemu that matters twice: an idle guest costs the host no CPU, and under `-icount
// sleep=on` (qemu's default) idle guest time passes at the host's pace, so the live
// garment's clock keeps up with the host's whenever the host keeps up with its work.
// Once `uartrx.start()` ran, the UART's receive interrupt has a handler that fills a ring
// (uartrx.c) and the core sleeps until that ring holds a byte. Before (the raw REPL's
// polled UART), the receive interrupt (MPS2 UART0 RX, IRQ 0) only wakes the core: it is
// enabled in the NVIC only while interrupts are masked (PRIMASK), so it is never taken.
// SysTick (1 ms) wakes it too and is taken.
#include "py/mphal.h"
#include "py/runtime.h"
#include "py/stream.h"

#include "uartrx.h"
#include "vectors.h"

#if defined(QEMU_SOC_MPS2)
#define UART0_STATE     (*(volatile uint32_t *)0x40004004)
#define UART0_CTRL      (*(volatile uint32_t *)0x40004008)
#define UART0_INTSTATUS (*(volatile uint32_t *)0x4000400C)
#define NVIC_ISER0      (*(volatile uint32_t *)0xE000E100)
#define NVIC_ICER0      (*(volatile uint32_t *)0xE000E180)
#define NVIC_ICPR0      (*(volatile uint32_t *)0xE000E280)
#define UART0_RX_IRQ_BIT (1u << 0)
#define STATE_RXFULL    (1u << 1)
#define CTRL_RX_INTEN   (1u << 3)
#define INT_RX          (1u << 1)

static int rx_waiting(void) {
    if (uartrx_started()) {
        return uartrx_any() != 0;
    }
    return (UART0_STATE & STATE_RXFULL) != 0;
}

static void sleep_until_interrupt(void) {
    __asm volatile ("cpsid i" ::: "memory");
    garment_core_idle = 1;        // the interrupts taken at the wake-up see it
    if (uartrx_started()) {       // the handler is armed: a pending byte wakes the WFI
        if (!rx_waiting()) {
            __asm volatile ("dsb\n wfi" ::: "memory");
        }
        __asm volatile ("cpsie i\n isb" ::: "memory");
        garment_core_idle = 0;
        return;
    }
    UART0_CTRL |= CTRL_RX_INTEN;
    UART0_INTSTATUS = INT_RX;      // an old receive: its line low before it is armed
    NVIC_ICPR0 = UART0_RX_IRQ_BIT;
    NVIC_ISER0 = UART0_RX_IRQ_BIT;
    if (!rx_waiting()) {           // a byte that came before the interrupt was on
        __asm volatile ("dsb\n wfi" ::: "memory");
    }
    NVIC_ICER0 = UART0_RX_IRQ_BIT;
    UART0_INTSTATUS = INT_RX;
    NVIC_ICPR0 = UART0_RX_IRQ_BIT;
    __asm volatile ("cpsie i\n isb" ::: "memory");
    garment_core_idle = 0;
}
#else
// Other emulated boards: the port's busy poll (no sleep).
static int rx_waiting(void) {
    return uartrx_any() != 0 || mp_hal_stdio_poll(MP_STREAM_POLL_RD) != 0;
}

static void sleep_until_interrupt(void) {
}
#endif

static mp_obj_t coresleep_wait(mp_obj_t ms_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    mp_uint_t t0 = mp_hal_ticks_ms();
    while (!rx_waiting() && (mp_int_t)(mp_hal_ticks_ms() - t0) < ms) {
        sleep_until_interrupt();
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(coresleep_wait_obj, coresleep_wait);

static const mp_rom_map_elem_t coresleep_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_coresleep) },
    { MP_ROM_QSTR(MP_QSTR_wait), MP_ROM_PTR(&coresleep_wait_obj) },
};
static MP_DEFINE_CONST_DICT(coresleep_globals, coresleep_globals_table);

const mp_obj_module_t coresleep_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&coresleep_globals,
};
MP_REGISTER_MODULE(MP_QSTR_coresleep, coresleep_module);
