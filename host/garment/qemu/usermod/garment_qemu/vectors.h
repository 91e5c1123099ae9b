// The RAM copy of the vector table the C additions install their interrupt handlers in.
#include <stdint.h>

#if defined(QEMU_SOC_MPS2)
// Point external interrupt `irq`'s vector at `handler` (the first call moves the table
// to RAM: the port's is in flash). Call with interrupts masked.
void garment_vector_set(unsigned irq, void (*handler)(void));
#endif

// Non-zero while the core sleeps in coresleep's WFI (an interrupt taken at its wake-up
// sees it set): under qemu's `-icount sleep=on` an idle guest's clock follows the host's,
// so a host that did not run qemu for a while moves it on in one step there.
extern volatile int garment_core_idle;
