# Model upload on the device: chunked, resumable, CRC-verified, atomic, rollback,
# refusal of bad files, and the decoder running the active model without allocating.
import gc
import os
import struct
from binascii import crc32

from garmentfw import wire
from garmentfw.model_service import ModelService
from garmentfw.store import Store

exec(open("test_device_hotpath.py").read())  # _Board, _device, _window, virtual clock

_ROOT = "/tmp/garment-upload-test"


class _Authed:
    """Stands in for an authenticated session (auth has its own tests)."""

    def check(self, dev, ptype, seq, pkt, body_len):
        return body_len

    reply_ref = -1  # no reply tags (the auth module tests them)

    def seal_unsolicited(self, pkt, ptype, body_len):
        return body_len  # nor unsolicited tags

    def done(self):
        pass


def _slot(d):
    """The device's model slot (the model service loads into it)."""
    for s in d.services:
        if isinstance(s, ModelService):
            return s.slot
    raise AssertionError("no model service")


def _wipe():
    try:
        for n in os.listdir(_ROOT):
            os.remove(_ROOT + "/" + n)
    except OSError:
        pass


def _rig(wipe=True, n_stim=0):
    from garmentfw.app import make_device

    if wipe:
        _wipe()
    b = Board(store=Store(_ROOT), n_stim=n_stim, link=Link(capture=False))
    d = make_device(b)
    d.auth = _Authed()
    replies = []

    def reply(ptype, ref, payload=b""):
        replies.append((ptype, bytes(payload)))

    def error(ref, code, msg):
        replies.append((wire.R_ERROR, code, msg))

    d.reply = reply
    d.error = error
    return b, d, replies


def _req(d, ptype, body=b""):
    pkt = bytearray(wire.MAX_PACKET)
    pkt[3:3 + len(body)] = body
    d._on_packet(ptype, 1, pkt, len(body))


def _model(name):
    with open("../../../models/golden/int8_%s.gmdl" % name, "rb") as f:
        return f.read()


def _upload(d, data, upto=None, chunk=100):
    _req(d, wire.T_MODEL_BEGIN, struct.pack("<II", len(data), crc32(data[:-4]) & 0xFFFFFFFF))
    off = 0
    end = len(data) if upto is None else upto
    while off < end:
        piece = data[off:min(off + chunk, end)]
        _req(d, wire.T_MODEL_CHUNK, struct.pack("<I", off) + piece)
        off += len(piece)


def test_upload_commit_activates_and_keeps_previous():
    b, d, rep = _rig()
    assert not _slot(d).verified
    lda = _model("lda")
    _upload(d, lda)
    _req(d, wire.T_MODEL_COMMIT)
    assert rep[-1][0] == wire.R_MODEL_INFO, rep[-1]
    assert _slot(d).verified and _slot(d).net.task == "classification"
    mlp = _model("mlp")
    _upload(d, mlp)
    _req(d, wire.T_MODEL_COMMIT)
    assert _slot(d).verified and _slot(d).net.n_out == 4
    _req(d, wire.T_MODEL_ROLLBACK)
    assert _slot(d).net.n_out == 2  # the LDA is back


def test_bad_crc_and_wrong_garment_are_refused_old_model_stays():
    b, d, rep = _rig()
    _upload(d, _model("lda"))
    _req(d, wire.T_MODEL_COMMIT)
    bad = bytearray(_model("mlp"))
    bad[100] ^= 0xFF
    _req(d, wire.T_MODEL_BEGIN, struct.pack("<II", len(bad), crc32(_model("mlp")[:-4]) & 0xFFFFFFFF))
    _req(d, wire.T_MODEL_CHUNK, struct.pack("<I", 0) + bytes(bad))
    _req(d, wire.T_MODEL_COMMIT)
    assert rep[-1][0] == wire.R_ERROR and rep[-1][1] == wire.E_MODEL and "CRC" in rep[-1][2], rep[-1]
    # a model for 1 kHz / 4 channels is refused by this 2 kHz / 8 channel garment
    _upload(d, _model("ridge"))
    _req(d, wire.T_MODEL_COMMIT)
    assert rep[-1][0] == wire.R_ERROR and rep[-1][1] == wire.E_MODEL, rep[-1]
    assert _slot(d).verified and _slot(d).net.n_out == 2  # still the LDA


