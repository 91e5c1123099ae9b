# The `qemu` board: the firmware on MicroPython's qemu port, an emulated 32-bit MCU core
# (Cortex-M7 MPS2-AN500 by default; Cortex-M3 and RV32 builds too). What a real board
# has in hardware is simulated here as on the sim board: the real ADS1299 driver on the
# register-level chip model (one conversion held, as the chip), the simulated current
# source, and the store on littlefs in a RAM block device (the port has no flash
# filesystem). The AFE is captured as on an MCU: a hardware timer of the core (CMSDK
# TIMER0, `afeclock`, a C addition of the image) interrupts at the data rate, and its
# handler, a hard IRQ between any two bytecodes of the loop, runs the chip's conversion
# (the chip's own clock) and the firmware's DRDY capture (garmentfw/capture.py) into the
# device's ring (1024 conversions, the MCU boards'). A handler later than one period
# finds the older conversion overwritten (counted). An image without the timer (RV32)
# models the interrupt as the sim board does (sim/afe_irq.py). The link is the board's UART: the framed protocol over the
# REPL's stdin/stdout, which the host reaches through a pty (`--device qemu`).
# There is no rig port (the UART is the only I/O): the chip model's noise floor and
# its internal test signal are the EMG. Idle, the core sleeps (WFI) until a UART byte or
# the next tick (`coresleep`, a C addition of the image), as an MCU's idle loop does.
# The UART's receive interrupt fills a ring (`uartrx`, a C addition too), as an MCU
# port's UART driver does: polled, qemu's one-byte receive register gave the loop one
# byte per pass, and on a busy core a model chunk then spent over a second of the
# garment's clock on the wire (refused as held back, E_STALE).
import time

import vfs
from micropython import const

from garmentfw.boards.stdio_link import StdioLink
from garmentfw.capture import DrdyCapture
from garmentfw.drivers.ads1299 import ADS1299
from garmentfw.montage import CYCLING_SHORTS
from garmentfw.sim.ads1299_model import FakeADS1299
from garmentfw.sim.afe_irq import SimDrdyIrq
from garmentfw.sim.stimulator import SimStimulator
from garmentfw.store import Store

_BLOCK = const(512)
# 192 kB of the heap: models, calibration and keys with their previous copies fit.
_BLOCKS = const(384)
_MOUNT = "/flash"

try:
    from coresleep import wait as _core_sleep  # type: ignore[import-not-found]
except ImportError:  # an image without it: the link's busy poll
    _core_sleep = None

try:
    import uartrx as _uartrx  # type: ignore[import-not-found]
except ImportError:  # an image without it: the port's polled UART
    _uartrx = None

try:
    import afeclock as _afeclock  # type: ignore[import-not-found]
except ImportError:  # an image without the timer: the interrupt modelled (sim/afe_irq.py)
    _afeclock = None


class TimerDrdyCapture(DrdyCapture):
    """The DRDY capture with the chip model's conversions on a hardware timer interrupt.

    ``afeclock`` calls ``chip.tick(n)`` as a hard IRQ at the data rate: the chip converts
    (n > 1: the handler came late, the older ones are overwritten and counted) and its
    DRDY edge runs ``_edge``, which moves the held conversion into the ring. The loop's
    accesses to the chip mask that interrupt (``chip.drive``). Allocation-free.
    """

    def __init__(self, chip, driver, gain: int = 24):
        super().__init__(driver, gain)
        self.chip = chip
        self._starting = False
        self._next = 0  # the conversion the next edge should hold
        chip.drive(_afeclock.hold, _afeclock.release)
        chip.drdy.irq(self._edge, trigger=1, hard=True)

    def _edge(self, _pin) -> None:
        # DRDY fell: conversion (conversions since START) - 1 is held; those since the
        # last edge before it were overwritten unread (the handler came late): counted.
        i = self.chip.conversions() - 1
        if self._on and i > self._next:
            self.lost(i - self._next)
        self._next = i + 1
        self.on_drdy(i)

    def configure(self, fs: int, n_ch: int) -> None:
        # The clock stops while the chip is set up and starts on the loop's next poll,
        # once the device has reset its ring for the new stride (the ring's producer
        # must not run under that reset).
        _afeclock.stop()
        super().configure(fs, n_ch)
        self._next = 0  # START restarted the chip's count
        self._starting = True

    def poll(self, ring) -> int:
        if self._starting:
            self._starting = False
            _afeclock.start(self.chip.tick, self.chip.fs())  # the rate CONFIG1 now says
        return 0


class UartLink(StdioLink):
    """The UART as the link, its bytes received by interrupt into a ring (``uartrx``)."""

    def __init__(self):
        super().__init__()
        _uartrx.start()
        self._read = _uartrx.readinto

    def readinto(self, buf) -> int:
        return self._read(buf)


class RamBlockDevice:
    """A block device in RAM for littlefs (MicroPython's extended block protocol)."""

    def __init__(self, block_size: int, blocks: int):
        self.block_size = block_size
        self.data = bytearray(block_size * blocks)

    def readblocks(self, block: int, buf, offset: int = 0) -> None:
        a = block * self.block_size + offset
        buf[:] = memoryview(self.data)[a:a + len(buf)]

    def writeblocks(self, block: int, buf, offset: int = 0) -> None:
        a = block * self.block_size + offset
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op: int, arg: int):
        if op == 4:  # block count
            return len(self.data) // self.block_size
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase
            return 0
        return None


def mount_ram_flash(path: str = _MOUNT, blocks: int = _BLOCKS) -> str:
    """Format and mount a littlefs in RAM at ``path`` (already mounted: kept)."""
    try:
        import os

        os.stat(path)
        return path
    except OSError:
        pass
    bdev = RamBlockDevice(_BLOCK, blocks)
    # The stubs type block devices as their AbstractBlockDev, which MicroPython has not:
    # any object with readblocks/writeblocks/ioctl is one.
    vfs.VfsLfs2.mkfs(bdev)  # type: ignore[arg-type]
    vfs.mount(vfs.VfsLfs2(bdev), path)  # type: ignore[abstract, arg-type]
    return path


class Board:
    NAME = "qemu"
    MONTAGE = CYCLING_SHORTS
    AFE_NAME = "ADS1299 (register-level model on an emulated core)"

    def __init__(self):
        self.state_dir = mount_ram_flash() + "/garment"
        self.store = Store(self.state_dir)
        self.chip = FakeADS1299(depth=1)
        chip = self.chip
        drv = ADS1299(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, start=chip.start_pin, pwdn=chip.pwdn_pin)
        drv.init()
        self.afe = SimDrdyIrq(chip, drv).afe if _afeclock is None else TimerDrdyCapture(chip, drv)
        self.link = StdioLink() if _uartrx is None else UartLink()
        self.stim = SimStimulator(chip, n_channels=4)

    def uid(self) -> str:
        return "qemu-00000001"

    def battery_mv(self) -> int:
        return self.stim.battery_mv

    def service(self) -> None:
        pass

    def idle(self, ms: int) -> None:
        if _core_sleep is None:
            self.link.wait(ms)
        else:
            _core_sleep(ms)

    def safe_state(self) -> None:
        self.stim.all_off()

    def reinit(self) -> None:
        time.sleep_ms(100)
