// uartrx: the UART's receive interrupt fills a ring buffer, as an MCU port's UART driver
// (ESP-IDF's, the RP2's) or USB CDC does. The qemu port only polls UART0's one-byte
// receive register, and qemu's CMSDK UART has no FIFO: a byte waits in that register
// until the firmware reads it, and the next one enters only then. Polled from the main
// loop, that is one byte per loop pass: on a busy core a 540-byte model chunk spent more
// than a second of the garment's clock on the wire, and the garment refused it as held
// back (E_STALE). With the interrupt, bytes are taken as fast as qemu delivers them and
// a pass reads all that came.
//
//   uartrx.start()        install the handler (vectors.c: the RAM vector table) and
//                         enable UART0's receive interrupt; idempotent
//   uartrx.readinto(buf)  move what the ring holds into buf: the count (0: nothing)
//   uartrx.throttled()    how often the ring was full: the handler then leaves the byte
//                         in the register and turns its interrupt off until readinto
//                         made room, so qemu holds the rest in the pty (flow control,
//                         as RTS does on a real UART): no byte is ever dropped
//
// Other boards (RISC-V) have no handler here: readinto then drains the port's stdin
// while bytes wait (still one register's worth per poll).
#include "py/mphal.h"
#include "py/runtime.h"
#include "py/stream.h"

#include "uartrx.h"
#include "vectors.h"

#define RING_SIZE (4096u)  // a power of two; several model chunks

static uint8_t ring[RING_SIZE];
static volatile uint32_t ring_head;  // written by the handler only
static volatile uint32_t ring_tail;  // written by the reader only
static volatile uint32_t ring_throttled;
static int started;

uint32_t uartrx_any(void) {
    return ring_head - ring_tail;
}

#if defined(QEMU_SOC_MPS2)
#define UART0_DATA      (*(volatile uint32_t *)0x40004000)
#define UART0_STATE     (*(volatile uint32_t *)0x40004004)
#define UART0_CTRL      (*(volatile uint32_t *)0x40004008)
#define UART0_INTSTATUS (*(volatile uint32_t *)0x4000400C)
#define NVIC_ISER0      (*(volatile uint32_t *)0xE000E100)
#define NVIC_ICPR0      (*(volatile uint32_t *)0xE000E280)
#define UART0_RX_IRQ    (0)  // MPS2: UART0 receive is external interrupt 0
#define STATE_RXFULL    (1u << 1)
#define CTRL_RX_INTEN   (1u << 3)
#define INT_RX          (1u << 1)

static void uart0_rx_handler(void) {
    // Clear first, then read: a byte that lands after the read raises the line again
    // (qemu puts the next byte in only once this one is read; clearing after the loop
    // could clear that next byte's request and leave it in the register for good).
    while (UART0_STATE & STATE_RXFULL) {
        uint32_t h = ring_head;
        if (h - ring_tail >= RING_SIZE) {  // full: the byte waits in the register
            UART0_CTRL &= ~CTRL_RX_INTEN;
            UART0_INTSTATUS = INT_RX;
            ring_throttled++;
            return;
        }
        UART0_INTSTATUS = INT_RX;
        ring[h & (RING_SIZE - 1)] = (uint8_t)UART0_DATA;
        ring_head = h + 1;
    }
}

static void rx_unthrottle(void) {
    if (!(UART0_CTRL & CTRL_RX_INTEN)) {
        __asm volatile ("cpsid i" ::: "memory");
        UART0_CTRL |= CTRL_RX_INTEN;
        uart0_rx_handler();  // the byte left waiting raised its request while it was off
        __asm volatile ("cpsie i\n isb" ::: "memory");
    }
}

static void rx_start(void) {
    __asm volatile ("cpsid i" ::: "memory");
    garment_vector_set(UART0_RX_IRQ, &uart0_rx_handler);
    UART0_INTSTATUS = INT_RX;
    NVIC_ICPR0 = 1u << UART0_RX_IRQ;
    UART0_CTRL |= CTRL_RX_INTEN;
    NVIC_ISER0 = 1u << UART0_RX_IRQ;
    uart0_rx_handler();  // a byte that came before the interrupt was on raised no request
    __asm volatile ("cpsie i\n isb" ::: "memory");
}

static void rx_poll(void) {
}
#else
static void rx_unthrottle(void) {
}

static void rx_start(void) {
}

static void rx_poll(void) {
    while (mp_hal_stdio_poll(MP_STREAM_POLL_RD) && ring_head - ring_tail < RING_SIZE) {
        ring[ring_head & (RING_SIZE - 1)] = (uint8_t)mp_hal_stdin_rx_chr();
        ring_head++;
    }
}
#endif

int uartrx_started(void) {
    return started;
}

static mp_obj_t uartrx_start_fn(void) {
    if (!started) {
        rx_start();
        started = 1;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(uartrx_start_obj, uartrx_start_fn);

static mp_obj_t uartrx_readinto(mp_obj_t buf_in) {
    mp_buffer_info_t b;
    mp_get_buffer_raise(buf_in, &b, MP_BUFFER_WRITE);
    rx_poll();
    uint32_t t = ring_tail;
    uint32_t n = ring_head - t;
    if (n > b.len) {
        n = b.len;
    }
    uint8_t *dst = b.buf;
    for (uint32_t i = 0; i < n; i++) {
        dst[i] = ring[(t + i) & (RING_SIZE - 1)];
    }
    ring_tail = t + n;
    if (started && n) {
        rx_unthrottle();
    }
    return MP_OBJ_NEW_SMALL_INT(n);
}
static MP_DEFINE_CONST_FUN_OBJ_1(uartrx_readinto_obj, uartrx_readinto);

static mp_obj_t uartrx_throttled(void) {
    return mp_obj_new_int_from_uint(ring_throttled);
}
static MP_DEFINE_CONST_FUN_OBJ_0(uartrx_throttled_obj, uartrx_throttled);

static const mp_rom_map_elem_t uartrx_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_uartrx) },
    { MP_ROM_QSTR(MP_QSTR_start), MP_ROM_PTR(&uartrx_start_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&uartrx_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_throttled), MP_ROM_PTR(&uartrx_throttled_obj) },
};
static MP_DEFINE_CONST_DICT(uartrx_globals, uartrx_globals_table);

const mp_obj_module_t uartrx_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&uartrx_globals,
};
MP_REGISTER_MODULE(MP_QSTR_uartrx, uartrx_module);
