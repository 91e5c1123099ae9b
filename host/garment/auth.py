"""Host side of the garment's authentication (DESIGN behaviour 12).

The garment holds a 32-byte secret, provisioned once over USB (:func:`provision`).
:func:`authenticate` answers the garment's challenge with an HMAC-SHA256 proof and
installs a :class:`GarmentAuth` as the client's ``signer``: from then on every
privileged request (arm, stimulate, limits, calibration, model upload) carries a
trailer ``counter u32 LE | t_ms u32 LE | HMAC-SHA256(session_key, type | seq LE | body |
counter LE | t_ms LE)[:16]`` with a strictly increasing counter, so the garment refuses
forged and replayed requests, and with ``t_ms``, the host's estimate of the garment's
session clock, so it refuses a request held back for longer than
``wire.REQUEST_MAX_AGE_MS`` (``E_STALE``). Every reply to such a request ends with
``t_ms u32 LE | HMAC-SHA256(session_key, b"reply" | counter LE | reply type | body incl.
t_ms)[:16]``: :meth:`GarmentAuth.open_reply` refuses a forged reply, or a genuine one
replayed for another request (:class:`~garment.client.ReplyAuthError`), and re-anchors the
session clock on the garment's ``t_ms``. The firmware twin is ``garmentfw/auth.py``; both are pinned by the golden
vectors in ``models/golden/auth.json`` (``python -m garment.auth --write-golden``).

Secrets live in the user's data folder (platformdirs), one file per garment uid,
mode 0600; ``GARMENT_SECRETS_DIR`` overrides the folder (tests, CI).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import struct
import sys
import time
from pathlib import Path
from typing import Any, Callable

from garment.client import DeviceError, GarmentClient, ReplyAuthError
from garment.protocol import wire

SECRET_LEN = 32
NONCE_LEN = 16
MAC_LEN = 16
SECRETS_ENV = "GARMENT_SECRETS_DIR"
# The R_EVENT codes the garment's auth logs are wire.EV_AUTH_* (the wire contract).


class AuthError(RuntimeError):
    """Authentication could not be set up (no secret, unreadable secret file, ...)."""


# ---- the arithmetic (pinned by models/golden/auth.json) ----------------------------------
def hmac_sha256(key: bytes, *parts: bytes) -> bytes:
    """HMAC-SHA256 of the concatenated ``parts``."""
    h = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        h.update(p)
    return h.digest()


def response_mac(secret: bytes, nonce: bytes, counter: int) -> bytes:
    """The proof in ``T_AUTH_RESPONSE``: HMAC(secret, b"auth" | nonce | counter LE)."""
    return hmac_sha256(secret, b"auth", nonce, struct.pack("<I", counter))


def session_key(secret: bytes, nonce: bytes) -> bytes:
    """The session's key: HMAC(secret, b"session" | nonce)."""
    return hmac_sha256(secret, b"session", nonce)


def request_trailer(key: bytes, ptype: int, seq: int, body: bytes, counter: int, t_ms: int) -> bytes:
    """The AUTH_TAG_LEN-byte trailer of a privileged request (``t_ms``: the garment's
    session clock as the host estimates it)."""
    ctr = struct.pack("<II", counter, t_ms & 0xFFFFFFFF)
    mac = hmac_sha256(key, struct.pack("<BH", ptype, seq & 0xFFFF), body, ctr)[:MAC_LEN]
    return ctr + mac


def reply_mac(key: bytes, counter: int, rtype: int, body: bytes) -> bytes:
    """The MAC ending a reply to the privileged request of ``counter``: ``body`` is the
    reply's body from its ref up to and with the garment's t_ms."""
    return hmac_sha256(key, b"reply", struct.pack("<IB", counter, rtype), body)[:MAC_LEN]


def unsolicited_mac(key: bytes, rtype: int, body: bytes) -> bytes:
    """The MAC ending a packet the garment sent by itself in the session of ``key``:
    ``body`` is its body up to and with t_ms and the packet number n."""
    return hmac_sha256(key, b"event", bytes((rtype,)), body)[:MAC_LEN]


