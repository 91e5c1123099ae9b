# RP2040 / RP2350 board: ADS1299 on SPI0 + DRDY, stimulator enable, USB CDC link.
import machine
from machine import SPI, Pin

from garmentfw import limits as L
from garmentfw.afe import drdy_source
from garmentfw.boards.stdio_link import StdioLink
from garmentfw.drivers.ads1299 import ADS1299
from garmentfw.montage import CYCLING_SHORTS
from garmentfw.store import Store

PIN_SCK = 18
PIN_MOSI = 19
PIN_MISO = 16
PIN_AFE_CS = 17
PIN_AFE_DRDY = 20
PIN_AFE_RESET = 21
PIN_AFE_START = 22
PIN_STIM_ENABLE = 15
PIN_LED = 25
ADC_BATTERY = 26  # ADC0, 1:3 divider


class Board:
    NAME = "rp2040"
    MONTAGE = CYCLING_SHORTS
    AFE_NAME = "ADS1299"

    def __init__(self):
        self.stim_enable = Pin(PIN_STIM_ENABLE, Pin.OUT, value=0)
        self.led = Pin(PIN_LED, Pin.OUT, value=0)
        spi = SPI(0, baudrate=4_000_000, polarity=0, phase=1, sck=Pin(PIN_SCK), mosi=Pin(PIN_MOSI), miso=Pin(PIN_MISO))
        cs = Pin(PIN_AFE_CS, Pin.OUT, value=1)
        drdy = Pin(PIN_AFE_DRDY, Pin.IN, Pin.PULL_UP)
        drv = ADS1299(spi, cs, drdy, reset=Pin(PIN_AFE_RESET, Pin.OUT, value=1),
                      start=Pin(PIN_AFE_START, Pin.OUT, value=0))
        drv.init()
        self.afe = drdy_source(drv, drdy, Pin.IRQ_FALLING)
        self.link = StdioLink()
        self.store = Store("/data")
        self.stim = None  # no stimulator on this board (a HAL Board says so: hal.pyi)
        self._vbat = machine.ADC(ADC_BATTERY)
        self.wdt = machine.WDT(timeout=L.WATCHDOG_MS)  # within the heartbeat budget

    def uid(self) -> str:
        return "".join("%02x" % b for b in machine.unique_id())

    def battery_mv(self) -> int:
        return self._vbat.read_u16() * 3 * 3300 // 65535

    def service(self) -> None:
        self.wdt.feed()

    def idle(self, ms: int) -> None:
        self.link.wait(0)

    def safe_state(self) -> None:
        self.stim_enable.value(0)

    def reinit(self) -> None:
        machine.reset()


TYPE_CHECKING = False
if TYPE_CHECKING:  # the type checker holds this board to the HAL contract (garmentfw/hal.pyi)
    from garmentfw.hal import Board as _Contract

    _conforms: _Contract = Board()