def test_out_of_order_and_oversize_chunks_refused():
    b, d, rep = _rig()
    data = _model("lda")
    _req(d, wire.T_MODEL_CHUNK, struct.pack("<I", 0) + data[:10])
    assert rep[-1][1] == wire.E_BAD_STATE
    _upload(d, data, upto=100)
    _req(d, wire.T_MODEL_CHUNK, struct.pack("<I", 300) + data[300:310])
    assert rep[-1][1] == wire.E_BAD_STATE and "continues at 100" in rep[-1][2]
    _req(d, wire.T_MODEL_CHUNK, struct.pack("<I", 100) + data[100:] + b"extra")
    assert rep[-1][1] == wire.E_OUT_OF_RANGE
    _req(d, wire.T_MODEL_BEGIN, struct.pack("<II", 10 ** 6, 0))
    assert rep[-1][1] == wire.E_OUT_OF_RANGE


def test_a_different_model_of_the_same_size_is_not_spliced_on():
    b, d, rep = _rig()
    lda = _model("lda")
    other = bytearray(lda)
    other[40] ^= 1  # same size, different content (and so a different stored CRC)
    _upload(d, lda, upto=300)
    _req(d, wire.T_MODEL_BEGIN, struct.pack("<II", len(other), crc32(bytes(other)[:-4]) & 0xFFFFFFFF))
    assert struct.unpack("<II", rep[-1][1]) == (0, len(other))  # starts over, no resume


def test_resume_after_reboot_mid_upload():
    b, d, rep = _rig()
    data = _model("mlp")
    _upload(d, data, upto=700)
    b2, d2, rep2 = _rig(wipe=False)  # power cycle: a new device on the same flash
    _req(d2, wire.T_MODEL_BEGIN, struct.pack("<II", len(data), crc32(data[:-4]) & 0xFFFFFFFF))
    assert rep2[-1][0] == wire.R_MODEL_PROGRESS and struct.unpack("<II", rep2[-1][1]) == (700, len(data))
    _req(d2, wire.T_MODEL_CHUNK, struct.pack("<I", 700) + data[700:])
    _req(d2, wire.T_MODEL_COMMIT)
    assert _slot(d2).verified and _slot(d2).net.n_out == 4


def test_interrupted_save_leaves_old_model():
    # A cut between Store.save's two renames leaves only model.prev: boot restores it.
    b, d, rep = _rig()
    _upload(d, _model("lda"))
    _req(d, wire.T_MODEL_COMMIT)
    os.rename(_ROOT + "/model", _ROOT + "/model.prev")
    with open(_ROOT + "/model.tmp", "wb") as f:
        f.write(b"half of a new model")
    b2, d2, rep2 = _rig(wipe=False)
    assert _slot(d2).verified and _slot(d2).net.n_out == 2


def test_decoder_runs_per_window_without_allocating():
    b, d, rep = _rig()
    _upload(d, _model("lda"))
    _req(d, wire.T_MODEL_COMMIT)
    d.streaming = True
    d.streamer.start(d.n_ch, d.kind)
    nv = array("i", [((i * 7919) % 2001 - 1000) * 500 for i in range(8 * 200)])
    for _ in range(12):
        _window(b, d, nv)
    w0 = d.window.windows
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(20):
        _window(b, d, nv)
    used = gc.mem_alloc() - before
    assert d.window.windows - w0 == 20  # one window per 50 ms
    assert used == 0, used


