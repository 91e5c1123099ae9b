# What the RP2040 and RP2350 boards share: the ADS1299 on SPI0 (same pins on both) with
# its PIO + DMA capture, the
# battery divider on an ADC pin, the watchdog within the heartbeat budget, USB-side
# housekeeping. Each board module adds its AFE capture, links and stimulator.
import machine
from machine import SPI, Pin

from garmentfw import limits as L
from garmentfw.boards.rp2_capture import Rp2Capture
from garmentfw.drivers.ads1299 import ADS1299

PIN_SCK = 18
PIN_MOSI = 19
PIN_MISO = 16
PIN_AFE_CS = 17
PIN_AFE_DRDY = 20
PIN_AFE_RESET = 21
PIN_AFE_START = 22
PIN_STIM_ENABLE = 15


def _spi0():
    # Also gives SCLK, MOSI and MISO back to SPI0 after the capture's PIO had them.
    return SPI(0, baudrate=4_000_000, polarity=0, phase=1, sck=Pin(PIN_SCK), mosi=Pin(PIN_MOSI), miso=Pin(PIN_MISO))


def _reclaim() -> None:
    _spi0()
    Pin(PIN_AFE_CS, Pin.OUT, value=1)


def ads1299_capture(sm_id: int) -> Rp2Capture:
    """The AFE driver on SPI0, initialised, captured on DRDY by PIO state machine
    ``sm_id`` + DMA (boards/rp2_capture.py; its program waits on GPIO PIN_AFE_DRDY and
    side-sets CS and SCLK, the next GPIO)."""
    cs = Pin(PIN_AFE_CS, Pin.OUT, value=1)
    drdy = Pin(PIN_AFE_DRDY, Pin.IN, Pin.PULL_UP)
    drv = ADS1299(_spi0(), cs, drdy, reset=Pin(PIN_AFE_RESET, Pin.OUT, value=1),
                  start=Pin(PIN_AFE_START, Pin.OUT, value=0))
    drv.init()
    return Rp2Capture(drv, _reclaim, sm_id, cs, Pin(PIN_MISO, Pin.IN))


class Rp2Board:
    """uid, battery, watchdog and reset of an RP2 board (its links and idle are its own)."""

    def _housekeeping(self, adc_battery: int) -> None:
        self._vbat = machine.ADC(adc_battery)  # 1:3 divider
        self.wdt = machine.WDT(timeout=L.WATCHDOG_MS)  # within the heartbeat budget

    def uid(self) -> str:
        return "".join("%02x" % b for b in machine.unique_id())

    def battery_mv(self) -> int:
        return self._vbat.read_u16() * 3 * 3300 // 65535

    def service(self) -> None:
        self.wdt.feed()

    def reinit(self) -> None:
        machine.reset()
