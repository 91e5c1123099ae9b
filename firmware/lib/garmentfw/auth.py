# Authentication of the host (DESIGN behaviour 12): only a host that knows the
# garment's secret may arm, stimulate, change limits or upload a model; replays are
# refused.
#
# Secret: 32 random bytes per garment, provisioned over the wired (USB) link only:
#   T_PROVISION(secret)            accepted while the garment is unprovisioned, or
#   T_PROVISION(secret | trailer)  from an authenticated session (rotation).
# Challenge-response (HMAC-SHA256, RFC 2104, implemented here: MicroPython has
# hashlib.sha256 but no hmac module):
#   T_AUTH_CHALLENGE               -> R_CHALLENGE(ref, nonce 16 B, counter u32)
#   T_AUTH_RESPONSE(counter, mac)  mac = HMAC(secret, b"auth" | nonce | counter LE)
#                                  -> R_ACK, session open with
#                                  session_key = HMAC(secret, b"session" | nonce)
# Every privileged request then ends with a trailer of AUTH_TAG_LEN (24) bytes:
#   counter u32 LE | t_ms u32 LE | HMAC(session_key, type | seq LE | body | counter LE | t_ms LE)[:16]
# (type | seq LE | body | counter | t_ms is exactly pkt[0 : 3 + body + 8], contiguous).
# The counter is global to the garment and strictly increasing: a request whose
# counter is not above the last accepted one is refused with E_REPLAY; a wrong MAC or
# no session is refused with E_UNAUTHORIZED. Every refusal is logged (R_EVENT).
# Freshness: t_ms is the host's estimate of this session's clock (ms since the session
# opened; the host re-anchors it on every authenticated reply, which carries the clock).
# age = session clock - t_ms, computed wrap-safe (ticks_diff); a request with age above
# wire.REQUEST_MAX_AGE_MS (held back by whoever relays it) or below -REQUEST_SKEW_MS is
# refused with E_STALE and its counter is used up (it can never be delivered later).
# Replies: once a request passed its MAC and counter, every reply to it (R_*, R_ACK,
# R_ERROR) ends with REPLY_TAG_LEN bytes (seal()):
#   t_ms u32 LE | HMAC(session_key, b"reply" | counter LE | reply type | body incl. t_ms)[:16]
# so the host detects a forged reply and a genuine one replayed for another request.
# The nonce is single use and the session key depends on it, so frames captured in
# one session are worthless in the next (wrong MAC). T_AUTH_END or a link drop closes
# the session.
#
# Counter persistence (replays after a reboot): writing flash for every request would
# wear it out, so the record holds a CEILING: every counter ever accepted is below it.
# Accepting a counter >= ceiling first saves ceiling = counter + COUNTER_STRIDE (the
# request is refused with E_STORAGE if that save fails). On boot the next acceptable
# counter is the stored ceiling, i.e. the counter jumps ahead by up to COUNTER_STRIDE
# after a reboot; R_CHALLENGE tells the host where it stands. The counter never goes
# back, not even when the secret is rotated.
#
# Record "auth" (device.store, atomic + CRC-verified, no .prev copy of old secrets):
#   version u8 (1) | secret 32 B | ceiling u32 LE
# A record that fails verification is reported and treated as absent: the garment can
# then be provisioned again, over USB only (the same physical access as at first).
import hashlib
import os
import struct

import micropython
import time
from micropython import const

from garmentfw import wire

SECRET_LEN = const(32)
NONCE_LEN = const(16)
MAC_LEN = const(16)  # truncated request MAC in the trailer
COUNTER_STRIDE = const(256)  # flash writes: one per this many privileged requests
COUNTER_MAX = 0xFFFFFFFF  # u32 on the wire (not a const: a big int on 32-bit ports)
RECORD = "auth"
_REC_VERSION = const(1)
_REC_LEN = const(37)
_BLOCK = const(64)



@micropython.viper
def _diff(a: ptr8, ao: int, b: ptr8, bo: int, n: int) -> int:
    # Constant-time comparison: every byte is looked at whatever the data.
    d = 0
    i = 0
    while i < n:
        d = d | (a[ao + i] ^ b[bo + i])
        i += 1
    return d


