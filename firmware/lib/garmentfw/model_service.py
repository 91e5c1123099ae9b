# Decoder model upload: chunked, resumable (also across a reboot), CRC-verified,
# atomically activated, the previous model kept for rollback. The upload lands in a
# staging file; only COMMIT, after the CRC and the model format accept it, replaces
# the stored model (Store.save: temp file + rename). A kill at any point leaves the
# old or the new model, never a broken one.
import json
import os
import struct

from garmentfw import wire
from garmentfw.model_format import MAX_FILE
from garmentfw.model_slot import MODEL, model_id

_PART = "model.part"
_META = "upload"


class ModelService:
    def __init__(self, device, slot):
        """``slot``: the ModelSlot a committed or rolled-back model is loaded into."""
        self.dev = device
        self.slot = slot
        self.total = 0
        self.crc = 0
        self.active = False
        self._resume()

    def _part(self) -> str:
        return self.dev.store.path(_PART)

    def _size(self) -> int:
        try:
            return os.stat(self._part())[6]
        except OSError:
            return 0

    def _resume(self) -> None:
        # An upload interrupted by a reboot continues where its staging file ends.
        try:
            meta = self.dev.store.load(_META)
        except Exception:
            meta = None
        if meta:
            m = json.loads(meta)
            self.total, self.crc, self.active = m["total"], m["crc"], True

    def handlers(self):
        return {
            wire.T_MODEL_BEGIN: (self._begin, 8, True),
            wire.T_MODEL_CHUNK: (self._chunk, -1, True),
            wire.T_MODEL_COMMIT: (self._commit, 0, True),
            wire.T_MODEL_ROLLBACK: (self._rollback, 0, True),
            wire.T_MODEL_INFO: (self._info, 0, False),
        }

    def tick(self, now_ms) -> bool:
        return False

    def on_disconnect(self) -> None:
        pass  # the staging file stays: the host resumes with the same BEGIN

    def on_config(self) -> None:
        # A model is only valid for the rate and channel count it was trained on.
        self.slot.load()

    def _progress(self, seq, offset):
        self.dev.reply(wire.R_MODEL_PROGRESS, seq, struct.pack("<II", offset, self.total))

    def _begin(self, seq, pkt, n):
        total, crc = struct.unpack_from(wire.MODEL_BEGIN_FMT, pkt, 3)
        if not 16 <= total <= MAX_FILE:
            self.dev.error(seq, wire.E_OUT_OF_RANGE, "model size %d not in 16..%d bytes" % (total, MAX_FILE))
            return
        if self.active and total == self.total and crc == self.crc and self._size() <= total:
            self._progress(seq, self._size())  # same file: resume
            return
        self._discard()
        self.total, self.crc, self.active = total, crc, True
        self.dev.store.save(_META, json.dumps({"total": total, "crc": crc}).encode(), keep_previous=False)
        open(self._part(), "wb").close()
        self._progress(seq, 0)

    def _chunk(self, seq, pkt, n):
        if not self.active:
            self.dev.error(seq, wire.E_BAD_STATE, "no upload in progress: send MODEL_BEGIN")
            return
        if n < 5:
            self.dev.error(seq, wire.E_MALFORMED, "chunk needs offset u32 and data")
            return
        offset = struct.unpack_from("<I", pkt, 3)[0]
        size = self._size()
        data_len = n - 4
        if offset != size:
            self.dev.error(seq, wire.E_BAD_STATE, "chunk at %d, upload continues at %d" % (offset, size))
            return
        if offset + data_len > self.total:
            self.dev.error(seq, wire.E_OUT_OF_RANGE, "chunk ends at %d, past the model size %d" % (offset + data_len, self.total))
            return
        with open(self._part(), "ab") as f:
            f.write(memoryview(pkt)[7 : 7 + data_len])
        self._progress(seq, offset + data_len)

    def _commit(self, seq, pkt, n):
        why = self.slot.change_refused()
        if why:
            self.dev.error(seq, wire.E_BAD_STATE, "model not committed: %s" % why)
            return
        if not self.active:
            self.dev.error(seq, wire.E_BAD_STATE, "no upload in progress")
            return
        size = self._size()
        if size != self.total:
            self.dev.error(seq, wire.E_BAD_STATE, "upload incomplete: %d of %d bytes" % (size, self.total))
            return
        with open(self._part(), "rb") as f:
            data = f.read()
        if model_id(data) != self.crc:
            self._discard()
            self.dev.error(seq, wire.E_MODEL, "upload CRC mismatch: model discarded, the old one stays active")
            return
        d = self.dev
        try:
            self.slot.verify(data)  # every check activation makes, before anything is replaced
        except ValueError as e:
            self._discard()
            d.error(seq, wire.E_MODEL, "model refused: %s" % e)
            return
        d.store.save(MODEL, data)  # atomic; the previous model becomes MODEL.prev
        self._discard()
        self.slot.load()
        d.event(wire.EV_MODEL_COMMITTED, "model committed (%d bytes)" % len(data))
        self._info(seq, pkt, 0)

    def _rollback(self, seq, pkt, n):
        why = self.slot.change_refused()
        if why:
            self.dev.error(seq, wire.E_BAD_STATE, "model not rolled back: %s" % why)
            return
        try:
            self.dev.store.rollback(MODEL)
        except Exception as e:
            self.dev.error(seq, wire.E_BAD_STATE, "no previous model to roll back to: %s" % e)
            return
        self.slot.load()
        self.dev.event(wire.EV_MODEL_ROLLED_BACK, "model rolled back")
        self._info(seq, pkt, 0)

    def _discard(self) -> None:
        self.active = False
        for name in (_PART,):
            try:
                os.remove(self.dev.store.path(name))
            except OSError:
                pass
        self.dev.store.delete(_META)

    def _info(self, seq, pkt, n):
        dec = self.slot
        prev = None
        try:
            p = self.dev.store.load(MODEL, previous=True)
            if p is not None:
                prev = {"size": len(p), "crc": "%08x" % model_id(p)}
        except Exception as e:
            prev = {"error": str(e)}
        info = {
            "active": dec.describe(),
            "verified": dec.verified,
            "problem": dec.problem,
            "previous": prev,
            "upload": {"offset": self._size(), "total": self.total} if self.active else None,
        }
        self.dev.reply(wire.R_MODEL_INFO, seq, json.dumps(info).encode())
