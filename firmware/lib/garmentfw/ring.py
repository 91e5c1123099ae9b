# The preallocated sample ring between the AFE (producer: DRDY service) and the
# processing loop (consumer). Each slot keeps its AFE sample counter so that a
# dropped conversion shows up as a gap, never as silently joined data.
import micropython
from array import array


@micropython.viper
def _copy_i32(src: ptr32, so: int, dst: ptr32, do: int, n: int):
    i = 0
    while i < n:
        dst[do + i] = src[so + i]
        i += 1


class SampleRing:
    """Fixed-capacity ring of interleaved int32 samples (n_ch per slot) with indices."""

    def __init__(self, capacity: int, n_ch: int):
        self.cap = capacity
        self.n_ch = n_ch
        self.buf = array("i", bytes(4 * capacity * n_ch))
        self.idx = array("i", bytes(4 * capacity))
        self.head = 0  # slots written (mod cap via %)
        self.tail = 0  # slots consumed
        self.overflows = 0

    def reset(self, n_ch: int) -> None:
        # The buffer is sized for MAX_CHANNELS at construction; n_ch only changes stride.
        self.n_ch = n_ch
        self.head = 0
        self.tail = 0

    def count(self) -> int:
        return self.head - self.tail

    def space(self) -> int:
        return self.cap - (self.head - self.tail)

    def slot_offset(self) -> int:
        """Offset (in ints) of the slot the producer writes next."""
        return (self.head % self.cap) * self.n_ch

    def commit(self, index: int) -> None:
        """Producer: the slot at slot_offset() now holds the sample with AFE index ``index``."""
        self.idx[self.head % self.cap] = index
        self.head += 1

    def take(self, dst, max_n: int) -> int:
        """Consumer: move up to max_n contiguous samples (no index gap) into dst.

        Returns how many; ``first_index`` holds the index of the first one.
        """
        avail = self.head - self.tail
        n = max_n if max_n < avail else avail
        if n <= 0:
            return 0
        cap = self.cap
        idx = self.idx
        t = self.tail
        first = idx[t % cap]
        k = 1
        while k < n and idx[(t + k) % cap] == first + k:
            k += 1
        nch = self.n_ch
        done = 0
        while done < k:
            s = (t + done) % cap
            run = cap - s
            if run > k - done:
                run = k - done
            _copy_i32(self.buf, s * nch, dst, done * nch, run * nch)
            done += run
        self.tail = t + k
        self.first_index = first
        return k
