# Authentication on the unix port: HMAC-SHA256 against RFC 4231 and the golden vectors
# shared with the host (models/golden/auth.json, made with CPython's hmac), and the
# AuthService driven through a real Device with a fake board: every refusal and the
# success paths, counter persistence across a reboot, rotation, link drop.
import json
import os
import struct

import vclock  # noqa: F401  (first: the virtual `time`)
import time
from fakeboard import Board, Link

from garmentfw import auth, wire
from garmentfw.device import ANY_LEN, Device
from garmentfw.framing import Deframer, Framer
from garmentfw.store import Store

_ROOT = "/tmp/garment-auth-test-%d" % id(Store)


def _hex(b):
    return "".join("%02x" % x for x in b)


def _unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


def _golden(name="auth.json"):
    with open("../../../models/golden/" + name) as f:
        return json.load(f)


def _rfc4231():
    # RFC 4231 section 4's published cases (one copy, in models/golden/)
    return [(_unhex(c["key"]), _unhex(c["msg"]), c["mac"]) for c in _golden("rfc4231_hmac_sha256.json")["cases"]]


class _CountingStore(Store):
    def __init__(self, root):
        Store.__init__(self, root)
        self.saves = 0
        self.fail = False

    def save(self, name, payload, keep_previous=True):
        if self.fail:
            raise OSError(28)  # ENOSPC
        self.saves += 1
        Store.save(self, name, payload, keep_previous)


def _Board(store, wired=True):
    return Board(store=store, link=Link(wired))


class _Privileged:
    """Stands for the stimulation service: privileged requests it has seen."""

    def __init__(self):
        self.calls = []

    def handlers(self):
        return {
            wire.T_ARM: (self._h(wire.T_ARM), 0, True),
            wire.T_SET_LIMITS: (self._h(wire.T_SET_LIMITS), ANY_LEN, True),
            wire.T_STIM_TEST: (self._h(wire.T_STIM_TEST), 11, True),
            wire.T_MODEL_CHUNK: (self._h(wire.T_MODEL_CHUNK), ANY_LEN, True),
        }

    def _h(self, t):
        def h(seq, pkt, n):
            self.calls.append((t, bytes(pkt[3:3 + n])))
            dev.reply(wire.R_ACK, seq, bytes((t,)))

        return h

    def tick(self, now):
        return False

    def on_disconnect(self):
        pass

    def on_config(self):
        pass


dev = None  # the Device under test (the fake feature replies through it)


