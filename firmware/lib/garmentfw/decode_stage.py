# Window stage: filtered samples -> incremental integer features (features.py) -> int8
# decoder (int8net.py), one R_DECODER packet per window while streaming, and the outputs
# handed on (``on_output``: the control stage) in the same window. It runs only the
# model the model slot activated (a verified one); until then it does nothing.
import micropython

from garmentfw import wire
from garmentfw.framing import Framer


@micropython.viper
def _put32(buf: ptr8, off: int, v: int):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = (v >> 16) & 0xFF
    buf[off + 3] = (v >> 24) & 0xFF


def _no_output(label, out, n_out):
    pass


class DecodeStage:
    def __init__(self, device):
        """``device``: whether it streams, and its outgoing queue (send_packet)."""
        self.dev = device
        self.net = None
        self.fx = None
        self.windows = 0
        self.on_output = _no_output  # (label or 0, outputs, n_out) once per window
        self._pkt = Framer.packet()
        self._next = -1
        self._base = 0

    def on_model(self, net, fx) -> None:
        """The model slot's notification: decode with ``net`` on ``fx``'s features."""
        self.net = net
        self.fx = fx
        self._next = -1

    def configure(self, n_ch: int, fs: int, filters) -> None:
        self._next = -1  # the AFE restarted: the next block starts fresh windows

    # ---- hot path: allocation-free per window -------------------------------------------
    def on_filtered(self, block, n: int, first: int) -> None:
        fx = self.fx
        if fx is None:
            return
        if first != self._next:
            # A gap (or the first samples): windows never span missing samples.
            fx.reset()
            self.net.reset()
            self._base = first
        self._next = (first + n) & wire.COUNTER_MASK
        k = fx.push(block, n)
        j = 0
        while j < k:
            self._window(j)
            j += 1

    def _window(self, j: int) -> None:
        fx = self.fx
        net = self.net
        label = net.run(fx.out, j * fx.width)
        self.windows += 1
        end = (self._base + fx.ends[j]) & wire.COUNTER_MASK
        self.on_output(label if net.classifier else 0, net.out, net.n_out)
        if not self.dev.streaming:
            return
        pkt = self._pkt
        _put32(pkt, 3, end)
        pkt[7] = label & 0xFF if net.classifier else 0
        n_out = net.n_out
        pkt[8] = n_out
        out = net.out
        i = 0
        while i < n_out:
            _put32(pkt, 9 + 4 * i, out[i])
            i += 1
        self.dev.send_packet(pkt, wire.R_DECODER, 6 + 4 * n_out)
