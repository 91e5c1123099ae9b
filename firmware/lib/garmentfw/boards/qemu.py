# The `qemu` board: the firmware on MicroPython's qemu port, an emulated 32-bit MCU core
# (Cortex-M7 MPS2-AN500 by default; Cortex-M3 and RV32 builds too). What a real board
# has in hardware is simulated here as on the sim board: the real ADS1299 driver on the
# register-level chip model (its own conversion clock, one conversion held), the
# simulated current source, and the store on littlefs in a RAM block device (the port
# has no flash filesystem). The link is the board's UART: the framed protocol over the
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

from garmentfw.afe import Ads1299Source
from garmentfw.boards.stdio_link import StdioLink
from garmentfw.drivers.ads1299 import ADS1299
from garmentfw.montage import CYCLING_SHORTS
from garmentfw.sim.ads1299_model import FakeADS1299
from garmentfw.sim.stimulator import SimStimulator
from garmentfw.store import Store

_BLOCK = const(512)
# 192 kB of the heap: models, calibration and keys with their previous copies fit.
_BLOCKS = const(384)
_MOUNT = "/flash"
# An MCU's DRDY capture ring, not the unix sim's 0.5 s cushion: 64 conversions (32 ms
# at 2 kHz) is what the MCU boards' capture rings hold.
_AFE_FIFO = const(64)

try:
    from coresleep import wait as _core_sleep  # type: ignore[import-not-found]
except ImportError:  # an image without it: the link's busy poll
    _core_sleep = None

try:
    import uartrx as _uartrx  # type: ignore[import-not-found]
except ImportError:  # an image without it: the port's polled UART
    _uartrx = None


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
        self.chip = FakeADS1299(depth=_AFE_FIFO)
        chip = self.chip
        drv = ADS1299(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, start=chip.start_pin, pwdn=chip.pwdn_pin)
        drv.init()
        self.afe = Ads1299Source(drv, chip.pending, chip.next_index)
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