class _Rig:
    """A Device with the auth feature, a fake board and a host-side request encoder."""

    def __init__(self, fresh=True, wired=True, stride=auth.COUNTER_STRIDE):
        global dev
        if fresh:
            _wipe()
        self.store = _CountingStore(_ROOT)
        self.board = _Board(self.store, wired)
        self.dev = dev = Device(self.board)
        self.auth = auth.AuthService(self.dev, stride)
        self.dev.add_service(self.auth)
        self.priv = _Privileged()
        self.dev.add_service(self.priv)
        self.framer = Framer()
        self.pkt = Framer.packet()
        self.seq = 100
        self.session = None  # HmacSha256 of the session key (host side)
        self.counter = 0
        self.t_open = 0  # ticks_ms when the session opened (the host's anchor)
        self.counters = {}  # seq -> counter of every signed request (to check reply tags)
        self._events = []  # R_EVENT bodies as sent (with the unsolicited tag in a session)
        self.frames = []  # every request frame sent, for replay tests
        self._got = []
        self._deframer = Deframer(self._on_pkt, self._on_err)
        self.run()  # drain the boot output

    def _on_pkt(self, t, seq, pkt, n):
        body = bytes(pkt[3:3 + n])
        if t == wire.R_EVENT:
            self._events.append(body)
        else:
            self._got.append((t, body))

    def _on_err(self, code):
        raise AssertionError("device sent a bad frame: %d" % code)

    def run(self):
        link = self.board.link
        for _ in range(50):
            self.dev.step()
            if not link.inbox:
                break
        self.dev.step()
        out = link.out
        link.out = bytearray()
        self._deframer.feed(out, len(out))
        got, self._got = self._got, []
        return got

    def session_ms(self):
        return time.ticks_diff(time.ticks_ms(), self.t_open)

    def frame(self, ptype, body=b"", sign=False, counter=None, seq=None, t_ms=None):
        if seq is None:
            seq = self.seq
            self.seq = (seq + 1) & 0xFFFF
        if sign:
            if counter is None:
                self.counter += 1
                counter = self.counter
            if t_ms is None:
                t_ms = self.session_ms()
            self.counters[seq] = counter
            hdr = bytes((ptype, seq & 0xFF, seq >> 8))
            ctr = struct.pack("<II", counter, t_ms)
            body = body + ctr + self.session.digest(hdr, body, ctr)[:16]
        pkt = self.pkt
        pkt[3:3 + len(body)] = body
        self.framer.seq = seq
        n = self.framer.encode(pkt, ptype, len(body))
        f = bytes(self.framer.out[:n])
        self.frames.append(f)
        return f

    def send_raw(self, frame):
        self.board.link.inbox.extend(frame)
        got = self.run()
        assert len(got) == 1, got
        return got[0]

    def request(self, ptype, body=b"", sign=False, counter=None):
        return self.send_raw(self.frame(ptype, body, sign, counter))

    def expect(self, ptype, body=b"", sign=False, counter=None, code=None, reply=wire.R_ACK):
        t, b = self.request(ptype, body, sign, counter)
        if code is None:
            assert t == reply, (t, b)
        else:
            assert t == wire.R_ERROR and b[2] == code, (t, b)
        return b

    def provision(self, secret):
        self.expect(wire.T_PROVISION, secret)

    def login(self, secret):
        b = self.expect(wire.T_AUTH_CHALLENGE, reply=wire.R_CHALLENGE)
        nonce = b[2:18]
        counter = struct.unpack_from("<I", b, 18)[0]
        mac = auth.HmacSha256(secret).digest(b"auth" + nonce + struct.pack("<I", counter))
        self.expect(wire.T_AUTH_RESPONSE, struct.pack(wire.AUTH_RESPONSE_FMT, counter, mac))
        self.session = auth.HmacSha256(auth.HmacSha256(secret).digest(b"session" + nonce))
        self.t_open = time.ticks_ms()
        self.counter = counter
        return nonce, counter

    def untag(self, t, body):
        """``body`` without its unsolicited tag when this session's key verifies it."""
        s = self.session
        n = len(body) - wire.EVENT_TAG_LEN
        if s is not None and n >= 0 and auth.ct_equal(s.digest(b"event", bytes((t,)), body[:n + 8])[:16], body[n + 8:]):
            return body[:n]
        return body

    @property
    def events(self):
        """(code, text) of every R_EVENT, tags checked and taken off."""
        return [(b[4], self.untag(wire.R_EVENT, b)[5:].decode()) for b in self._events]

    def refused_events(self):
        return [t for c, t in self.events if c == wire.EV_AUTH_REFUSED]


def _wipe():
    try:
        for n in os.listdir(_ROOT):
            os.remove(_ROOT + "/" + n)
    except OSError:
        pass


SECRET = bytes((i * 37 + 11) & 0xFF for i in range(32))
OTHER = bytes((i * 53 + 7) & 0xFF for i in range(32))


# ---- HMAC ---------------------------------------------------------------------------
def test_hmac_rfc4231():
    cases = _rfc4231()
    assert len(cases) == 7
    for key, msg, want in cases:
        got = _hex(auth.hmac_sha256(key, msg))
        assert got.startswith(want), (key, got, want)
    # the split form hashes the concatenation
    h = auth.HmacSha256(b"Jefe")
    assert _hex(h.digest(b"what do ya ", b"want for ", b"nothing?")).startswith(cases[1][2])