def test_the_model_slot_tells_its_subscribers_at_once():
    # no polling: a commit, a rollback and a reconfiguration each notify in the same call
    b, d, rep = _rig()
    slot = _slot(d)
    told = []
    slot.subscribe(lambda net, fx: told.append(None if net is None else net.n_out))
    assert told == [None]  # told the current state on subscribing
    _upload(d, _model("lda"))
    _req(d, wire.T_MODEL_COMMIT)
    assert told[-1] == 2 and d.window.net is slot.net
    _upload(d, _model("mlp"))
    _req(d, wire.T_MODEL_COMMIT)
    assert told[-2:] == [None, 4]  # the old one dropped, then the new one active
    _req(d, wire.T_MODEL_ROLLBACK)
    assert told[-1] == 2 and d.window.net.n_out == 2


def test_closed_loop_from_decoder_to_pulses_allocates_nothing():
    # the whole pipeline as app.make_device wires it, armed: EMG -> artefact stage -> EMG
    # guard -> filters -> features -> int8 LDA -> control -> supervisor clip -> engine ->
    # pulses and R_PULSES, with no allocation per window (one loop pass per 50 ms here, so
    # fewer pulses than 30 Hz: the engine fires what is due at each pass)
    from garmentfw.stim_service import StimService

    b, d, rep = _rig(n_stim=4)
    _upload(d, _model("lda"))
    _req(d, wire.T_MODEL_COMMIT)
    stim = [s for s in d.services if isinstance(s, StimService)][0]
    assert stim.control.set_model({"preset": "proportional", "params": {"gain": 1.0, "deadband": 0}}) is None
    for ch in (0, 1):
        _req(d, wire.T_CALIB_SET, struct.pack(wire.CALIB_FMT, ch, 5000, 10000, 30000, 2500, 300, 30))
    d.streaming = True
    d.streamer.start(d.n_ch, d.kind)
    nv = array("i", [((i * 7919) % 2001 - 1000) * 500 for i in range(8 * 200)])
    for _ in range(6):
        _window(b, d, nv)
    d.last_ping_ms = vclock.ticks_ms()
    _req(d, wire.T_ARM)
    for _ in range(12):
        d.last_ping_ms = vclock.ticks_ms()  # a live host's heartbeat
        _window(b, d, nv)
    assert stim.sup.state == wire.SS_STIMULATING, (stim.sup.state, rep[-3:])
    n0 = b.stim.count
    w0 = d.window.windows
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(20):
        d.last_ping_ms = vclock.ticks_ms()
        _window(b, d, nv)
    used = gc.mem_alloc() - before
    assert d.window.windows - w0 == 20 and b.stim.count - n0 >= 10, (d.window.windows - w0, b.stim.count - n0)
    assert used == 0, used


# ---- a model change while armed ---------------------------------------------------------
def _armed_rig():
    """The full firmware (app.make_device) on a board with a stimulator, a model active,
    channel 0 calibrated and armed."""
    from garmentfw.app import make_device

    _wipe()
    b = Board(store=Store(_ROOT), n_stim=4, link=Link(capture=False))
    d = make_device(b)
    d.auth = _Authed()
    replies = []
    d.reply = lambda ptype, ref, payload=b"": replies.append((ptype, bytes(payload)))
    d.error = lambda ref, code, msg: replies.append((wire.R_ERROR, code, msg))
    _upload(d, _model("lda"))
    _req(d, wire.T_MODEL_COMMIT)
    assert _slot(d).verified
    _upload(d, _model("mlp"))
    _req(d, wire.T_MODEL_COMMIT)
    assert _slot(d).net.n_out == 4
    for _ in range(30):
        vclock.advance_us(1000)
        d.step()
    _req(d, wire.T_CALIB_SET, struct.pack(wire.CALIB_FMT, 0, 5000, 10000, 30000, 2500, 300, 30))
    _req(d, wire.T_PING, b"\0\0\0\0")
    _req(d, wire.T_ARM)
    stim = [s for s in d.services if hasattr(s, "sup")][0]
    assert stim.sup.armed(), replies[-3:]
    return b, d, replies, stim


