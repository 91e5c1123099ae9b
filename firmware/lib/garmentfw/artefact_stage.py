# Raw stage, artefacts (safety behaviour 11): every stimulation pulse is blanked from the
# EMG (an interpolated window after each pulse, stim_engine.Blanker) so the decoder never
# reads its own stimulation as intent; the window grows to the measured length of the
# muscles' answer (evoked.EvokedWindow), which this stage tells the pulse engine.
# Runs on raw samples, before the filters (the mains notch must not smear the artefact).
from garmentfw.evoked import MARGIN_US, EvokedWindow
from garmentfw.stim_engine import Blanker


class ArtefactStage:
    def __init__(self, ring, engine, clock_us):
        """``ring``: the device's sample ring (its newest conversion anchors the pulse
        times; it tells which block ends a pass); ``engine``:
        the StimEngine, which registers its pulses with ``self.blanker`` and blanks for
        at least the measured window (``engine.evoked_us``)."""
        self.ring = ring
        self.engine = engine
        self._clock = clock_us
        self.blanker = Blanker()
        self.evoked = EvokedWindow()
        self.blanker.evoked = self.evoked
        engine.blanker = self.blanker
        self.filters = None
        self._n_ch = 8
        self._fs = 2000
        self._chmask = 0xFF
        self._in_pass = False
        self._told = 0  # the grown window last reported (0: none)

    def configure(self, n_ch: int, fs: int, filters) -> None:
        """The acquisition restarted (indices from 0): no pending windows; the measured
        window is kept across restarts at the same rate (EvokedWindow.configure)."""
        self._n_ch = n_ch
        self._fs = fs
        self._chmask = (1 << n_ch) - 1
        self.filters = filters
        self._in_pass = False
        self.blanker.reset()
        self.evoked.configure(n_ch, fs)
        self.engine.evoked_us = self.evoked.window_us

    def on_raw(self, block, n: int, first: int) -> None:
        """Hot path (allocation-free): measure the answer on the raw block, then blank."""
        bl = self.blanker
        # Anchor pulse times to AFE indices at the first block of a pass (right after the
        # poll): the newest conversion captured then, and the time read just after it (an
        # interrupt between the two makes the pair early by one sample, never late). Not
        # the newest at the pass's end with its start time: a DRDY-driven capture keeps
        # ringing conversions while the loop works through the ring, so a pass held up
        # meanwhile (a radio event, a flash write) put every window late by the hold and
        # the artefact's first samples reached the decoder and the EMG guard.
        ring = self.ring
        if not self._in_pass:
            self._in_pass = True
            newest = ring.newest_index()
            bl.anchor(self._clock(), newest, self._fs)
        if ring.count() == 0:  # the pass has caught up with the capture
            self._in_pass = False
        if self.evoked.feed(block, n, first):  # the raw samples, before blanking
            self.engine.evoked_us = self.evoked.window_us
        fb = self.filters
        if bl.count and fb is not None:
            bl.apply(block, n, first, fb, self._chmask)

    def end_pass(self) -> None:
        """The device's pass took its last block (it takes what the ring held when it
        began, so the ring need not be empty then): the next block anchors again."""
        self._in_pass = False

    def window_news(self, blank_us: int):
        """None, or a note when the measured answer has grown the blank window beyond
        ``blank_us`` (or it shrank back) by 2 ms or more: the user sees why less EMG
        reaches the decoder."""
        ev = self.evoked.window_us
        w = ev if ev > blank_us else 0
        if w - self._told < 2000 and self._told - w < 2000:
            return None
        self._told = w
        if w:
            return "blank window %d us: the muscles answer each burst for %d us (limits.blank_us %d)" % (
                w, w - MARGIN_US, blank_us)
        return "blank window back to limits.blank_us %d" % blank_us