def test_hmac_golden_vectors_match_cpython():
    g = _golden()
    assert len(g["hmac"]) >= 5
    for case in g["hmac"]:
        assert _hex(auth.hmac_sha256(_unhex(case["key"]), _unhex(case["msg"]))) == case["mac"], case


def test_protocol_golden_vectors():
    g = _golden()
    secret = _unhex(g["secret"])
    k = auth.HmacSha256(secret)
    for s in g["sessions"]:
        nonce = _unhex(s["nonce"])
        c = s["counter"]
        resp = struct.pack("<I", c) + k.digest(b"auth", nonce, struct.pack("<I", c))
        assert _hex(resp) == s["response"]
        assert _hex(k.digest(b"session", nonce)) == s["session_key"]
        sk = auth.HmacSha256(_unhex(s["session_key"]))
        for r in s["requests"]:
            hdr = struct.pack("<BH", r["type"], r["seq"])
            ctr = struct.pack("<II", r["counter"], r["t_ms"])
            assert _hex(ctr + sk.digest(hdr, _unhex(r["body"]), ctr)[:16]) == r["trailer"], r["type"]
        assert s["replies"]
        for r in s["replies"]:
            # the formula of AuthService.seal
            mac = sk.digest(b"reply", struct.pack("<I", r["counter"]) + bytes((r["type"],)), _unhex(r["body"]))
            assert _hex(mac[:16]) == r["mac"], r["type"]
        assert s["unsolicited"]
        for u in s["unsolicited"]:
            # the formula of AuthService.seal_unsolicited
            mac = sk.digest(b"event", bytes((u["type"],)), _unhex(u["body"]))
            assert _hex(mac[:16]) == u["mac"], u["type"]


def test_ct_equal():
    assert auth.ct_equal(b"abc", b"abc")
    assert not auth.ct_equal(b"abc", b"abd")
    assert not auth.ct_equal(b"abc", b"ab")
    assert not auth.ct_equal(b"\x00" * 32, b"\x00" * 31 + b"\x80")


# ---- the device ---------------------------------------------------------------------
class _FixedNonce:
    def __init__(self, nonce):
        self.nonce = nonce

    def urandom(self, n):
        assert n == len(self.nonce)
        return self.nonce


def test_golden_frames_are_accepted_by_the_device():
    # The host's frames (made by CPython) drive the firmware: same bytes, same verdicts.
    g = _golden()
    s = g["sessions"][0]
    r = _Rig()
    r.provision(_unhex(g["secret"]))
    real_os = auth.os
    auth.os = _FixedNonce(_unhex(s["nonce"]))
    try:
        b = r.expect(wire.T_AUTH_CHALLENGE, reply=wire.R_CHALLENGE)
    finally:
        auth.os = real_os
    assert b[2:18] == _unhex(s["nonce"]) and struct.unpack_from("<I", b, 18)[0] == s["counter"]
    r.expect(wire.T_AUTH_RESPONSE, _unhex(s["response"]))
    for q in s["requests"]:
        t, body = r.send_raw(_unhex(q["frame"]))
        assert t == wire.R_ACK and body[2] == q["type"], (t, body)
    assert [c[0] for c in r.priv.calls] == [q["type"] for q in s["requests"]]
    # the handlers saw the bodies without the trailer
    assert [_hex(c[1]) for c in r.priv.calls] == [q["body"] for q in s["requests"]]
    # the same frames again: replays
    for q in s["requests"]:
        t, body = r.send_raw(_unhex(q["frame"]))
        assert t == wire.R_ERROR and body[2] == wire.E_REPLAY, (t, body)
    assert len(r.priv.calls) == len(s["requests"])


def test_unauthenticated_privileged_request_is_refused():
    r = _Rig()
    r.provision(SECRET)
    r.expect(wire.T_ARM, code=wire.E_UNAUTHORIZED)  # no trailer at all
    r.session = auth.HmacSha256(b"\x01" * 32)  # a trailer, but no session on the device
    r.expect(wire.T_ARM, sign=True, code=wire.E_UNAUTHORIZED)
    assert r.priv.calls == []
    assert len(r.refused_events()) == 2, r.events