def test_model_commit_or_rollback_refused_while_armed():
    b, d, rep, stim = _armed_rig()
    before = _slot(d).crc
    _req(d, wire.T_MODEL_ROLLBACK)
    assert rep[-1][0] == wire.R_ERROR and rep[-1][1] == wire.E_BAD_STATE, rep[-1]
    assert _slot(d).crc == before and stim.sup.armed()
    _upload(d, _model("lda"))
    _req(d, wire.T_MODEL_COMMIT)
    assert rep[-1][0] == wire.R_ERROR and rep[-1][1] == wire.E_BAD_STATE, rep[-1]
    assert _slot(d).crc == before and stim.sup.armed()
    _req(d, wire.T_DISARM)
    _req(d, wire.T_MODEL_COMMIT)  # the staged upload is still there: it commits now
    assert rep[-1][0] == wire.R_MODEL_INFO, rep[-1]
    assert _slot(d).crc != before and _slot(d).net.n_out == 2


# ---- a CRC-valid model the feature setup cannot use ----------------------------------
def _without_feature_key(data, key):
    """The model file with ``key`` removed from its TAG_FEATURES JSON, re-framed and
    re-CRC'd: a well-formed file whose feature setup fails."""
    import json

    from garmentfw import model_format as mf

    out = bytearray(data[:16])
    off = 16
    end = len(data) - 4
    while off < end:
        tag, _res, n = struct.unpack_from("<HHI", data, off)
        payload = data[off + 8:off + 8 + n]
        if tag == mf.TAG_FEATURES:
            cfg = json.loads(payload)
            del cfg[key]
            payload = json.dumps(cfg).encode()
        out += struct.pack("<HHI", tag, 0, len(payload)) + payload
        off += 8 + n
    struct.pack_into("<I", out, 8, len(out) + 4)
    out += struct.pack("<I", crc32(out) & 0xFFFFFFFF)
    return bytes(out)


def test_model_missing_a_feature_key_is_refused_at_commit():
    b, d, rep = _rig()
    lda = _model("lda")
    _upload(d, lda)
    _req(d, wire.T_MODEL_COMMIT)
    good = _slot(d).crc
    bad = _without_feature_key(lda, "zc_thr")
    _upload(d, bad)
    _req(d, wire.T_MODEL_COMMIT)
    assert rep[-1][0] == wire.R_ERROR and rep[-1][1] == wire.E_MODEL, rep[-1]
    assert _slot(d).verified and _slot(d).crc == good  # the old model stays


def test_a_stored_model_that_fails_to_load_leaves_the_garment_up_without_one():
    from garmentfw.app import make_device

    _wipe()
    st = Store(_ROOT)
    st.save("model", _without_feature_key(_model("lda"), "zc_thr"))
    b = _Board()
    b.store = st
    d = make_device(b)  # boots (no exception), no model active
    assert not _slot(d).verified and _slot(d).problem, _slot(d).problem
    for _ in range(20):
        vclock.advance_us(1000)
        d.step()


# ---- the acquisition a model was trained with ------------------------------------------
def _with_info(data, info):
    """The model file with its TAG_INFO section replaced by ``info`` (re-framed, re-CRC'd)."""
    import json

    from garmentfw import model_format as mf

    out = bytearray(data[:16])
    off = 16
    end = len(data) - 4
    k = 0
    while off < end:
        tag, _res, n = struct.unpack_from("<HHI", data, off)
        if tag != mf.TAG_INFO:
            out += data[off:off + 8 + n]
            k += 1
        off += 8 + n
    payload = json.dumps(info).encode()
    out += struct.pack("<HHI", mf.TAG_INFO, 0, len(payload)) + payload
    struct.pack_into("<H", out, 12, k + 1)
    struct.pack_into("<I", out, 8, len(out) + 4)
    out += struct.pack("<I", crc32(out) & 0xFFFFFFFF)
    return bytes(out)


