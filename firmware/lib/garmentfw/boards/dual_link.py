# USB and BLE on one board: the device talks to whichever host is there. A BLE central
# takes over while connected; USB serves otherwise. `wired` follows the active link, so
# the auth service refuses provisioning whenever the host is on BLE.


class DualLink:
    def __init__(self, usb, ble):
        self.usb = usb
        self.ble = ble
        self.active = usb
        self._dropped = False

    @property
    def wired(self) -> bool:
        return self.active.wired

    def _select(self) -> None:
        want = self.ble if self.ble.connected() else self.usb
        if want is not self.active:
            # A change of host is a disconnect for the device: session, stream and
            # half-received frames of the old host are dropped.
            self.active = want
            self._dropped = True

    def connected(self) -> bool:
        self._select()
        return self.active.connected()

    def dropped_client(self) -> bool:
        self._select()
        d = self._dropped or self.active.dropped_client()
        self._dropped = False
        if self.active is self.usb:
            self.ble.dropped_client()  # consume a BLE drop while USB is active
        return d

    def readinto(self, buf) -> int:
        self._select()
        return self.active.readinto(buf)

    def write(self, buf, off: int, n: int) -> int:
        return self.active.write(buf, off, n)

    def wait(self, ms: int) -> None:
        self.active.wait(ms)