def test_privileged_request_without_auth_feature_is_refused():
    global dev
    _wipe()
    b = _Board(_CountingStore(_ROOT))
    d = dev = Device(b)
    p = _Privileged()
    d.add_service(p)
    f = Framer()
    pkt = Framer.packet()
    n = f.encode(pkt, wire.T_ARM, 0)
    b.link.inbox.extend(f.out[:n])
    d.step()
    got = []
    Deframer(lambda t, s, k, m: got.append((t, bytes(k[3:3 + m]))), lambda c: None).feed(b.link.out, len(b.link.out))
    errs = [x for x in got if x[0] == wire.R_ERROR]
    assert errs and errs[0][1][2] == wire.E_UNAUTHORIZED
    assert p.calls == []


def test_challenge_response_and_privileged_requests():
    r = _Rig()
    r.provision(SECRET)
    nonce, counter = r.login(SECRET)
    assert counter == 1 and len(nonce) == 16
    assert r.auth.authenticated
    for i in range(5):
        r.expect(wire.T_ARM, sign=True)
    limits = bytes(range(36))
    r.expect(wire.T_SET_LIMITS, limits, sign=True)
    assert r.priv.calls[-1] == (wire.T_SET_LIMITS, limits)
    assert len(r.priv.calls) == 6
    assert r.refused_events() == []
    assert (wire.EV_AUTH_OK, "host authenticated") in r.events
    # counters may skip (a lost request) but never go back
    r.expect(wire.T_ARM, sign=True, counter=r.counter + 10)
    r.counter += 10


def test_nonces_are_fresh():
    r = _Rig()
    r.provision(SECRET)
    seen = set()
    for _ in range(8):
        b = r.expect(wire.T_AUTH_CHALLENGE, reply=wire.R_CHALLENGE)
        seen.add(b[2:18])
    assert len(seen) == 8


def test_wrong_mac_is_refused():
    r = _Rig()
    r.provision(SECRET)
    r.login(SECRET)
    good = r.session
    r.session = auth.HmacSha256(b"\x02" * 32)  # wrong key
    r.expect(wire.T_ARM, sign=True, code=wire.E_UNAUTHORIZED)
    r.session = good
    # one flipped bit in the body, the MAC made for the original body
    f = bytearray(r.frame(wire.T_SET_LIMITS, bytes(36), sign=True))
    fr = Framer()
    pkt = Framer.packet()
    # rebuild the frame with body byte 0 changed but the original trailer
    body = bytearray(36 + 20)
    dd = []
    Deframer(lambda t, s, k, m: dd.append(bytes(k[:3 + m])), lambda c: None).feed(f, len(f))
    body[:] = dd[0][3:]
    body[0] ^= 1
    pkt[3:3 + len(body)] = body
    fr.seq = dd[0][1] | (dd[0][2] << 8)
    n = fr.encode(pkt, wire.T_SET_LIMITS, len(body))
    t, b = r.send_raw(bytes(fr.out[:n]))
    assert t == wire.R_ERROR and b[2] == wire.E_UNAUTHORIZED, (t, b)
    # a different seq with the same trailer: refused too (seq is under the MAC)
    pkt[3:3 + len(body)] = dd[0][3:]
    fr.seq = (fr.seq + 1) & 0xFFFF
    n = fr.encode(pkt, wire.T_SET_LIMITS, len(body))
    t, b = r.send_raw(bytes(fr.out[:n]))
    assert t == wire.R_ERROR and b[2] == wire.E_UNAUTHORIZED, (t, b)
    # a trailer cut short
    r.expect(wire.T_ARM, b"\x00" * 10, code=wire.E_UNAUTHORIZED)
    assert r.priv.calls == []
    assert len(r.refused_events()) == 4, r.events
    # and the session still works
    r.expect(wire.T_ARM, sign=True)


