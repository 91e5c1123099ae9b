# The `sim` board: the firmware on the MicroPython unix port. The AFE is the real
# ADS1299 driver talking to a register-level model of the chip; the link is a TCP
# socket the host opens with pyserial; the rig port feeds electrode signals.
# The MCU's 2**30 tick period (sim/clock.py) before any firmware module, this one
# included, reads `time`: app.py imports nothing before the board module, and only the
# sim board knows it runs on the unix port.
from garmentfw.sim import clock  # isort: skip

clock.install()

import os  # noqa: E402
import select  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from garmentfw.sim.ads1299_model import FakeADS1299
from garmentfw.sim.afe_irq import SimDrdyIrq
from garmentfw.sim.pass_hold import PassHold
from garmentfw.sim.pass_hold import attach as attach_hold
from garmentfw.sim.tcp_link import TcpLink
from garmentfw.sim.rig import RigPort
from garmentfw.sim.imu_model import FakeLSM6DSO
from garmentfw.sim.rig_clock import attach as attach_clock
from garmentfw.sim.rig_imu import attach as attach_imu
from garmentfw.sim.rig_stim import attach as attach_stim
from garmentfw.sim.stimulator import SimStimulator
from garmentfw.drivers.ads1299 import ADS1299
from garmentfw.montage import CYCLING_SHORTS
from garmentfw.store import Store

# AFE capture as on an MCU: the chip model holds ONE conversion (the real chip), and its
# DRDY interrupt (the model runs the handler at each conversion's falling edge, like a
# hard IRQ: microseconds, far under the 500 us between conversions at 2 kHz) moves it
# into the device's ring through the same capture code the boards use
# (garmentfw/capture.py). The ring (AFE_RING: 4096 conversions, 2 s at 2 kHz; the MCU
# boards' 1024) covers a long loop pass or a loaded host OS descheduling this process
# (which no MCU does); beyond that, a counted gap. The interrupts fire whenever the
# firmware reads the clock (sim/clock.py interrupts), so conversions keep arriving while
# the loop works through the ring, as on the MCU, not only when the chip is touched.


def interrupts_at_clock_reads(conversions, lead) -> None:
    """Every clock read of the firmware first runs the DRDY interrupts due by then
    (``conversions()`` lets the chip model catch up; ``lead``, the chip whose DRDY is wired,
    says when its next conversion is due)."""
    clock.interrupts(conversions)
    lead.report_due(clock.due_at)


class Board:
    NAME = "sim"
    MONTAGE = CYCLING_SHORTS
    AFE_NAME = "ADS1299 (register-level model)"
    AFE_RING = 4096

    def __init__(self):
        port = int(os.getenv("GARMENT_SIM_PORT") or "7300")
        rig_port = int(os.getenv("GARMENT_SIM_RIG_PORT") or str(port + 1))
        self.state_dir = os.getenv("GARMENT_SIM_STATE") or "/tmp/garment-sim-%d" % port
        self.store = Store(self.state_dir)
        self.chip, self.afe = self._afe()
        chip = self.chip
        self.link = TcpLink(port)
        if os.getenv("GARMENT_SIM_WIRED") == "0":
            self.link.wired = False  # reached over the virtual BLE radio (garment.sim.ble_radio)
        self.rig = RigPort(rig_port, chip)
        self.stim = self._stimulator(chip)
        if self.stim is not None:
            attach_stim(self.rig, self.stim)
        self.clock = attach_clock(self.rig, self.stim)  # the rig may run the clock (virtual time)
        self.link.on_input = self.clock.activity  # every request is a sign of the host's life
        # a thigh IMU (off until the rig feeds it motion): crank phase without a crank sensor
        self.imu = FakeLSM6DSO(time.ticks_us)
        attach_imu(self.rig, self.imu)
        self.hold = PassHold()  # the rig may hold every loop pass up (RIG_HOLD)
        attach_hold(self.rig, self.hold)
        self._poller = select.poll()
        self._registered = []
        print("garment-sim ready link=%d rig=%d" % (port, rig_port))

    def _afe(self):
        # The chip model and the AFE source the device reads (the HD board: a daisy chain).
        chip = FakeADS1299(depth=1)
        drv = ADS1299(chip.spi, chip.cs, chip.drdy, reset=chip.reset_pin, start=chip.start_pin, pwdn=chip.pwdn_pin)
        drv.init()
        afe = SimDrdyIrq(chip, drv).afe
        interrupts_at_clock_reads(chip.conversions, chip)
        return chip, afe

    def _stimulator(self, chip):
        return SimStimulator(chip, n_channels=4)

    def uid(self) -> str:
        # Like a chip ID: stable for the life of this garment's flash (its state dir).
        from binascii import crc32

        return "sim-%08x" % (crc32(self.state_dir.encode()) & 0xFFFFFFFF)

    def battery_mv(self) -> int:
        return self.stim.battery_mv if self.stim is not None else 4000

    def service(self) -> None:
        h = self.hold
        h.arm()
        if h.hold_us and self.afe.ring is not None:
            h.wrap(self.afe.ring)
        r = self.rig
        r.fs = self.afe.fs
        r.n_ch = self.afe.n_ch
        r.service(time.ticks_ms())

    def idle(self, ms: int) -> None:
        # Virtual time: the idle is time passing, ms of it (the rig's RIG_RUN allows it).
        if self.clock.idle(ms):
            return
        # Sleep until a socket is readable or ms passed (the AFE keeps converting meanwhile).
        socks = [s for s in (self.link.server, self.link.client, self.rig.server, self.rig.client) if s is not None]
        if socks != self._registered:
            for s in self._registered:
                try:
                    self._poller.unregister(s)
                except (OSError, KeyError):
                    pass
            for s in socks:
                self._poller.register(s, select.POLLIN)
            self._registered = socks
        for _ in self._poller.ipoll(ms):
            self.clock.activity()  # a socket has input: the host is alive
            break

    def safe_state(self) -> None:
        self.stim.all_off()

    def reinit(self) -> None:
        time.sleep_ms(100)


TYPE_CHECKING = False
if TYPE_CHECKING:  # the type checker holds this board to the HAL contract (garmentfw/hal.pyi)
    from garmentfw.hal import Board as _Contract

    _conforms: _Contract = Board()
