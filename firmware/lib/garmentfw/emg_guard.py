# Raw stage, EMG guard (safety behaviour 8): EMG at the ADC rail or dead (stuck at one
# code, 0 or not; lead-off on the AFE) or no samples at all means the decoder reads nothing real, so the
# supervisor zeroes every channel and latches. It reads the samples before the artefact
# stage blanks them (a blanked stretch is flat by construction: a live channel under long
# windows would read as dead), passing over only the artefact itself (Blanker.mark: the
# pulse and the amplifier's recovery). This stage only watches the samples;
# safety_checks.py hands its verdict to the supervisor.
import time
from array import array

import micropython
from micropython import const

from garmentfw import limits as L

TYPE_CHECKING = False
if TYPE_CHECKING:
    from garmentfw.hal import AfeSource

_NCH = const(8)


@micropython.viper
def _scan(blk: ptr32, n: int, n_ch: int, runs: ptr32, rail_n: int, flat_n: int, skip: ptr8) -> int:
    # Per channel: run length of samples at the ADC rail (runs[ch]) and of samples equal
    # to the one before (runs[8 + ch]: a stuck code, 0 or not; the last code in
    # runs[16 + ch]), carried across blocks; samples that carry a pulse's artefact
    # (skip[k]: the pulse and the amplifier's recovery) are passed over. Returns bits 0-7: rail run
    # reached rail_n in this block, bits 8-15: stuck run reached flat_n, bits 16-23:
    # channel bad right now.
    sb = 1
    sb = sb << 31
    seen = 0
    now = 0
    ch = 0
    while ch < n_ch:
        r = runs[ch]
        z = runs[8 + ch]
        last = runs[16 + ch]
        k = 0
        p = ch
        while k < n:
            if not skip[k]:
                v = blk[p]
                v = v | (0 - (v & sb))  # sign-extend (a no-op on 32-bit MCUs)
                if v >= 8388607 or v <= -8388608:
                    if r < rail_n:
                        r += 1
                    if r >= rail_n:
                        seen |= 1 << ch
                else:
                    r = 0
                if v == last:
                    if z < flat_n:
                        z += 1
                    if z >= flat_n:
                        seen |= 1 << (8 + ch)
                else:
                    z = 0
                    last = v
            k += 1
            p += n_ch
        if r >= rail_n or z >= flat_n:
            now |= 1 << ch
        runs[ch] = r
        runs[8 + ch] = z
        runs[16 + ch] = last
        ch += 1
    return seen | (now << 16)


class EmgGuard:
    """Rail / stuck-code runs per channel, AFE lead-off and stalls, as one verdict."""

    def __init__(self, afe: "AfeSource", blanker=None) -> None:
        """``blanker``: the artefact stage's Blanker (which samples carry an artefact)."""
        self.afe = afe  # reads afe.lead_off (the AFE's own lead-off bits)
        self.blanker = blanker
        self._runs = array("i", bytes(4 * 3 * _NCH))
        self._skip = bytearray(256)  # samples of a raw block (<= 256) that carry an artefact
        self.rail_n = 10
        self.flat_n = 200
        self._chmask = 0
        self._n_ch = 0
        self._seen = 0
        self._now = 0
        self._last_raw_ms = time.ticks_ms()
        self._have_raw = False

    def configure(self, n_ch: int, fs: int, filters) -> None:
        """The acquisition restarted: runs from zero, thresholds for this rate."""
        self._n_ch = n_ch
        self._chmask = (1 << n_ch) - 1
        self.rail_n = max(1, fs * L.RAIL_MS // 1000)
        self.flat_n = max(1, fs * L.FLAT_MS // 1000)
        for i in range(3 * _NCH):
            self._runs[i] = 0

    def on_raw(self, block, n: int, first: int) -> None:
        """Hot path (allocation-free): scan one block of raw samples (before the artefact
        stage blanks it; the artefacts themselves passed over)."""
        skip = self._skip
        bl = self.blanker
        if bl is not None:
            bl.mark(n, first, skip)
        r = int(_scan(block, n, self._n_ch, self._runs, self.rail_n, self.flat_n, skip))
        self._seen |= r & 0xFFFF
        self._now = r >> 16
        self._last_raw_ms = time.ticks_ms()
        self._have_raw = True

    def forget(self) -> None:
        """Drop the runs seen so far (while disarmed nothing latches on them)."""
        self._seen = 0

    def problem(self, now_ms, latched: bool):
        """None, or why the EMG is unusable: (latched) rail/zero runs seen since the last
        check, else the channels bad right now; AFE lead-off; no samples (stalled)."""
        m = self._chmask
        if latched:
            seen = self._seen
            self._seen = 0
            rail = seen & m
            flat = (seen >> 8) & m
        else:
            rail = self._now & m
            flat = 0
        lo = self.afe.lead_off & m if m else 0
        if not (rail or flat or lo):
            # a negative age (a tick that reads as ahead: stale across a wrap) is a stall
            if self._have_raw and 0 <= time.ticks_diff(now_ms, self._last_raw_ms) <= L.STALL_MS:
                return None
            return "no EMG samples for more than %d ms" % L.STALL_MS
        if lo:
            return "AFE lead-off on EMG channels 0x%02x" % lo
        if rail and not latched:
            return "EMG at the ADC rail or dead (stuck at one code) on channels 0x%02x" % rail
        if rail:
            return "EMG at the ADC rail for %d ms on channels 0x%02x" % (L.RAIL_MS, rail)
        return "EMG dead (stuck at one code for %d ms) on channels 0x%02x" % (L.FLAT_MS, flat)
