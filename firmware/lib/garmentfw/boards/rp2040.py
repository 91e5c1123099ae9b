# RP2040 board: ADS1299 on SPI0, captured on DRDY by PIO + DMA (the pins, capture and
# housekeeping of boards/rp2_board.py),
# stimulator enable, USB CDC link.
from machine import Pin

from garmentfw.boards.rp2_board import PIN_STIM_ENABLE, Rp2Board, ads1299_capture
from garmentfw.boards.stdio_link import StdioLink
from garmentfw.montage import CYCLING_SHORTS
from garmentfw.store import Store

PIN_LED = 25
ADC_BATTERY = 26  # ADC0, 1:3 divider


class Board(Rp2Board):
    NAME = "rp2040"
    MONTAGE = CYCLING_SHORTS
    AFE_NAME = "ADS1299"

    def __init__(self):
        self.stim_enable = Pin(PIN_STIM_ENABLE, Pin.OUT, value=0)
        self.led = Pin(PIN_LED, Pin.OUT, value=0)
        self.afe = ads1299_capture(0)
        self.link = StdioLink()
        self.store = Store("/data")
        self.stim = None  # no stimulator on this board (a HAL Board says so: hal.pyi)
        self._housekeeping(ADC_BATTERY)

    def idle(self, ms: int) -> None:
        self.link.wait(0)

    def safe_state(self) -> None:
        self.stim_enable.value(0)


TYPE_CHECKING = False
if TYPE_CHECKING:  # the type checker holds this board to the HAL contract (garmentfw/hal.pyi)
    from garmentfw.hal import Board as _Contract

    _conforms: _Contract = Board()
