# The `sim-hd` board: the HD-EMG garment on the MicroPython unix port. Eight ADS1299s in
# daisy-chain mode (one CS, CONFIG1 DAISY_EN' = 0, on an external 2.097152 MHz clock:
# 2048 SPS) behind the real driver, a monopolar 13 x 5 grid at 8 mm over vastus
# lateralis (64 electrodes, the first corner empty), the link and rig port of the sim
# board. EMG only: no stimulator (the EMG guard and artefact stage are 8-channel stages).
# Raw 64-channel streaming is USB only; over BLE the device refuses it (device.py).
from garmentfw.boards import sim
from garmentfw.drivers.ads1299 import ADS1299, FCLK_HD_HZ
from garmentfw.montage import HD_GRID, grid_labels
from garmentfw.sim.ads1299_chain import FakeDaisyChain
from garmentfw.sim.afe_irq import SimDrdyIrq
from garmentfw import wire

_CHIPS = 8
_INPUT = 4096  # per chip: the electrode input queue (2 s at 2048 SPS)


class Board(sim.Board):
    NAME = "sim-hd"
    AFE_NAME = "8 x ADS1299 daisy chain (register-level model), fCLK 2.097152 MHz"
    GRID = {"rows": HD_GRID[0], "cols": HD_GRID[1], "ied_mm": HD_GRID[2], "absent": list(HD_GRID[3]),
            "muscle": HD_GRID[4]}
    MONTAGE = grid_labels(HD_GRID[0], HD_GRID[1], HD_GRID[3])

    def _afe(self):
        # Each chip holds ONE conversion (the real part); chip 1's DRDY interrupt moves the
        # chain's frame (8 x 27 bytes) into the device's ring, as on the sim board.
        chip = FakeDaisyChain(_CHIPS, depth=1, capacity=_INPUT, fclk_hz=FCLK_HD_HZ)
        drv = ADS1299(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, start=chip.start_pin,
                      pwdn=chip.pwdn_pin, n_chips=_CHIPS, fclk_hz=FCLK_HD_HZ)
        drv.init()
        afe = SimDrdyIrq(chip, drv).afe
        sim.interrupts_at_clock_reads(chip.conversions, chip.chips[0])
        afe.fs_allowed = wire.HD_FS
        return chip, afe

    def _stimulator(self, chip):
        return None


TYPE_CHECKING = False
if TYPE_CHECKING:  # the type checker holds this board to the HAL contract (garmentfw/hal.pyi)
    from garmentfw.hal import Board as _Contract

    _conforms: _Contract = Board()