def ct_equal(a, b) -> bool:
    """Constant-time equality of two byte strings (lengths are not secret)."""
    if len(a) != len(b):
        return False
    return _diff(a, 0, b, 0, len(a)) == 0


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) with the key's pads computed once."""

    def __init__(self, key):
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        n = len(key)
        self._ipad = bytearray(_BLOCK)
        self._opad = bytearray(_BLOCK)
        for i in range(_BLOCK):
            k = key[i] if i < n else 0
            self._ipad[i] = k ^ 0x36
            self._opad[i] = k ^ 0x5C

    def digest(self, a, b=None, c=None) -> bytes:
        """HMAC of the concatenation a | b | c (b and c optional)."""
        h = hashlib.sha256(self._ipad)
        h.update(a)
        if b is not None:
            h.update(b)
        if c is not None:
            h.update(c)
        o = hashlib.sha256(self._opad)
        o.update(h.digest())
        return o.digest()

    def wipe(self) -> None:
        """Overwrite the key material held in RAM."""
        for i in range(_BLOCK):
            self._ipad[i] = 0
            self._opad[i] = 0


def hmac_sha256(key, msg) -> bytes:
    return HmacSha256(key).digest(msg)


def _u32(x) -> bytes:
    return struct.pack("<I", x)


class AuthService:
    """The device service that authenticates the host (12); sets ``device.auth``."""

    def __init__(self, device, stride=COUNTER_STRIDE):
        self.device = device
        self.stride = stride
        self._key = None  # HmacSha256(secret) while provisioned
        self._session = None  # HmacSha256(session key) while a session is open
        self._nonce = None  # the outstanding challenge (single use)
        self.next = 1  # smallest counter still acceptable
        self._ceiling = 1  # persisted: every accepted counter is below it
        self.refusals = 0
        self.generation = 0  # +1 at every session opened or closed (the stimulation ties its arm to one)
        self._t_open = 0  # ticks_ms when the session opened (its clock's zero)
        self.reply_ref = -1  # seq of the request whose replies get sealed (-1: none)
        self._reply_ctr = b""  # its counter, u32 LE
        self._ev = None  # the session whose key tags unsolicited packets (from its R_ACK on)
        self._ev_n = 0  # unsolicited packets tagged in it
        self._ev_hdr = bytearray(1)  # the tagged packet's type (no allocation per packet)
        self.stale = 0  # requests refused as too old / from the future
        self._load()
        device.auth = self

    # ---- state ---------------------------------------------------------------------
    @property
    def provisioned(self) -> bool:
        return self._key is not None

    @property
    def authenticated(self) -> bool:
        return self._session is not None

    def _load(self) -> None:
        store = self.device.store
        if store is None:
            return
        try:
            rec = store.load(RECORD)
        except Exception as e:  # StoreError: CRC mismatch, truncated, ...
            self.device.event(wire.EV_AUTH_STORE, "auth record unusable (%s): garment unprovisioned" % (e,))
            return
        if rec is None:
            return
        if len(rec) != _REC_LEN or rec[0] != _REC_VERSION:
            self.device.event(wire.EV_AUTH_STORE, "auth record of unknown layout: garment unprovisioned")
            return
        self._key = HmacSha256(rec[1:1 + SECRET_LEN])
        ceiling = struct.unpack_from("<I", rec, 1 + SECRET_LEN)[0]
        self._ceiling = ceiling
        self.next = ceiling

    def _save(self, secret, ceiling) -> bool:
        store = self.device.store
        if store is None:
            return False
        rec = bytearray(_REC_LEN)
        rec[0] = _REC_VERSION
        rec[1:1 + SECRET_LEN] = secret
        struct.pack_into("<I", rec, 1 + SECRET_LEN, ceiling)
        try:
            store.save(RECORD, rec, False)  # no .prev: an old secret must not linger
        except Exception as e:
            self.device.event(wire.EV_AUTH_STORE, "auth record not saved: %r" % (e,))
            return False
        finally:
            for i in range(_REC_LEN):
                rec[i] = 0
        return True

    def _accept(self, counter) -> bool:
        """Consume ``counter`` (>= self.next); persist a new ceiling first when needed."""
        if counter >= COUNTER_MAX:
            return False  # exhausted (2**32 - 1 requests): re-provision
        if counter >= self._ceiling:
            ceiling = counter + self.stride
            if ceiling > COUNTER_MAX:
                ceiling = COUNTER_MAX
            if not self._save_ceiling(ceiling):
                return False
        self.next = counter + 1
        return True

    def _save_ceiling(self, ceiling) -> bool:
        # The record holds the secret too; it is not kept in RAM, so re-read it.
        store = self.device.store
        try:
            rec = store.load(RECORD) if store is not None else None
        except Exception:
            rec = None
        if rec is None or len(rec) != _REC_LEN:
            self.device.event(wire.EV_AUTH_STORE, "auth record unreadable: counter not advanced")
            return False
        ok = self._save(rec[1:1 + SECRET_LEN], ceiling)
        if ok:
            self._ceiling = ceiling
        return ok

    def end_session(self) -> None:
        self._ev = None  # what follows is untagged (the host stops expecting tags)
        if self._session is not None:
            self._session.wipe()
            self.generation += 1
        self._session = None
        self._nonce = None
        self.reply_ref = -1

    def session_ms(self) -> int:
        """This session's clock: ms since it opened (wrap-safe; negative past 2**29 ms)."""
        return time.ticks_diff(time.ticks_ms(), self._t_open)

    def seal(self, pkt, ptype, body_len) -> int:
        """Append the reply tag to the reply built in ``pkt`` (body at 3, ``body_len``
        bytes, ref first); the new body length. Only for replies to ``reply_ref``."""
        s = self._session
        if s is None:
            return body_len
        off = 3 + body_len
        struct.pack_into("<I", pkt, off, self.session_ms() & wire.COUNTER_MASK)
        mac = s.digest(b"reply", self._reply_ctr + bytes((ptype,)), memoryview(pkt)[3:off + 4])
        pkt[off + 4:off + 4 + MAC_LEN] = mac[:MAC_LEN]
        return body_len + wire.REPLY_TAG_LEN

    def seal_unsolicited(self, pkt, ptype, body_len) -> int:
        """Append the unsolicited tag (wire.EVENT_TAG_LEN) to the packet built in ``pkt``
        (body at 3, ``body_len`` bytes) under the session; the new body length (unchanged
        outside one)."""
        s = self._ev
        if s is None:
            return body_len
        n = self._ev_n + 1
        if n > wire.COUNTER_MASK:
            n = 1  # after 2**30 packets the host refuses them: a new session is due
        self._ev_n = n
        off = 3 + body_len
        struct.pack_into("<II", pkt, off, self.session_ms() & wire.COUNTER_MASK, n)
        self._ev_hdr[0] = ptype
        mac = s.digest(b"event", self._ev_hdr, memoryview(pkt)[3:off + 8])
        pkt[off + 8:off + 8 + MAC_LEN] = mac[:MAC_LEN]
        return body_len + wire.EVENT_TAG_LEN

    def done(self) -> None:
        """The request's handler has returned: later replies are not its."""
        self.reply_ref = -1

    def _refuse(self, ref, code, msg) -> None:
        self.refusals += 1
        d = self.device
        d.error(ref, code, msg)
        d.event(wire.EV_AUTH_REFUSED, "auth refused: " + msg)

    # ---- the service API -----------------------------------------------------------
    def handlers(self):
        return {
            wire.T_AUTH_CHALLENGE: (self._challenge, 0, False),
            wire.T_AUTH_RESPONSE: (self._response, 36, False),
            wire.T_PROVISION: (self._provision, -1, False),  # checks its own length and auth
            wire.T_AUTH_END: (self._end, 0, False),
        }

    def tick(self, now_ms) -> bool:
        return False

    def on_disconnect(self) -> None:
        self.end_session()  # a session never outlives its link

    def on_config(self) -> None:
        pass  # a session outlives a change of the acquisition settings

    def check(self, device, ptype, seq, pkt, body_len) -> int:
        """Verify a privileged request's trailer; the body length without it, or -1
        after answering E_UNAUTHORIZED / E_REPLAY / E_STALE (and logging it). From a
        pass on, replies to ``seq`` are sealed until ``done()``."""
        n = body_len - wire.AUTH_TAG_LEN
        if n < 0:
            self._refuse(seq, wire.E_UNAUTHORIZED, "request 0x%02x has no auth trailer" % ptype)
            return -1
        s = self._session
        if s is None:
            self._refuse(seq, wire.E_UNAUTHORIZED, "request 0x%02x needs an authenticated session" % ptype)
            return -1
        off = 3 + n  # the counter, then t_ms, then the MAC
        counter, t_ms = struct.unpack_from("<II", pkt, off)
        mac = s.digest(memoryview(pkt)[0:off + 8])
        if _diff(mac, 0, pkt, off + 8, MAC_LEN):
            self._refuse(seq, wire.E_UNAUTHORIZED, "request 0x%02x: bad MAC" % ptype)
            return -1
        if counter < self.next:
            self._refuse(seq, wire.E_REPLAY, "request 0x%02x: counter %d already used (next %d)" % (ptype, counter, self.next))
            return -1
        if not self._accept(counter):
            self.device.error(seq, wire.E_STORAGE, "auth counter could not be advanced")
            return -1
        self.reply_ref = seq
        self._reply_ctr = _u32(counter)
        age = self.session_ms() - t_ms  # t_ms < 2**32: a big int on 32-bit ports, fine off the hot path
        if age > wire.REQUEST_MAX_AGE_MS or age < -wire.REQUEST_SKEW_MS:
            self.stale += 1
            # the counter is used up: the held-back frame can never be delivered later
            self._refuse(seq, wire.E_STALE, "request 0x%02x is %d ms old (allowed -%d..%d): refused"
                         % (ptype, age, wire.REQUEST_SKEW_MS, wire.REQUEST_MAX_AGE_MS))
            self.reply_ref = -1
            return -1
        return n

    # ---- handlers ------------------------------------------------------------------
    def _challenge(self, seq, pkt, n):
        if self._key is None:
            self.device.error(seq, wire.E_BAD_STATE, "garment not provisioned: provision a secret over USB")
            return
        if self.next >= COUNTER_MAX:
            self.device.error(seq, wire.E_BAD_STATE, "auth counter exhausted: re-provision the garment")
            return
        self._nonce = os.urandom(NONCE_LEN)
        self.device.reply(wire.R_CHALLENGE, seq, self._nonce + _u32(self.next))

    def _response(self, seq, pkt, n):
        nonce = self._nonce
        self._nonce = None  # single use, whatever happens next
        key = self._key
        if nonce is None or key is None:
            self._refuse(seq, wire.E_BAD_STATE, "auth response without a challenge")
            return
        counter = struct.unpack_from("<I", pkt, 3)[0]
        want = key.digest(b"auth", nonce, _u32(counter))
        if _diff(want, 0, pkt, 7, 32):
            self._refuse(seq, wire.E_UNAUTHORIZED, "auth response: bad MAC")
            return
        if counter < self.next:
            self._refuse(seq, wire.E_REPLAY, "auth response: counter %d already used (next %d)" % (counter, self.next))
            return
        if not self._accept(counter):
            self.device.error(seq, wire.E_STORAGE, "auth counter could not be advanced")
            return
        self.end_session()
        self._session = HmacSha256(key.digest(b"session", nonce))
        self._t_open = time.ticks_ms()  # the session clock's zero: the host anchors on this ACK
        self.generation += 1
        self.device.reply(wire.R_ACK, seq, bytes((wire.T_AUTH_RESPONSE,)))
        self._ev = self._session  # everything sent by itself after this R_ACK is tagged
        self._ev_n = 0
        self.device.event(wire.EV_AUTH_OK, "host authenticated")

    def _end(self, seq, pkt, n):
        was = self._session is not None
        self.end_session()
        self.device.reply(wire.R_ACK, seq, bytes((wire.T_AUTH_END,)))
        if was:
            self.device.event(wire.EV_AUTH_END, "session closed")

    def _provision(self, seq, pkt, n):
        d = self.device
        if not getattr(d.board.link, "wired", False):
            self._refuse(seq, wire.E_UNAUTHORIZED, "provisioning only over the wired (USB) link")
            return
        if self._key is not None:
            if n == SECRET_LEN:
                self._refuse(seq, wire.E_BAD_STATE, "already provisioned: rotate the secret from an authenticated session")
                return
            if n != SECRET_LEN + wire.AUTH_TAG_LEN:
                d.error(seq, wire.E_MALFORMED, "provision needs a 32-byte secret (+ auth trailer to rotate), got %d" % n)
                return
            if self.check(d, wire.T_PROVISION, seq, pkt, n) < 0:
                return
        elif n != SECRET_LEN:
            d.error(seq, wire.E_MALFORMED, "provision needs a 32-byte secret, got %d" % n)
            return
        secret = bytes(pkt[3:3 + SECRET_LEN])
        first = secret[0]
        same = True
        for b in secret:
            if b != first:
                same = False
                break
        if same:
            d.error(seq, wire.E_OUT_OF_RANGE, "secret: all %d bytes equal 0x%02x; use 32 random bytes" % (SECRET_LEN, first))
            return
        ceiling = self.next if self.next > self._ceiling else self._ceiling
        if not self._save(secret, ceiling):
            d.error(seq, wire.E_STORAGE, "secret not saved")
            return
        rotated = self._key is not None
        if self._key is not None:
            self._key.wipe()
        self._key = HmacSha256(secret)
        self._ceiling = ceiling  # the counter carries on: it never goes back
        d.reply(wire.R_ACK, seq, bytes((wire.T_PROVISION,)))  # sealed by the old session (a rotation)
        self.end_session()  # a rotation ends the session keyed by the old secret
        d.event(wire.EV_PROVISIONED, "secret rotated" if rotated else "secret provisioned")
