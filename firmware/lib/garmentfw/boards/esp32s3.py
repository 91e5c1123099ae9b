# Reference board: ESP32-S3 + ADS1299 AFE (SPI + DRDY) + constant-current stimulator,
# linked to the host over native USB CDC and BLE (NUS). Pin map of the reference schematic.
import machine
from machine import SPI, Pin

from garmentfw import limits as L
from garmentfw.boards.esp32s3_capture import Esp32s3Capture
from garmentfw.boards.esp32s3_stim import Esp32s3Stimulator
from garmentfw.boards.ble_link import BleLink
from garmentfw.boards.dual_link import DualLink
from garmentfw.boards.stdio_link import StdioLink
from garmentfw.drivers.ads1299 import ADS1299
from garmentfw.montage import CYCLING_SHORTS
from garmentfw.store import Store

PIN_SCK = 12
PIN_MOSI = 11
PIN_MISO = 13
PIN_AFE_CS = 10
PIN_AFE_DRDY = 9
PIN_AFE_RESET = 8
PIN_AFE_START = 7
PIN_AFE_PWDN = 6
PIN_STIM_ENABLE = 15  # output-enable of the current sources; pulled down: off at power-up
PIN_LED = 48
ADC_BATTERY = 1       # 1:2 divider


class Board:
    NAME = "esp32s3"
    MONTAGE = CYCLING_SHORTS
    AFE_NAME = "ADS1299"

    def __init__(self):
        # Stimulation off first, before anything else can fail.
        self.stim_enable = Pin(PIN_STIM_ENABLE, Pin.OUT, value=0)
        self.led = Pin(PIN_LED, Pin.OUT, value=0)
        self.stim = Esp32s3Stimulator(enable=self.stim_enable, led=self.led)
        spi = SPI(1, baudrate=4_000_000, polarity=0, phase=1, sck=Pin(PIN_SCK), mosi=Pin(PIN_MOSI), miso=Pin(PIN_MISO))
        cs = Pin(PIN_AFE_CS, Pin.OUT, value=1)
        drdy = Pin(PIN_AFE_DRDY, Pin.IN, Pin.PULL_UP)
        drv = ADS1299(spi, cs, drdy, reset=Pin(PIN_AFE_RESET, Pin.OUT, value=1),
                      start=Pin(PIN_AFE_START, Pin.OUT, value=0), pwdn=Pin(PIN_AFE_PWDN, Pin.OUT, value=1))
        drv.init()
        # DRDY edges counted by a PCNT, frames moved into the ring by the (scheduled) pin
        # handler: boards/esp32s3_capture.py says what the esp32 port allows and why
        self.afe = Esp32s3Capture(drv, drdy, Pin.IRQ_FALLING)
        self.store = Store("/data")
        # USB CDC and BLE (Nordic UART Service): a BLE host takes over while connected.
        self.link = DualLink(StdioLink(), BleLink(self.store))
        self._vbat = machine.ADC(Pin(ADC_BATTERY), atten=machine.ADC.ATTN_11DB)
        self.wdt = machine.WDT(timeout=L.WATCHDOG_MS)  # within the heartbeat budget

    def uid(self) -> str:
        return "".join("%02x" % b for b in machine.unique_id())

    def battery_mv(self) -> int:
        return self._vbat.read_uv() * 2 // 1000

    def service(self) -> None:
        self.wdt.feed()

    def idle(self, ms: int) -> None:
        self.link.wait(ms if ms < 1 else 1)  # DRDY at up to 2 kHz: never sleep long

    def safe_state(self) -> None:
        self.stim_enable.value(0)

    def reinit(self) -> None:
        machine.reset()


TYPE_CHECKING = False
if TYPE_CHECKING:  # the type checker holds this board to the HAL contract (garmentfw/hal.pyi)
    from garmentfw.hal import Board as _Contract

    _conforms: _Contract = Board()
