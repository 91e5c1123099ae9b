# On-device decoding: filtered samples -> incremental features -> int8 decoder, one
# R_DECODER packet per window, and the decision handed to the stimulation policy.
# Only a model that passed model_format's checks (CRC, version, shapes, this garment's
# sampling rate and channel count) is ever run; until then `verified` is False and
# the stimulation supervisor keeps outputs at zero.
from binascii import crc32

import micropython

from garmentfw import wire
from garmentfw.features import FeatureExtractor
from garmentfw.framing import Framer
from garmentfw.int8net import Int8Net

MODEL = "model"


@micropython.viper
def _put32(buf: ptr8, off: int, v: int):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = (v >> 16) & 0xFF
    buf[off + 3] = (v >> 24) & 0xFF


class DecoderFeature:
    def __init__(self, device):
        self.dev = device
        self.net = None
        self.fx = None
        self.verified = False
        self.problem = "no model"
        self.windows = 0
        self._pkt = Framer.packet()
        self._next = -1
        self._base = 0
        device.decoder = self
        self.load()

    # ---- model lifecycle (not the hot path) -------------------------------------------
    def load(self) -> None:
        """Load the stored model (CRC-verified by the store, then by the model format)."""
        self.deactivate("no model")
        store = self.dev.store
        if store is None:
            return
        try:
            data = store.load(MODEL)
        except Exception as e:  # a corrupt record is never used
            self.deactivate("stored model rejected: %s" % e)
            return
        if data is not None:
            try:
                self.activate(data)
            except ValueError as e:
                self.deactivate(str(e))

    def activate(self, data) -> None:
        """Verify ``data`` for this garment's configuration and start decoding with it."""
        d = self.dev
        net = Int8Net.load(bytes(data), d.fs, d.n_ch)
        fx = FeatureExtractor.from_dict(net.features)
        if fx.width != net.n_in:
            raise ValueError("model takes %d inputs, its feature config gives %d" % (net.n_in, fx.width))
        if 7 + 4 * net.n_out > wire.MAX_BODY:
            raise ValueError("model has too many outputs to report")
        self.net = net
        self.fx = fx
        self.crc = crc32(memoryview(data)[:-4]) & 0xFFFFFFFF  # the model's id (see MODEL_BEGIN_FMT)
        self.size = len(data)
        self._next = -1
        self.verified = True
        self.problem = ""
        d.event(20, "model active: %s, %d bytes" % (net.task, len(data)))

    def deactivate(self, why: str) -> None:
        self.net = None
        self.fx = None
        self.verified = False
        self.problem = why

    def on_config(self) -> None:
        # A model is only valid for the rate and channel count it was trained on.
        self.load()

    def describe(self):
        if not self.verified:
            return None
        n = self.net
        return {"crc": "%08x" % (self.crc & 0xFFFFFFFF), "size": self.size, "task": n.task,
                "labels": list(n.labels or ()), "n_in": n.n_in, "n_out": n.n_out, "stim": n.stim}

    # ---- Device feature API -------------------------------------------------------------
    def handlers(self):
        return {}

    def tick(self, now_ms) -> bool:
        return False

    def on_disconnect(self) -> None:
        pass

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
        self._next = (first + n) & (wire.COUNTER_MOD - 1)
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
        end = (self._base + fx.ends[j]) & (wire.COUNTER_MOD - 1)
        stim = self.dev.stim
        if stim is not None:
            stim.on_decoder(label if net.classifier else 0, net.out, net.n_out)
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