def test_replayed_counter_is_refused():
    r = _Rig()
    r.provision(SECRET)
    r.login(SECRET)
    r.expect(wire.T_ARM, sign=True, counter=5)
    r.expect(wire.T_ARM, sign=True, counter=5, code=wire.E_REPLAY)  # same counter, fresh MAC
    r.expect(wire.T_ARM, sign=True, counter=3, code=wire.E_REPLAY)  # older: reordered
    r.expect(wire.T_ARM, sign=True, counter=6)
    assert len(r.priv.calls) == 2
    ev = r.refused_events()
    assert len(ev) == 2 and "already used" in ev[0], ev


def test_captured_frame_resent_verbatim_is_refused():
    r = _Rig()
    r.provision(SECRET)
    r.login(SECRET)
    f = r.frame(wire.T_STIM_TEST, struct.pack(wire.STIM_TEST_FMT, 1, 10000, 200, 30, 1000), sign=True)
    t, b = r.send_raw(f)
    assert t == wire.R_ACK
    t, b = r.send_raw(f)
    assert t == wire.R_ERROR and b[2] == wire.E_REPLAY, (t, b)
    # in a later session the captured frame fails the MAC (new nonce, new key)
    r.login(SECRET)
    t, b = r.send_raw(f)
    assert t == wire.R_ERROR and b[2] == wire.E_UNAUTHORIZED, (t, b)
    # a captured auth response is worthless too: the nonce was single use
    r.expect(wire.T_AUTH_END)
    r.expect(wire.T_AUTH_CHALLENGE, reply=wire.R_CHALLENGE)
    login_frames = []
    for fr in r.frames:
        dd = []
        Deframer(lambda t, s, k, m: dd.append(k[0]), lambda c: None).feed(fr, len(fr))
        if dd and dd[0] == wire.T_AUTH_RESPONSE:
            login_frames.append(fr)
    t, b = r.send_raw(login_frames[-1])
    assert t == wire.R_ERROR and b[2] == wire.E_UNAUTHORIZED, (t, b)
    assert not r.auth.authenticated
    assert len(r.priv.calls) == 1


def test_bad_auth_responses():
    r = _Rig()
    r.expect(wire.T_AUTH_CHALLENGE, code=wire.E_BAD_STATE)  # not provisioned yet
    r.provision(SECRET)
    # a response without a challenge
    r.expect(wire.T_AUTH_RESPONSE, struct.pack(wire.AUTH_RESPONSE_FMT, 1, bytes(32)), code=wire.E_BAD_STATE)
    # a wrong secret
    b = r.expect(wire.T_AUTH_CHALLENGE, reply=wire.R_CHALLENGE)
    nonce, counter = b[2:18], struct.unpack_from("<I", b, 18)[0]
    mac = auth.HmacSha256(OTHER).digest(b"auth" + nonce + struct.pack("<I", counter))
    r.expect(wire.T_AUTH_RESPONSE, struct.pack(wire.AUTH_RESPONSE_FMT, counter, mac), code=wire.E_UNAUTHORIZED)
    # the right MAC, but for a nonce already consumed by the failed attempt
    mac = auth.HmacSha256(SECRET).digest(b"auth" + nonce + struct.pack("<I", counter))
    r.expect(wire.T_AUTH_RESPONSE, struct.pack(wire.AUTH_RESPONSE_FMT, counter, mac), code=wire.E_BAD_STATE)
    # a counter below the device's next one, with a valid MAC for it
    r.login(SECRET)
    r.expect(wire.T_ARM, sign=True, counter=40)
    b = r.expect(wire.T_AUTH_CHALLENGE, reply=wire.R_CHALLENGE)
    nonce, counter = b[2:18], struct.unpack_from("<I", b, 18)[0]
    assert counter == 41
    mac = auth.HmacSha256(SECRET).digest(b"auth" + nonce + struct.pack("<I", 7))
    r.expect(wire.T_AUTH_RESPONSE, struct.pack(wire.AUTH_RESPONSE_FMT, 7, mac), code=wire.E_REPLAY)
    assert len(r.refused_events()) == 4, r.events


