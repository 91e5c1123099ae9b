# RP2350 board (Raspberry Pi Pico 2 W: RP2350 + CYW43439 radio): ADS1299 on SPI0 with
# its conversions captured on DRDY by PIO + DMA (boards/rp2_capture.py), PIO-timed stimulation pulses
# (boards/rp2350_stim.py), USB CDC and BLE (NUS over the CYW43439) at once.
# Compile-only here (no hardware in CI): type-checked against the rp2 stubs, built for
# armv7emsp (Arm cores) and rv32imc (Hazard3 cores) by mpy-cross.
from machine import Pin

from garmentfw.boards.ble_link import BleLink
from garmentfw.boards.dual_link import DualLink
from garmentfw.boards.rp2_board import PIN_STIM_ENABLE, Rp2Board, ads1299_capture
from garmentfw.boards.rp2350_stim import Rp2350Stimulator
from garmentfw.boards.stdio_link import StdioLink
from garmentfw.montage import CYCLING_SHORTS
from garmentfw.store import Store

ADC_BATTERY = 28  # ADC2, 1:3 divider (ADC0/1 read the electrodes)
SM_CAPTURE = 0  # PIO0; the pulses run on PIO1 (rp2350_stim.py)


class Board(Rp2Board):
    NAME = "rp2350"
    MONTAGE = CYCLING_SHORTS
    AFE_NAME = "ADS1299"

    def __init__(self):
        # The stimulator's output enable goes low before anything else.
        self.stim = Rp2350Stimulator(Pin(PIN_STIM_ENABLE, Pin.OUT, value=0))
        self.afe = ads1299_capture(SM_CAPTURE)
        self.store = Store("/data")
        self.link = DualLink(StdioLink(), BleLink(self.store))
        self._housekeeping(ADC_BATTERY)

    def idle(self, ms: int) -> None:
        self.link.wait(0)

    def safe_state(self) -> None:
        self.stim.all_off()


TYPE_CHECKING = False
if TYPE_CHECKING:  # the type checker holds this board to the HAL contract (garmentfw/hal.pyi)
    from garmentfw.hal import Board as _Contract

    _conforms: _Contract = Board()
