# The active decoder model: the stored model, verified (store CRC, then model_format's
# checks: CRC, version, shapes, this garment's rate and channel count) before it is used
# (safety behaviour 1: until then no model is active and the closed loop stays off).
# Whoever needs the model subscribes and is told at once when one is activated or
# deactivated; nobody polls for it.
from garmentfw.features import FeatureExtractor
from garmentfw.int8net import Int8Net
from garmentfw import budget, wire

from garmentfw.model_format import model_id  # noqa: F401 - model_service takes it from here too

MODEL = "model"


class ModelSlot:
    def __init__(self, device):
        """``device``: its store, its acquisition (fs, n_ch) and its event()."""
        self.dev = device
        self.net = None
        self.fx = None
        self.verified = False
        self.problem = "no model"
        self.crc = 0
        self.size = 0
        self._listeners = []
        self._guards = []

    def guard(self, fn) -> None:
        """``fn()`` -> None, or why the active model may not change now (the stimulation
        service: not while armed, the new model would take over the output unasked)."""
        self._guards.append(fn)

    def change_refused(self):
        """None if a commit or rollback may replace the active model now, else why not."""
        for fn in self._guards:
            why = fn()
            if why:
                return why
        return None

    def subscribe(self, fn) -> None:
        """``fn(net, fx)`` on every activation; ``fn(None, None)`` when none is active."""
        self._listeners.append(fn)
        fn(self.net, self.fx)

    def _tell(self) -> None:
        for fn in self._listeners:
            fn(self.net, self.fx)

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
            except Exception as e:  # whatever fails, the garment stays up without a model
                self.deactivate("stored model rejected: %s" % (e,))

    def verify(self, data):
        """(net, fx) for ``data`` on this garment's configuration, or ValueError: every
        check activation makes, so that a commit refuses what would fail at boot."""
        d = self.dev
        net = Int8Net.load(bytes(data), d.fs, d.n_ch)
        try:
            fx = FeatureExtractor.from_dict(net.features)
        except (KeyError, TypeError, IndexError) as e:
            raise ValueError("model's feature configuration unusable: %r" % (e,))
        if fx.width != net.n_in:
            raise ValueError("model takes %d inputs, its feature config gives %d" % (net.n_in, fx.width))
        if 7 + 4 * net.n_out > wire.MAX_BODY:
            raise ValueError("model has too many outputs to report")
        # its features must fit the board's CPU at this rate (garmentfw/budget.py)
        bad = budget.refusal(d.board.NAME, d.fs, d.n_ch, fx.features)
        if bad:
            raise ValueError("model's features do not fit this board: %s" % bad)
        self._check_acquisition(net)
        return net, fx

    def _check_acquisition(self, net) -> None:
        """A model is valid only under the acquisition it was trained with: rate and
        channels (model_format checks them), and the filters, mains and channel map
        its info section records as "acquisition" (absent: trained on the filtered
        stream, high-pass and notch on; mains and channel map not recorded)."""
        d = self.dev
        info = net.model.info
        acq = info.get("acquisition") if isinstance(info, dict) else None
        if acq is not None and not isinstance(acq, dict):
            raise ValueError("model's acquisition record is not an object")
        acq = acq or {}
        for key, have in (("hp", d.hp), ("notch", d.notch), ("mains", d.mains)):
            want = acq.get(key, 1 if key != "mains" else None)
            if want is not None and want != have:
                raise ValueError("model was trained with %s=%r, the garment runs %s=%r" % (key, want, key, have))
        want = acq.get("montage")
        if want is not None:
            have = list(d.board.MONTAGE[: d.n_ch])
            if list(want) != have:
                raise ValueError("model was trained on channels %r, the garment has %r" % (want, have))

    def activate(self, data) -> None:
        """Verify ``data`` for this garment's configuration and make it the active model."""
        d = self.dev
        net, fx = self.verify(data)
        self.net = net
        self.fx = fx
        self.crc = model_id(data)
        self.size = len(data)
        self.verified = True
        self.problem = ""
        d.event(wire.EV_MODEL_ACTIVE, "model active: %s, %d bytes" % (net.task, len(data)))
        self._tell()

    def deactivate(self, why: str) -> None:
        was = self.net is not None
        self.net = None
        self.fx = None
        self.verified = False
        self.problem = why
        if was:
            self._tell()

    def describe(self):
        if not self.verified:
            return None
        n = self.net
        return {"crc": "%08x" % (self.crc & 0xFFFFFFFF), "size": self.size, "task": n.task,
                "labels": list(n.labels or ()), "n_in": n.n_in, "n_out": n.n_out, "stim": n.stim}
