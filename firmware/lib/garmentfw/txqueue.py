# Outgoing bytes waiting for the link. Whole frames go in or none does (a full
# queue drops the frame and counts it: the host sees the gap through sequence
# numbers and sample indices, never corrupted bytes).
import micropython


@micropython.viper
def _copy8(src: ptr8, so: int, dst: ptr8, do: int, n: int):
    i = 0
    while i < n:
        dst[do + i] = src[so + i]
        i += 1


class TxQueue:
    def __init__(self, capacity: int):
        self.buf = bytearray(capacity)
        self.cap = capacity
        self.start = 0
        self.used = 0
        self.dropped = 0

    def clear(self) -> None:
        self.start = 0
        self.used = 0

    def push(self, frame, n: int) -> bool:
        cap = self.cap
        if self.used + n > cap:
            self.dropped += 1
            return False
        end = (self.start + self.used) % cap
        first = cap - end
        if first > n:
            first = n
        _copy8(frame, 0, self.buf, end, first)
        if first < n:
            _copy8(frame, first, self.buf, 0, n - first)
        self.used += n
        return True

    def drain(self, write) -> int:
        """Write as much as the link takes now; ``write(buf, off, n)`` returns bytes taken."""
        sent = 0
        while self.used:
            run = self.cap - self.start
            if run > self.used:
                run = self.used
            k = write(self.buf, self.start, run)
            if not k:
                break
            self.start = (self.start + k) % self.cap
            self.used -= k
            sent += k
        return sent
