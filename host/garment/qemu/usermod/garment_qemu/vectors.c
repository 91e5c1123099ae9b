// One RAM copy of the vector table for the image's interrupt handlers (uartrx.c's UART
// receive, afeclock.c's conversion timer): the port's table is in flash and has none.
#include "vectors.h"

volatile int garment_core_idle;

#if defined(QEMU_SOC_MPS2)
#define SCB_VTOR        (*(volatile uint32_t *)0xE000ED08)
#define N_VECTORS       (16 + 32)

// The vector table's alignment must cover its size rounded up to a power of two.
static uint32_t vectors[N_VECTORS] __attribute__((aligned(256)));
static int installed;

void garment_vector_set(unsigned irq, void (*handler)(void)) {
    if (!installed) {
        const uint32_t *old = (const uint32_t *)SCB_VTOR;
        for (int i = 0; i < 16; i++) {
            vectors[i] = old[i];
        }
        for (int i = 16; i < N_VECTORS; i++) {
            vectors[i] = old[3];  // the HardFault handler: an unexpected interrupt is loud
        }
        SCB_VTOR = (uint32_t)vectors;
        __asm volatile ("dsb\n isb" ::: "memory");
        installed = 1;
    }
    vectors[16 + irq] = (uint32_t)handler;
    __asm volatile ("dsb\n isb" ::: "memory");
}
#endif
