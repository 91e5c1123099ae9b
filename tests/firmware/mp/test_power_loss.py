# Power loss during a model upload, at every file-system operation of every phase: BEGIN,
# the chunks, COMMIT (staging file read, the atomic save, the activation) and ROLLBACK.
# The flash is the real one of the unix port; the cut is injected under the store and the
# upload service (their `open` and `os`): the operation at the cut point does not happen
# (a write at it lands half its bytes), nothing after it reaches the flash. Then the
# garment boots again on that flash: it must come up with the old or the new model,
# verified, and never let the stimulation follow a model that is not; and the upload
# must then resume and complete.
import os
import struct
from binascii import crc32

import vclock  # noqa: F401  (first: the virtual `time`)
from fakeboard import Board, Link

from garmentfw import model_service as _ms
from garmentfw import store as _st
from garmentfw import wire
from garmentfw.store import Store

_ROOT = "/tmp/garment-power-loss-test"
_CUT = [0, 0, False]  # operations left before the cut; half-write at the cut; cut happened


class _Off(Exception):
    """The power is gone: nothing more reaches the flash."""


def _op(what):
    if _CUT[2]:
        raise _Off(what)
    if _CUT[0] > 0:
        _CUT[0] -= 1
        if _CUT[0] == 0:
            _CUT[2] = True
            return True  # this operation is the cut
    return False