def _check_secret(secret: bytes) -> bytes:
    secret = bytes(secret)
    if len(secret) != SECRET_LEN:
        raise AuthError(f"a garment secret is {SECRET_LEN} bytes, got {len(secret)}")
    if len(set(secret)) == 1:
        raise AuthError("a garment secret must be random bytes, not one repeated byte")
    return secret


class GarmentAuth:
    """One authenticated session: implements the client's ``Signer`` protocol."""

    def __init__(self, secret: bytes) -> None:
        self._secret = _check_secret(secret)
        self._last_unsolicited = 0
        self._key: bytes | None = None
        self.counter = 0  # the last counter used
        # The garment's session clock as last seen: (its t_ms, self.clock() then).
        self._anchor = (0, 0.0)
        # (request counter, the garment's t_ms) of the last reply whose tag checked out.
        self._sealed = (0, 0)
        #: the host's clock in seconds (use_clock: a garment on virtual time)
        self.clock: Callable[[], float] = time.monotonic

    @property
    def in_session(self) -> bool:
        return self._key is not None

    def respond(self, nonce: bytes, counter: int) -> bytes:
        """The ``T_AUTH_RESPONSE`` body for a challenge; prepares the session key."""
        if len(nonce) != NONCE_LEN:
            raise AuthError(f"challenge nonce of {len(nonce)} bytes, expected {NONCE_LEN}")
        self._key = session_key(self._secret, nonce)
        self.counter = counter
        self._last_unsolicited = 0  # the garment numbers them from 1 in each session
        return struct.pack(wire.AUTH_RESPONSE_FMT, counter, response_mac(self._secret, nonce, counter))

    def opened(self) -> None:
        """The garment acknowledged the response: its session clock is 0 now (or just was)."""
        self._anchor = (0, self.clock())

    def use_clock(self, clock: Callable[[], float]) -> None:
        """Estimate the garment's session clock with ``clock`` (seconds) from now on, e.g.
        the virtual time a lockstep rig runs the simulated garment on."""
        g = self.session_ms()
        self.clock = clock
        self._anchor = (g, clock())

    def session_ms(self) -> int:
        """The garment's session clock as estimated here (never ahead of it but for drift:
        the anchor is taken when its reply arrives, after the garment stamped it)."""
        g, t = self._anchor
        return g + int((self.clock() - t) * 1000)

    def sign(self, ptype: int, seq: int, body: bytes) -> bytes:
        """The trailer for one privileged request (uses the next counter)."""
        if self._key is None:
            raise AuthError("no authenticated session: call authenticate() first")
        if self.counter >= 0xFFFFFFFE:
            raise AuthError("authentication counter exhausted: re-provision the garment")
        self.counter += 1
        return request_trailer(self._key, ptype, seq, body, self.counter, self.session_ms())

    def open_reply(self, trailer: bytes, rtype: int, body: bytes) -> bytes:
        """Check the tag ending a reply to the request signed with ``trailer``; the body
        without it. Raises ReplyAuthError for a reply this session's garment did not send
        for that request (forged, or replayed from another one)."""
        if self._key is None:
            raise ReplyAuthError("reply to a privileged request outside a session")
        n = len(body) - wire.REPLY_TAG_LEN
        if n < 2:
            raise ReplyAuthError(f"reply 0x{rtype:02x} to a privileged request carries no reply tag")
        counter = struct.unpack_from("<I", trailer)[0]
        want = reply_mac(self._key, counter, rtype, body[: n + 4])
        if not hmac.compare_digest(want, body[n + 4 :]):
            raise ReplyAuthError(f"reply 0x{rtype:02x} to request #{counter}: bad reply MAC (forged or replayed)")
        g = int(struct.unpack_from("<I", body, n)[0])
        self._anchor = (g, self.clock())
        self._sealed = (counter, g)
        return body[:n]

    def stamped_ahead(self, trailer: bytes) -> bool:
        """Whether the garment's sealed reply to the request signed with ``trailer`` (an
        E_STALE refusal) showed its clock more than ``wire.REQUEST_SKEW_MS`` behind the
        request's stamp: this estimate ran ahead of a garment whose clock runs slow (an
        emulated core on a loaded host). Holding a request back only makes it older, so
        this never says yes to a held-back one; nor to a refusal without a valid reply
        tag (the counter is then not known to be used up). The reply re-anchored the
        estimate: the request signed again is fresh."""
        counter, t_ms = struct.unpack_from("<II", trailer)
        got, g = self._sealed
        if got != counter:
            return False
        age = ((g - t_ms + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        return age < -wire.REQUEST_SKEW_MS

    def refusal_sealed(self, trailer: bytes) -> bool:
        """Whether the garment's last sealed reply answered the request signed with
        ``trailer``: its refusal is the garment's own, its counter used up, and the reply
        re-anchored this estimate of the garment's clock."""
        counter, _ = struct.unpack_from("<II", trailer)
        return self._sealed[0] == counter

    def open_unsolicited(self, rtype: int, body: bytes) -> bytes | None:
        """The body without its unsolicited tag (wire.EVENT_TAG_LEN), or None when it
        carries no valid one: not this session's MAC, or its number not above the last
        taken (a replayed or reordered packet)."""
        if self._key is None:
            return None
        n = len(body) - wire.EVENT_TAG_LEN
        if n < 0:
            return None
        t_ms, number = struct.unpack_from("<II", body, n)
        if not hmac.compare_digest(unsolicited_mac(self._key, rtype, body[: n + 8]), body[n + 8 :]):
            return None
        if number <= self._last_unsolicited:
            return None
        self._last_unsolicited = number
        return body[:n]

    def end(self) -> None:
        self._key = None


async def challenge(client: GarmentClient) -> tuple[bytes, int]:
    """Ask for a challenge: (nonce, next acceptable counter)."""
    pkt = await client.request(wire.T_AUTH_CHALLENGE)
    body = pkt.body
    if len(body) != 2 + NONCE_LEN + 4:
        raise AuthError(f"challenge of {len(body)} bytes")
    return bytes(body[2 : 2 + NONCE_LEN]), int(struct.unpack_from("<I", body, 2 + NONCE_LEN)[0])


async def authenticate(client: GarmentClient, secret: bytes) -> GarmentAuth:
    """Challenge-response with the garment; installs the session as ``client.signer``.

    Raises DeviceError (``unauthorized`` for a wrong secret, ``bad_state`` when the
    garment is not provisioned).
    """
    auth = GarmentAuth(secret)
    nonce, counter = await challenge(client)
    body = auth.respond(nonce, counter)

    def installed(_ack: object) -> None:
        # on the R_ACK itself: everything the garment sends by itself after it is tagged
        auth.opened()
        client.signer = auth
        client.unsolicited_tags = True

    await client.request(wire.T_AUTH_RESPONSE, body, on_reply=installed)
    return auth


async def end_session(client: GarmentClient) -> None:
    """Close the session on the garment (privileged requests are refused after)."""
    client.unsolicited_tags = False  # the garment stops tagging as it closes the session
    await client.request(wire.T_AUTH_END)
    signer = client.signer
    if isinstance(signer, GarmentAuth):
        signer.end()
    client.signer = None


async def provision(client: GarmentClient, secret: bytes) -> None:
    """Give the garment its secret (over USB only).

    An unprovisioned garment takes it as is; a provisioned one only from an
    authenticated session (``client.signer`` set): the secret is then rotated, which
    ends the session - call :func:`authenticate` with the new secret afterwards.
    """
    secret = _check_secret(secret)
    client.unsolicited_tags = False  # a rotation ends the session (and its tags)
    await client.request(wire.T_PROVISION, secret, privileged=client.signer is not None)
    signer = client.signer
    if isinstance(signer, GarmentAuth):
        signer.end()
    client.signer = None


async def ensure_authenticated(client: GarmentClient, secret: bytes | None = None) -> GarmentAuth:
    """Authenticate with this user's secret for the garment (from the secret store).

    A garment that has no secret yet is provisioned with a new one (stored first). A
    garment provisioned by another computer is not touched: AuthError says where its
    secret must go."""
    uid = None
    if secret is None:
        uid = str((await client.info())["uid"])
        secret = load_secret(uid)
        if secret is None:
            if await _provisioned(client):
                raise AuthError(f"garment {uid} was provisioned by another computer: put its secret in "
                                f"{_secret_path(uid, None)} (or re-provision it over USB from that computer)")
            secret = load_or_create_secret(uid)
    try:
        return await authenticate(client, secret)
    except DeviceError as e:
        if e.code == wire.E_UNAUTHORIZED:
            who = f"garment {uid}" if uid else "the garment"
            raise AuthError(f"the stored secret is not {who}'s (authentication refused)") from None
        if e.code != wire.E_BAD_STATE or "not provisioned" not in str(e):
            raise
    await provision(client, secret)
    return await authenticate(client, secret)


async def _provisioned(client: GarmentClient) -> bool:
    try:
        await challenge(client)
    except DeviceError as e:
        if e.code == wire.E_BAD_STATE and "not provisioned" in str(e):
            return False
        raise
    return True


# ---- the per-user secret store -----------------------------------------------------------
def secrets_dir() -> Path:
    """Where this user's garment secrets live (``GARMENT_SECRETS_DIR`` overrides)."""
    env = os.environ.get(SECRETS_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("garment", appauthor=False)) / "secrets"


def _secret_path(uid: str, root: Path | None) -> Path:
    if not uid or not re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", uid) or uid.startswith("."):
        raise AuthError(f"unusable garment uid {uid!r}")
    return (root or secrets_dir()) / (uid.replace(":", "_") + ".key")


def load_secret(uid: str, root: Path | None = None) -> bytes | None:
    """The stored secret of garment ``uid``, or None if there is none."""
    path = _secret_path(uid, root)
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if sys.platform != "win32" and st.st_mode & 0o077:
        raise AuthError(f"{path} is accessible by other users (mode {stat.S_IMODE(st.st_mode):o}): chmod 600 it")
    text = path.read_text().strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise AuthError(f"{path}: not a hex secret") from None
    try:
        return _check_secret(secret)
    except AuthError as e:
        raise AuthError(f"{path}: {e}") from None


def save_secret(uid: str, secret: bytes, root: Path | None = None) -> Path:
    """Store garment ``uid``'s secret (atomically, mode 0600 in a 0700 folder)."""
    secret = _check_secret(secret)
    path = _secret_path(uid, root)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secret.hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_or_create_secret(uid: str, root: Path | None = None) -> bytes:
    """This user's secret for garment ``uid``; a new random one is created and stored
    if there is none yet (provision the garment with it)."""
    secret = load_secret(uid, root)
    if secret is None:
        secret = secrets.token_bytes(SECRET_LEN)
        save_secret(uid, secret, root)
    return secret


# ---- golden vectors -----------------------------------------------------------------------
GOLDEN_FILE = "models/golden/auth.json"


def golden_vectors() -> dict[str, Any]:
    """The vectors of ``models/golden/auth.json`` (deterministic)."""
    hx = bytes.hex
    # HMAC cases: key lengths below, at and above the 64-byte block, empty message.
    hm = []
    for key, msg in [
        (bytes(range(32)), b""),
        (bytes(range(64)), b"block-sized key"),
        (bytes(range(100)), b"key longer than a block is hashed first"),
        (b"\x01", bytes(range(256)) * 3),
        (hashlib.sha256(b"garment").digest(), b"x" * 63),
        (hashlib.sha256(b"garment").digest(), b"x" * 64),
        (hashlib.sha256(b"garment").digest(), b"x" * 65),
    ]:
        hm.append({"key": hx(key), "msg": hx(msg), "mac": hx(hmac_sha256(key, msg))})
    secret = hashlib.sha256(b"golden garment secret").digest()
    sessions = []
    for i, counter in enumerate((1, 257, 0xFFFFFFFE)):
        nonce = hashlib.sha256(b"nonce %d" % i).digest()[:NONCE_LEN]
        key = session_key(secret, nonce)
        reqs = []
        for j, (ptype, seq, body) in enumerate([
            (wire.T_ARM, 0, b""),
            (wire.T_STIM_TEST, 0x1234, struct.pack(wire.STIM_TEST_FMT, 2, 15000, 300, 40, 2000)),
            (wire.T_SET_LIMITS, 0xFFFF, bytes(range(36))),
            (wire.T_MODEL_CHUNK, 7, bytes(1000)),
        ]):
            c = min(counter + 1 + j, 0xFFFFFFFE)
            t_ms = (0, 1, 200, wire.REQUEST_SKEW_MS)[j]  # fresh on a garment whose session clock reads 0
            tr = request_trailer(key, ptype, seq, body, c, t_ms)
            reqs.append({"type": ptype, "seq": seq, "body": hx(body), "counter": c, "t_ms": t_ms,
                         "trailer": hx(tr), "frame": hx(_frame(ptype, seq, body + tr))})
        # Replies to privileged requests: body = ref | payload | t_ms, then the reply MAC.
        reps = []
        for j, (rtype, ref, payload, t_ms) in enumerate([
            (wire.R_ACK, 0, bytes((wire.T_ARM,)), 5),
            (wire.R_STIM_STATE, 0x1234, struct.pack(wire.STIM_STATE_FMT, wire.SS_ARMED, 0, 1, 0, *range(8)), 1000),
            (wire.R_ERROR, 0xFFFF, bytes((wire.E_OUT_OF_RANGE,)) + b"amplitude above the limit", 0x3FFFFFFF),
        ]):
            c = min(counter + 1 + j, 0xFFFFFFFE)
            body = struct.pack("<H", ref) + payload + struct.pack("<I", t_ms)
            reps.append({"type": rtype, "counter": c, "body": hx(body), "mac": hx(reply_mac(key, c, rtype, body))})
        # What the garment sends by itself: body = payload | t_ms | n, then the MAC.
        uns = []
        for rtype, payload, t_ms, n in [
            (wire.R_EVENT, struct.pack("<IB", 12345, wire.EV_STIM) + b"stim armed", 7, 1),
            (wire.R_PULSES, bytes((1,)) + struct.pack(wire.PULSE_FMT, 1000, 2, 15000, 300, 50), 40, 2),
            (wire.R_STIM_STATE, struct.pack("<H", wire.NO_REF)
             + struct.pack(wire.STIM_STATE_FMT, wire.SS_FAULT, 1, 0, 0, *([0] * 8)), 0x3FFFFFFF, 0x3FFFFFFF),
        ]:
            body = payload + struct.pack("<II", t_ms, n)
            uns.append({"type": rtype, "body": hx(body), "mac": hx(unsolicited_mac(key, rtype, body))})
        sessions.append({
            "nonce": hx(nonce), "counter": counter,
            "response": hx(struct.pack(wire.AUTH_RESPONSE_FMT, counter, response_mac(secret, nonce, counter))),
            "session_key": hx(key), "requests": reqs, "replies": reps, "unsolicited": uns,
        })
    return {
        "about": "HMAC-SHA256 and the auth protocol, pinned for garmentfw/auth.py and garment/auth.py",
        "hmac": hm,
        "secret": hx(secret),
        "sessions": sessions,
    }


def _frame(ptype: int, seq: int, body: bytes) -> bytes:
    from garment.protocol import encode_packet

    return encode_packet(ptype, seq, body)


def _main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m garment.auth")
    p.add_argument("--write-golden", metavar="PATH", nargs="?", const=GOLDEN_FILE,
                   help=f"write the golden vectors (default {GOLDEN_FILE})")
    a = p.parse_args(argv)
    if a.write_golden:
        Path(a.write_golden).write_text(json.dumps(golden_vectors(), indent=1) + "\n")
        print(a.write_golden)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
