// The RAM copy of the vector table the C additions install their interrupt handlers in.
#include <stdint.h>

#if defined(QEMU_SOC_MPS2)
// Point external interrupt `irq`'s vector at `handler` (the first call moves the table
// to RAM: the port's is in flash). Call with interrupts masked.
void garment_vector_set(unsigned irq, void (*handler)(void));
#endif
