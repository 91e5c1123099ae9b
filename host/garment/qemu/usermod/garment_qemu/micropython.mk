# C additions to MicroPython's qemu port for the garment's emulated boards (passed as
# USER_C_MODULES by garment.qemu.build): the wall-clock hook littlefs needs,
# `hostfile`, read-only access to the host's files over semihosting (a debug probe's
# file channel) so tests read their golden vectors at memory speed, not at UART speed,
# `coresleep`, the idle loop's WFI (the port only busy-polls its UART), `uartrx`,
# the UART's receive interrupt filling a ring (the port polls a one-byte register), and
# `afeclock`, a timer interrupt at the AFE's data rate that runs the chip model's
# conversion and the DRDY capture as a hard IRQ (vectors.c: their RAM vector table).
GARMENT_QEMU_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(GARMENT_QEMU_DIR)/time_ns.c
SRC_USERMOD_C += $(GARMENT_QEMU_DIR)/hostfile.c
SRC_USERMOD_C += $(GARMENT_QEMU_DIR)/coresleep.c
SRC_USERMOD_C += $(GARMENT_QEMU_DIR)/uartrx.c
SRC_USERMOD_C += $(GARMENT_QEMU_DIR)/vectors.c
SRC_USERMOD_C += $(GARMENT_QEMU_DIR)/afeclock.c
