# The USB CDC serial link of the MCU boards: the framed protocol over the USB
# REPL's stdin/stdout, with Ctrl-C handling switched off so any byte can pass.
import select
import sys

import micropython


class StdioLink:
    wired = True  # a cable (USB CDC; the sim's socket stands for one): provisioning allowed

    def __init__(self):
        micropython.kbd_intr(-1)
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._one = bytearray(1)

    def connected(self) -> bool:
        return True  # CDC gives no portable DTR state; the heartbeat tells a live host

    def dropped_client(self) -> bool:
        return False

    def readinto(self, buf) -> int:
        # Byte-wise while input is waiting: host -> garment traffic is small (commands).
        n = 0
        cap = len(buf)
        one = self._one
        while n < cap:
            got = False
            for _ in self._poll.ipoll(0):
                got = True
                break
            if not got:
                break
            if not self._in.readinto(one, 1):
                break
            buf[n] = one[0]
            n += 1
        return n

    def write(self, buf, off: int, n: int) -> int:
        return self._out.write(buf, off, n) or 0

    def wait(self, ms: int) -> None:
        for _ in self._poll.ipoll(ms):
            break
