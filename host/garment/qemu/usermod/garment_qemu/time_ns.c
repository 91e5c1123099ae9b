// The qemu port has no real-time clock, but littlefs (MICROPY_VFS_LFS2, the filesystem
// the garment's store uses on ESP32/RP2) stamps files with mp_hal_time_ns(). Time since
// boot stands in for it: file times are never read by the firmware.
#include "py/mphal.h"

uint64_t mp_hal_time_ns(void) {
    return (uint64_t)mp_hal_ticks_us() * 1000u;
}