def test_session_ends_on_auth_end_and_link_drop():
    r = _Rig()
    r.provision(SECRET)
    r.login(SECRET)
    r.expect(wire.T_ARM, sign=True)
    r.expect(wire.T_AUTH_END)
    assert not r.auth.authenticated
    r.expect(wire.T_ARM, sign=True, code=wire.E_UNAUTHORIZED)
    r.login(SECRET)
    r.expect(wire.T_ARM, sign=True)
    r.board.link.dropped = True
    r.run()
    assert not r.auth.authenticated
    r.expect(wire.T_ARM, sign=True, code=wire.E_UNAUTHORIZED)
    assert len(r.priv.calls) == 2


def test_provisioning_twice_is_refused():
    r = _Rig()
    r.provision(SECRET)
    r.expect(wire.T_PROVISION, OTHER, code=wire.E_BAD_STATE)
    assert r.store.load(auth.RECORD)[1:33] == SECRET
    # still the first secret
    r.login(SECRET)
    r.expect(wire.T_ARM, sign=True)
    assert len(r.refused_events()) == 1


def test_provisioning_over_a_wireless_link_is_refused():
    r = _Rig(wired=False)
    r.expect(wire.T_PROVISION, SECRET, code=wire.E_UNAUTHORIZED)
    assert r.store.load(auth.RECORD) is None
    assert not r.auth.provisioned
    assert "USB" in r.refused_events()[0]
    # a link that does not say it is wired is not
    del r.board.link.wired
    r.expect(wire.T_PROVISION, SECRET, code=wire.E_UNAUTHORIZED)


def test_bad_secrets_are_refused():
    r = _Rig()
    r.expect(wire.T_PROVISION, bytes(32), code=wire.E_OUT_OF_RANGE)
    r.expect(wire.T_PROVISION, b"\xff" * 32, code=wire.E_OUT_OF_RANGE)
    r.expect(wire.T_PROVISION, SECRET[:16], code=wire.E_MALFORMED)
    assert not r.auth.provisioned


def test_rotation_from_an_authenticated_session():
    r = _Rig()
    r.provision(SECRET)
    r.login(SECRET)
    r.expect(wire.T_ARM, sign=True, counter=30)
    r.counter = 30
    r.expect(wire.T_PROVISION, OTHER, sign=True)
    assert not r.auth.authenticated  # the old session ended with the old secret
    b = r.expect(wire.T_AUTH_CHALLENGE, reply=wire.R_CHALLENGE)
    assert struct.unpack_from("<I", b, 18)[0] == 32  # the counter carries on
    nonce = b[2:18]
    mac = auth.HmacSha256(SECRET).digest(b"auth" + nonce + struct.pack("<I", 32))
    r.expect(wire.T_AUTH_RESPONSE, struct.pack(wire.AUTH_RESPONSE_FMT, 32, mac), code=wire.E_UNAUTHORIZED)
    r.login(OTHER)
    r.expect(wire.T_ARM, sign=True)
    # rotation with a bad trailer is refused and changes nothing
    r.session = auth.HmacSha256(b"\x05" * 32)
    r.expect(wire.T_PROVISION, SECRET, sign=True, code=wire.E_UNAUTHORIZED)
    assert r.store.load(auth.RECORD)[1:33] == OTHER


def test_counter_survives_reboot_and_flash_writes_are_rare():
    r = _Rig(stride=16)
    r.provision(SECRET)
    saves0 = r.store.saves
    r.login(SECRET)
    for _ in range(40):
        r.expect(wire.T_ARM, sign=True)
    used = r.counter
    assert r.store.saves - saves0 <= 40 // 16 + 2, r.store.saves
    old = r.frame(wire.T_ARM, sign=True)
    r.counter -= 1  # not sent: captured before the reboot
    # reboot: a new Device on the same flash
    r2 = _Rig(fresh=False, stride=16)
    assert r2.auth.provisioned and not r2.auth.authenticated
    assert r2.auth.next > used
    nonce, counter = r2.login(SECRET)
    assert counter > used + 1
    # a valid request of the old session, never delivered: dead after the reboot
    t, b = r2.send_raw(old)
    assert t == wire.R_ERROR and b[2] == wire.E_UNAUTHORIZED
    # a counter from before the reboot, freshly MACed in the new session: a replay
    r2.expect(wire.T_ARM, sign=True, counter=used, code=wire.E_REPLAY)
    r2.expect(wire.T_ARM, sign=True)