def _config(d, **kw):
    cur = dict(fs=d.fs, n_ch=d.n_ch, mains=d.mains, kind=d.kind, hp=d.hp, notch=d.notch)
    cur.update(kw)
    _req(d, wire.T_SET_CONFIG, struct.pack(wire.CONFIG_FMT, cur["fs"], cur["n_ch"], cur["mains"], cur["kind"],
                                           cur["hp"], cur["notch"]))


def test_set_config_needs_an_authenticated_session():
    b, d, rep = _rig()
    d.auth = None  # no session
    _config(d, hp=0)
    assert d.hp == 1, "an unauthenticated host switched the high-pass off"
    assert rep and rep[-1][0] == wire.R_ERROR and rep[-1][1] == wire.E_UNAUTHORIZED, rep


def test_a_model_runs_only_under_the_acquisition_it_was_trained_with():
    b, d, rep = _rig()
    _upload(d, _model("lda"))
    _req(d, wire.T_MODEL_COMMIT)
    assert _slot(d).verified
    _config(d, hp=0)  # the high-pass off: the model was trained on filtered EMG
    assert not _slot(d).verified and "hp" in _slot(d).problem, _slot(d).problem
    _config(d, hp=1)
    assert _slot(d).verified
    _config(d, notch=0)
    assert not _slot(d).verified
    _config(d, notch=1)
    # a model that records its mains and channel map
    lda = _with_info(_model("lda"), {"acquisition": {"mains": 50, "hp": 1, "notch": 1, "montage": list(b.MONTAGE[:d.n_ch])}})
    _upload(d, lda)
    _req(d, wire.T_MODEL_COMMIT)
    assert rep[-1][0] == wire.R_MODEL_INFO, rep[-1]
    _config(d, mains=60)
    assert not _slot(d).verified and "mains" in _slot(d).problem, _slot(d).problem
    _config(d, mains=50)
    assert _slot(d).verified
    other = _with_info(_model("lda"), {"acquisition": {"montage": ["x"] * d.n_ch}})
    _upload(d, other)
    _req(d, wire.T_MODEL_COMMIT)
    assert rep[-1][0] == wire.R_ERROR and rep[-1][1] == wire.E_MODEL, rep[-1]


def test_a_model_whose_features_overload_the_board_is_refused():
    # The context model computes M2 and M4 (4 ch x 1 kHz): on a board whose clock takes
    # the acquisition with MAV..RMS but not those features' extra work, it is refused at
    # commit with the reason, and the old model stays (garmentfw/budget.py).
    from garmentfw import budget

    need_td5 = budget.instructions_per_s(1000, 4) * budget.HEADROOM
    need_ctx = budget.instructions_per_s(1000, 4, ("MAV", "M2", "M4")) * budget.HEADROOM
    assert need_ctx > need_td5
    b, d, rep = _rig()
    _config(d, fs=1000, n_ch=4)
    assert (d.fs, d.n_ch) == (1000, 4)
    _upload(d, _model("ctx"))
    _req(d, wire.T_MODEL_COMMIT)
    assert _slot(d).verified
    good = _slot(d).crc
    budget.CPU_HZ[b.NAME] = (need_td5 + need_ctx) // 2  # between the two
    try:
        _upload(d, _model("ctx"))
        _req(d, wire.T_MODEL_COMMIT)
        assert rep[-1][0] == wire.R_ERROR and rep[-1][1] == wire.E_MODEL, rep[-1]
        assert "do not fit" in rep[-1][2] and "M4" in rep[-1][2], rep[-1]
        assert _slot(d).crc == good
    finally:
        del budget.CPU_HZ[b.NAME]
