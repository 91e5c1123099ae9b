# The one fake board of the firmware tests: the real ADS1299 driver on the register-level
# chip model, a link the test feeds and reads, an optional Store and the sim stimulator
# (the parts a Board must have: garmentfw/hal.py). It runs on the virtual clock
# (vclock.py), which it installs as `time` before any firmware module is imported.
import vclock  # noqa: F401  (first: installs the virtual `time`)


class Link:
    """A wired (or not) link. ``capture``: keep what the device writes in ``out`` (the
    tests decode it); otherwise only count it (allocation-free, for the hot-path tests)."""

    def __init__(self, wired=True, capture=True):
        self.wired = wired
        self.capture = capture
        self.inbox = bytearray()
        self.out = bytearray()
        self.sent = 0
        self.dropped = False

    def readinto(self, buf):
        n = len(self.inbox)
        if n > len(buf):
            n = len(buf)
        if not n:
            return 0
        buf[:n] = self.inbox[:n]
        self.inbox = self.inbox[n:]
        return n

    def write(self, buf, off, n):
        self.sent += n
        if self.capture:
            self.out.extend(memoryview(buf)[off:off + n])
        return n

    def connected(self):
        return True

    def dropped_client(self):
        d = self.dropped
        self.dropped = False
        return d

    def take(self):
        """What the device wrote since the last take()."""
        out = self.out
        self.out = bytearray()
        return out


class Board:
    NAME = "test"
    MONTAGE = ("a", "b", "c", "d", "e", "f", "g", "h")
    AFE_NAME = "fake"

    def __init__(self, store=None, n_stim=0, link=None):
        """``store``: a Store, a folder for one, or None; ``n_stim``: stimulator channels
        (0: no stimulator); ``link``: a link object (default: a capturing Link). The AFE is
        the chip model as the chip is (one conversion held) captured on its DRDY interrupt,
        as on the sim board (garmentfw/sim/afe_irq.py)."""
        from garmentfw.sim.ads1299_model import FakeADS1299
        from garmentfw.sim.afe_irq import SimDrdyIrq
        from garmentfw.drivers.ads1299 import ADS1299
        from garmentfw.store import Store

        self.chip = c = FakeADS1299(clock=vclock.ticks_us, depth=1)
        drv = ADS1299(c.spi, c.cs, c.drdy, reset=c.reset_pin, start=c.start_pin, pwdn=c.pwdn_pin,
                      sleep_us=vclock.sleep_us)
        drv.init()
        self.afe = SimDrdyIrq(c, drv).afe
        self.link = link if link is not None else Link()
        self.store = Store(store) if isinstance(store, str) else store
        self.stim = None
        if n_stim:
            from garmentfw.sim.stimulator import SimStimulator

            self.stim = SimStimulator(c, n_stim, clock=vclock.ticks_us)
        self.batt = 4000
        self.idled_ms = 0

    def service(self):
        pass

    def battery_mv(self):
        return self.batt

    def uid(self):
        return "test"

    def idle(self, ms):
        self.idled_ms += ms
        vclock.sleep_ms(ms)

    def safe_state(self):
        if self.stim is not None:
            self.stim.all_off()

    def reinit(self):
        pass