def test_counter_not_saved_refuses_the_request():
    r = _Rig(stride=4)
    r.provision(SECRET)
    r.login(SECRET)
    r.store.fail = True
    codes = []
    for _ in range(6):
        t, b = r.request(wire.T_ARM, sign=True)
        codes.append(b[2] if t == wire.R_ERROR else 0)
    assert wire.E_STORAGE in codes, codes
    n_ok = codes.count(0)
    assert n_ok <= 4, codes  # nothing beyond the persisted ceiling went through
    r.store.fail = False
    r.expect(wire.T_ARM, sign=True)


def test_corrupt_record_leaves_the_garment_unprovisioned():
    r = _Rig()
    r.provision(SECRET)
    p = r.store.path(auth.RECORD)
    with open(p, "r+b") as f:
        f.seek(5)
        f.write(b"\x00\x00")
    r2 = _Rig(fresh=False)
    assert not r2.auth.provisioned
    assert any(c == wire.EV_AUTH_STORE for c, _ in r2.events), r2.events
    r2.expect(wire.T_AUTH_CHALLENGE, code=wire.E_BAD_STATE)
    r2.provision(OTHER)  # re-provisioning over USB recovers it
    r2.login(OTHER)
    r2.expect(wire.T_ARM, sign=True)


# ---- reply tags and request age (m9) ------------------------------------------------
def _tag_ok(r, t, body):
    """Whether ``body`` (a reply of type ``t``) ends with the tag of its request's counter."""
    n = len(body) - wire.REPLY_TAG_LEN
    ref = body[0] | (body[1] << 8)
    ctr = struct.pack("<I", r.counters[ref]) + bytes((t,))
    return n >= 2 and auth.ct_equal(r.session.digest(b"reply", ctr, body[:n + 4])[:16], body[n + 4:])


def test_replies_to_privileged_requests_carry_the_reply_tag():
    r = _Rig()
    r.provision(SECRET)
    t, b = r.request(wire.T_AUTH_CHALLENGE)
    assert t == wire.R_CHALLENGE and len(b) == 22  # unprivileged replies are untagged
    r.login(SECRET)
    vclock.advance_ms(1234)
    t, b = r.request(wire.T_ARM, sign=True)
    assert t == wire.R_ACK and len(b) == 3 + wire.REPLY_TAG_LEN and _tag_ok(r, t, b)
    assert struct.unpack_from("<I", b, 3)[0] == 1234  # the garment's session clock
    # the tag binds the counter: the same reply for another request does not verify
    r.counters[b[0] | (b[1] << 8)] += 1
    assert not _tag_ok(r, t, b)
    # an error after the checks passed is tagged too (a wrong body length here)
    t, b = r.request(wire.T_STIM_TEST, b"\x00", sign=True)
    assert t == wire.R_ERROR and b[2] == wire.E_MALFORMED and _tag_ok(r, t, b)
    # a refusal before them cannot be (bad MAC: no proof of the counter)
    t, b = r.request(wire.T_ARM)
    assert t == wire.R_ERROR and b[2] == wire.E_UNAUTHORIZED
    assert b[3:] == b"request 0x22 has no auth trailer", b  # the message only
    # an unsolicited packet with the same ref later is not sealed (done() after the handler)
    assert r.auth.reply_ref == -1


