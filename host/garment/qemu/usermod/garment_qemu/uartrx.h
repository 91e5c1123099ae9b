// The UART receive ring of uartrx.c, for coresleep.c's idle wait.
#include <stdint.h>

// Bytes waiting in the ring.
uint32_t uartrx_any(void);
// Whether uartrx.start() ran (the receive interrupt fills the ring).
int uartrx_started(void);