class _File:
    def __init__(self, f):
        self.f = f

    def write(self, b):
        if _op("write"):
            if _CUT[1]:
                self.f.write(bytes(b)[: len(b) // 2])  # half of it reached the flash
            self.f.close()
            raise _Off("write")
        return self.f.write(b)

    def flush(self):
        if _op("flush"):
            self.f.close()
            raise _Off("flush")
        return self.f.flush()

    def read(self, *a):
        return self.f.read(*a)

    def readinto(self, b):
        return self.f.readinto(b)

    def close(self):
        return self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def _open(path, mode="r"):
    if "r" not in mode and _op("open " + mode):
        raise _Off("open")
    if _CUT[2] and "r" in mode:
        raise _Off("read")
    return _File(open(path, mode))


class _Os:
    def rename(self, a, b):
        if _op("rename"):
            raise _Off("rename")
        os.rename(a, b)

    def remove(self, p):
        if _op("remove"):
            raise _Off("remove")
        os.remove(p)

    def stat(self, p):
        return os.stat(p)

    def listdir(self, p):
        return os.listdir(p)

    def mkdir(self, p):
        os.mkdir(p)


def _faulty(on):
    o = _Os() if on else os
    f = _open if on else open
    for mod in (_st, _ms):
        mod.os = o
        mod.open = f


def _model(name):
    with open("../../../models/golden/int8_%s.gmdl" % name, "rb") as f:
        return f.read()


def _mid(data):
    return crc32(data[:-4]) & 0xFFFFFFFF


class _Authed:
    def check(self, dev, ptype, seq, pkt, body_len):
        return body_len

    reply_ref = -1  # no reply tags (the auth module tests them)

    def seal_unsolicited(self, pkt, ptype, body_len):
        return body_len  # nor unsolicited tags

    def done(self):
        pass


def _boot():
    from garmentfw.app import make_device

    b = Board(store=Store(_ROOT), n_stim=4, link=Link(capture=False))
    d = make_device(b)
    d.auth = _Authed()
    rep = []
    d.reply = lambda ptype, ref, payload=b"": rep.append((ptype, bytes(payload)))
    d.error = lambda ref, code, msg: rep.append((wire.R_ERROR, code, msg))
    return b, d, rep


def _req(d, ptype, body=b""):
    pkt = bytearray(wire.MAX_PACKET)
    pkt[3:3 + len(body)] = body
    d._on_packet(ptype, 1, pkt, len(body))


def _slot_and_stim(d):
    slot = stim = None
    for s in d.services:
        if hasattr(s, "slot"):
            slot = s.slot
        if hasattr(s, "sup"):
            stim = s
    return slot, stim


LDA = _model("lda")
MLP = _model("mlp")
CHUNK = 48


def _upload_and_rollback(d):
    """The phases under test: BEGIN, the chunks, COMMIT (with the activation), ROLLBACK.
    Stops at the cut (the requests after it would find the power off)."""
    _req(d, wire.T_MODEL_BEGIN, struct.pack(wire.MODEL_BEGIN_FMT, len(MLP), _mid(MLP)))
    off = 0
    while off < len(MLP) and not _CUT[2]:
        piece = MLP[off:off + CHUNK]
        _req(d, wire.T_MODEL_CHUNK, struct.pack("<I", off) + piece)
        off += len(piece)
    if not _CUT[2]:
        _req(d, wire.T_MODEL_COMMIT)
    if not _CUT[2]:
        _req(d, wire.T_MODEL_ROLLBACK)


def _fresh():
    try:
        for n in os.listdir(_ROOT):
            os.remove(_ROOT + "/" + n)
    except OSError:
        pass
    b, d, rep = _boot()
    _req(d, wire.T_MODEL_BEGIN, struct.pack(wire.MODEL_BEGIN_FMT, len(LDA), _mid(LDA)))
    _req(d, wire.T_MODEL_CHUNK, struct.pack("<I", 0) + LDA)
    _req(d, wire.T_MODEL_COMMIT)
    slot, stim = _slot_and_stim(d)
    assert slot.verified and slot.crc == _mid(LDA)
    return d


def _count_ops():
    d = _fresh()
    _CUT[0] = -1
    _CUT[2] = False
    n = [0]
    real = _op

    def counting(what):
        n[0] += 1
        return False

    globals()["_op"] = counting
    _faulty(True)
    try:
        _upload_and_rollback(d)
    finally:
        _faulty(False)
        globals()["_op"] = real
    return n[0]


def test_power_loss_at_every_point_of_an_upload_boots_old_or_new():
    n_ops = _count_ops()
    points = 0
    outcomes = {}
    for k in range(1, n_ops + 1):
        for half in (0, 1):
            d = _fresh()
            _CUT[0] = k
            _CUT[1] = half
            _CUT[2] = False
            _faulty(True)
            try:
                _upload_and_rollback(d)
            except _Off:
                pass
            finally:
                _faulty(False)
            assert _CUT[2], "cut point %d never reached" % k
            points += 1
            # the next boot, on the same flash
            b, d2, rep = _boot()
            slot, stim = _slot_and_stim(d2)
            assert slot.verified, (k, half, slot.problem, os.listdir(_ROOT))
            assert slot.crc in (_mid(LDA), _mid(MLP)), (k, half, "%08x" % slot.crc)
            outcomes[slot.crc] = outcomes.get(slot.crc, 0) + 1
            # the closed loop follows exactly the verified model, and nothing stimulates
            assert stim.sup.model_ok == slot.verified and not stim.sup.armed()
            assert stim.drv.count == 0
            names = os.listdir(_ROOT)
            assert not [x for x in names if x.endswith(".tmp") or x.endswith(".swap")], (k, half, names)
            # the upload resumes (or starts again) and completes
            _req(d2, wire.T_MODEL_BEGIN, struct.pack(wire.MODEL_BEGIN_FMT, len(MLP), _mid(MLP)))
            t, body = rep[-1][0], rep[-1][1]
            assert t == wire.R_MODEL_PROGRESS, (k, half, rep[-1])
            off = struct.unpack_from("<I", body, 0)[0]  # R_MODEL_PROGRESS: offset, total
            while off < len(MLP):
                _req(d2, wire.T_MODEL_CHUNK, struct.pack("<I", off) + MLP[off:off + 512])
                off = min(len(MLP), off + 512)
            _req(d2, wire.T_MODEL_COMMIT)
            assert rep[-1][0] == wire.R_MODEL_INFO, (k, half, rep[-1])
            assert slot.verified and slot.crc == _mid(MLP), (k, half)
    assert points >= 100, points
    assert len(outcomes) == 2, outcomes  # both the old and the new model were the answer somewhere
    print("power-loss points", points, "fs operations", n_ops, "outcomes", outcomes)