def test_unsolicited_packets_are_tagged_from_the_session_ack_until_it_ends():
    r = _Rig()
    r.provision(SECRET)
    prov = r._events[-1]
    assert prov[4] == wire.EV_PROVISIONED and r.untag(wire.R_EVENT, prov) == prov  # no session: no key
    r.login(SECRET)
    ok = r._events[-1]  # EV_AUTH_OK, sent right after the R_ACK that opened the session
    assert ok[4] == wire.EV_AUTH_OK and len(r.untag(wire.R_EVENT, ok)) == len(ok) - wire.EVENT_TAG_LEN
    assert struct.unpack_from("<I", ok, len(ok) - 20)[0] == 1  # numbered from 1 in the session
    t, b = r.request(wire.T_ARM)  # unsigned: refused before any MAC (the R_ERROR is untagged)
    assert t == wire.R_ERROR and b[2] == wire.E_UNAUTHORIZED and len(b) == 3 + len(b"request 0x22 has no auth trailer")
    ref = r._events[-1]
    assert ref[4] == wire.EV_AUTH_REFUSED and r.untag(wire.R_EVENT, ref) != ref
    assert struct.unpack_from("<I", ref, len(ref) - 20)[0] == 2
    # a state change the garment reports by itself (ref NO_REF) is tagged too
    pkt = r.dev._resp
    n = r.dev._sealed(pkt, wire.R_STIM_STATE, wire.NO_REF, 2)
    assert n == 2 + wire.EVENT_TAG_LEN
    r.expect(wire.T_AUTH_END)
    end = r._events[-1]
    assert end[4] == wire.EV_AUTH_END and r.untag(wire.R_EVENT, end) == end  # the session is over


def test_held_back_request_is_refused_as_stale():
    for start in (None, vclock.MASK - 300):  # and across the 2**30 tick wrap
        if start is not None:
            vclock.start(ms=start)
        r = _Rig()
        r.provision(SECRET)
        r.login(SECRET)
        held = r.frame(wire.T_ARM, sign=True)  # signed now, delivered late
        vclock.advance_ms(wire.REQUEST_MAX_AGE_MS + 1)
        t, b = r.send_raw(held)
        assert t == wire.R_ERROR and b[2] == wire.E_STALE, (t, b)
        assert r.priv.calls == []  # nothing was executed
        assert _tag_ok(r, t, b)  # the refusal is the garment's own
        assert any("ms old" in e for e in r.refused_events()), r.events
        assert r.auth.stale == 1
        t, b = r.send_raw(held)  # its counter is used up: never deliverable later
        assert t == wire.R_ERROR and b[2] == wire.E_REPLAY, (t, b)
        # exactly at the bound it still goes through
        at = r.frame(wire.T_ARM, sign=True)
        vclock.advance_ms(wire.REQUEST_MAX_AGE_MS)
        r.send_raw(at)
        assert len(r.priv.calls) == 1
        # from the future beyond the drift allowance: refused; within it: accepted
        now = r.session_ms()
        t, b = r.send_raw(r.frame(wire.T_ARM, sign=True, t_ms=now + wire.REQUEST_SKEW_MS + 1))
        assert t == wire.R_ERROR and b[2] == wire.E_STALE, (t, b)
        t, b = r.send_raw(r.frame(wire.T_ARM, sign=True, t_ms=now + wire.REQUEST_SKEW_MS))
        assert t == wire.R_ACK, (t, b)
        assert len(r.priv.calls) == 2


def test_session_clock_past_half_the_tick_period_is_stale():
    # ticks_diff is only valid below 2**29 ms (6.2 days): beyond it the age would wrap, so
    # such a session refuses everything (re-authenticate) rather than misjudge an age.
    r = _Rig()
    r.provision(SECRET)
    r.login(SECRET)
    vclock.advance_ms((1 << 29) + 10)
    t, b = r.send_raw(r.frame(wire.T_ARM, sign=True, t_ms=(1 << 29) + 10))
    assert t == wire.R_ERROR and b[2] == wire.E_STALE, (t, b)
    assert r.priv.calls == []
