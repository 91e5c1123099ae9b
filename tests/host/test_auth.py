"""Host authentication (garment.auth): the arithmetic against RFC 4231 and the golden
vectors, the secret store, and the whole exchange against the real firmware
(garmentfw/auth.py on the MicroPython unix port, sim board, a stand-in privileged
feature) so that host and device are checked together."""
from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import struct
import subprocess
import threading
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

import pytest

from garment import auth
from garment.client import DeviceError, Event, GarmentClient, ReplyAuthError
from garment.paths import firmware_lib, micropython_exe
from garment.protocol import Deframer, Packet, wire
from garment.sim.tether import popen_tethered
from garment.transports import SerialTransport

GOLDEN = Path(__file__).parents[2] / "models" / "golden" / "auth.json"

# RFC 4231 section 4: the published HMAC-SHA-256 test cases (one copy, in models/golden/).
RFC4231 = [(bytes.fromhex(c["key"]), bytes.fromhex(c["msg"]), c["mac"])
           for c in json.loads((GOLDEN.parent / "rfc4231_hmac_sha256.json").read_text())["cases"]]


# ---- arithmetic ---------------------------------------------------------------------------
@pytest.mark.parametrize("key,msg,want", RFC4231)
def test_hmac_rfc4231(key: bytes, msg: bytes, want: str) -> None:
    assert auth.hmac_sha256(key, msg).hex().startswith(want)
    # split input is the concatenation
    assert auth.hmac_sha256(key, msg[:3], msg[3:]) == auth.hmac_sha256(key, msg)


def test_golden_file_is_current() -> None:
    """models/golden/auth.json is what the host computes (regenerate: python -m garment.auth --write-golden)."""
    assert json.loads(GOLDEN.read_text()) == json.loads(json.dumps(auth.golden_vectors()))


def test_golden_frames_decode_to_signed_requests() -> None:
    g = json.loads(GOLDEN.read_text())
    key = bytes.fromhex(g["sessions"][1]["session_key"])
    for r in g["sessions"][1]["requests"]:
        (pkt,) = Deframer().feed(bytes.fromhex(r["frame"]))
        assert (pkt.type, pkt.seq) == (r["type"], r["seq"])
        body, trailer = pkt.body[: -wire.AUTH_TAG_LEN], pkt.body[-wire.AUTH_TAG_LEN :]
        assert body.hex() == r["body"] and trailer.hex() == r["trailer"]
        ctr, t_ms = struct.unpack_from("<II", trailer)
        assert (ctr, t_ms) == (r["counter"], r["t_ms"])
        assert trailer == auth.request_trailer(key, pkt.type, pkt.seq, body, ctr, t_ms)


def test_golden_reply_macs() -> None:
    g = json.loads(GOLDEN.read_text())
    for sess in g["sessions"]:
        key = bytes.fromhex(sess["session_key"])
        assert sess["replies"]
        for r in sess["replies"]:
            body = bytes.fromhex(r["body"])
            assert auth.reply_mac(key, r["counter"], r["type"], body).hex() == r["mac"]
            # bound to the request's counter, the reply's type and every body byte
            assert auth.reply_mac(key, r["counter"] + 1, r["type"], body).hex() != r["mac"]
            assert auth.reply_mac(key, r["counter"], r["type"] ^ 1, body).hex() != r["mac"]
            assert auth.reply_mac(key, r["counter"], r["type"], body[:-1] + bytes((body[-1] ^ 1,))).hex() != r["mac"]


def test_golden_unsolicited_macs() -> None:
    g = json.loads(GOLDEN.read_text())
    for sess in g["sessions"]:
        key = bytes.fromhex(sess["session_key"])
        assert sess["unsolicited"]
        for u in sess["unsolicited"]:
            body = bytes.fromhex(u["body"])
            assert auth.unsolicited_mac(key, u["type"], body).hex() == u["mac"]
            # bound to the packet's type and every body byte (its number n included)
            assert auth.unsolicited_mac(key, u["type"] ^ 1, body).hex() != u["mac"]
            assert auth.unsolicited_mac(key, u["type"], body[:-1] + bytes((body[-1] ^ 1,))).hex() != u["mac"]


def test_signer_counts_up_and_binds_type_seq_body() -> None:
    secret = secrets.token_bytes(32)
    a = auth.GarmentAuth(secret)
    with pytest.raises(auth.AuthError):
        a.sign(wire.T_ARM, 0, b"")  # no session yet
    nonce = bytes(range(16))
    body = a.respond(nonce, 41)
    c, mac = struct.unpack(wire.AUTH_RESPONSE_FMT, body)
    assert c == 41 and mac == auth.response_mac(secret, nonce, 41)
    a.opened()
    t1 = a.sign(wire.T_ARM, 5, b"")
    t2 = a.sign(wire.T_ARM, 5, b"")
    assert len(t1) == wire.AUTH_TAG_LEN
    assert struct.unpack_from("<I", t1)[0] == 42 and struct.unpack_from("<I", t2)[0] == 43
    t_ms = struct.unpack_from("<I", t1, 4)[0]
    assert 0 <= t_ms < 1000  # just after the session opened
    key = auth.session_key(secret, nonce)
    assert t1 == auth.request_trailer(key, wire.T_ARM, 5, b"", 42, t_ms)
    assert t1[8:] != auth.request_trailer(key, wire.T_ARM, 6, b"", 42, t_ms)[8:]
    assert t1[8:] != auth.request_trailer(key, wire.T_DISARM, 5, b"", 42, t_ms)[8:]
    assert t1[8:] != auth.request_trailer(key, wire.T_ARM, 5, b"\x00", 42, t_ms)[8:]
    assert t1[8:] != auth.request_trailer(key, wire.T_ARM, 5, b"", 42, t_ms + 1)[8:]


def test_reply_tag_is_checked_and_reanchors_the_session_clock() -> None:
    secret = secrets.token_bytes(32)
    a = auth.GarmentAuth(secret)
    a.respond(bytes(range(16)), 7)
    a.opened()
    key = auth.session_key(secret, bytes(range(16)))
    trailer = a.sign(wire.T_ARM, 3, b"")
    body = struct.pack("<HB", 3, wire.T_ARM) + struct.pack("<I", 123456)
    good = body + auth.reply_mac(key, 8, wire.R_ACK, body)
    assert a.open_reply(trailer, wire.R_ACK, good) == body[:3]
    assert 123456 <= a.session_ms() < 123456 + 1000  # re-anchored on the garment's clock
    with pytest.raises(ReplyAuthError):
        a.open_reply(trailer, wire.R_ACK, good[:-1] + bytes((good[-1] ^ 1,)))  # forged
    with pytest.raises(ReplyAuthError):
        a.open_reply(a.sign(wire.T_ARM, 3, b""), wire.R_ACK, good)  # replayed for a later request
    with pytest.raises(ReplyAuthError):
        a.open_reply(trailer, wire.R_STIM_STATE, good)  # another reply type
    with pytest.raises(ReplyAuthError):
        a.open_reply(trailer, wire.R_ACK, body[:3])  # no tag at all


@pytest.mark.parametrize("bad", [b"", b"\x01" * 31, bytes(32), b"\x07" * 32])
def test_bad_secrets_are_refused(bad: bytes) -> None:
    with pytest.raises(auth.AuthError):
        auth.GarmentAuth(bad)


# ---- the secret store ---------------------------------------------------------------------
def test_secret_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.SECRETS_ENV, str(tmp_path / "keys"))
    assert auth.secrets_dir() == tmp_path / "keys"
    assert auth.load_secret("abc123") is None
    s = auth.load_or_create_secret("abc123")
    assert len(s) == 32
    assert auth.load_or_create_secret("abc123") == s  # stable
    assert auth.load_or_create_secret("other") != s  # one per garment
    path = tmp_path / "keys" / "abc123.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert not list((tmp_path / "keys").glob("*.tmp"))
    os.chmod(path, 0o644)
    with pytest.raises(auth.AuthError, match="chmod 600"):
        auth.load_secret("abc123")
    for uid in ("../evil", "", "a/b", ".hidden"):
        with pytest.raises(auth.AuthError):
            auth.load_or_create_secret(uid)


def test_secret_store_default_is_the_user_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(auth.SECRETS_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert auth.secrets_dir() == tmp_path / "garment" / "secrets"


# ---- against the real firmware ------------------------------------------------------------
_LAUNCHER = """
import sys
from garmentfw import wire
from garmentfw.boards import sim
from garmentfw.device import Device, ANY_LEN
from garmentfw.auth import AuthService

class Privileged:
    # stands in for the stimulation service: T_ARM and T_SET_LIMITS need a session
    def __init__(self, d):
        self.d = d
    def handlers(self):
        return {wire.T_ARM: (self.ok, 0, True), wire.T_SET_LIMITS: (self.ok, ANY_LEN, True)}
    def ok(self, seq, pkt, n):
        self.d.reply(wire.R_ACK, seq, bytes((pkt[0], n)))
    def tick(self, now):
        return False
    def on_disconnect(self):
        pass
    def on_config(self):
        pass

b = sim.Board()
b.link.wired = WIRED
d = Device(b)
d.add_service(AuthService(d))
d.add_service(Privileged(d))
d.run()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Fw:
    """The firmware's auth on the unix port with the sim board's TCP link."""

    def __init__(self, state: Path, wired: bool = True) -> None:
        self.port = _free_port()
        script = state.parent / f"launch_{self.port}.py"
        script.write_text(_LAUNCHER.replace("WIRED", str(wired)))
        env = dict(os.environ, MICROPYPATH=f"{firmware_lib()}:.frozen", GARMENT_SIM_PORT=str(self.port),
                   GARMENT_SIM_RIG_PORT=str(_free_port()), GARMENT_SIM_STATE=str(state))
        self.proc = popen_tethered([str(micropython_exe()), str(script)], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        ready = threading.Event()
        self.lines: list[str] = []

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                if "garment-sim ready" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        assert ready.wait(20) and self.proc.poll() is None, "".join(self.lines)
        self.url = f"socket://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture
def fw(tmp_path: Path) -> Iterator[_Fw]:
    f = _Fw(tmp_path / "flash")
    yield f
    f.stop()


@pytest.fixture
async def client(fw: _Fw) -> AsyncIterator[GarmentClient]:
    c = GarmentClient(SerialTransport(fw.url), timeout=3.0)
    await c.connect()
    yield c
    await c.close()


async def _arm(c: GarmentClient) -> int:
    pkt = await c.request(wire.T_ARM, privileged=True)
    assert pkt.type == wire.R_ACK and pkt.body[2] == wire.T_ARM
    return pkt.body[3]  # the body length the handler saw


async def test_provision_authenticate_and_privileged_requests(client: GarmentClient) -> None:
    secret = secrets.token_bytes(32)
    with pytest.raises(DeviceError) as e:
        await _arm(client)
    assert e.value.code == wire.E_UNAUTHORIZED
    with pytest.raises(DeviceError) as e:
        await auth.authenticate(client, secret)
    assert e.value.code == wire.E_BAD_STATE and "not provisioned" in str(e.value)
    await auth.provision(client, secret)
    a = await auth.authenticate(client, secret)
    assert client.signer is a
    assert await _arm(client) == 0  # the trailer was stripped before the handler
    pkt = await client.request(wire.T_SET_LIMITS, bytes(36), privileged=True)
    assert pkt.body[3] == 36
    await auth.end_session(client)
    with pytest.raises(DeviceError) as e:
        await _arm(client)
    assert e.value.code == wire.E_UNAUTHORIZED
    codes = [ev.code for ev in client.events]
    assert wire.EV_AUTH_OK in codes and wire.EV_AUTH_REFUSED in codes  # authenticated, refusal logged


async def test_wrong_secret_and_wrong_mac(client: GarmentClient) -> None:
    secret = secrets.token_bytes(32)
    await auth.provision(client, secret)
    with pytest.raises(DeviceError) as e:
        await auth.authenticate(client, secrets.token_bytes(32))
    assert e.value.code == wire.E_UNAUTHORIZED
    a = await auth.authenticate(client, secret)

    class Forger:
        open_reply = a.open_reply

        def sign(self, ptype: int, seq: int, body: bytes) -> bytes:
            t = bytearray(a.sign(ptype, seq, body))
            t[-1] ^= 1
            return bytes(t)

    client.signer = Forger()
    with pytest.raises(DeviceError) as e:
        await _arm(client)
    assert e.value.code == wire.E_UNAUTHORIZED
    client.signer = a
    await _arm(client)


async def test_replay_and_captured_frame(client: GarmentClient) -> None:
    secret = secrets.token_bytes(32)
    await auth.provision(client, secret)
    a = await auth.authenticate(client, secret)
    sent: list[tuple[int, bytes]] = []

    class Recorder:
        open_reply = a.open_reply

        def sign(self, ptype: int, seq: int, body: bytes) -> bytes:
            t = a.sign(ptype, seq, body)
            sent.append((seq, t))
            return t

    client.signer = Recorder()
    await _arm(client)
    await _arm(client)
    # the first request again, byte for byte (same seq, same trailer)
    seq, trailer = sent[0]

    class Replayer:
        open_reply = a.open_reply

        def sign(self, ptype: int, seq_: int, body: bytes) -> bytes:
            return trailer

    client._seq = seq  # noqa: SLF001 - recreate the captured frame exactly
    client.signer = Replayer()
    with pytest.raises(DeviceError) as e:
        await _arm(client)
    assert e.value.code == wire.E_REPLAY
    # an older counter with a fresh, valid MAC: refused too (reordering)
    key_counter = a.counter
    a.counter = 0
    client.signer = a
    with pytest.raises(DeviceError) as e:
        await _arm(client)
    assert e.value.code == wire.E_REPLAY
    a.counter = key_counter
    await _arm(client)
    # after a new session the captured frame fails its MAC
    await auth.authenticate(client, secret)
    client._seq = seq  # noqa: SLF001
    client.signer = Replayer()
    with pytest.raises(DeviceError) as e:
        await _arm(client)
    assert e.value.code == wire.E_UNAUTHORIZED


class _Injector:
    """Man in the middle on the host's side of the link: right after a request frame of
    type ``ptype`` goes out, a packet made by ``forge(seq)`` arrives before the garment's
    own reply can."""

    def __init__(self, client: GarmentClient, ptype: int, forge: "Callable[[int], Packet]") -> None:
        self.client, self.ptype, self.forge = client, ptype, forge
        self.injected = 0
        self._write = client.transport.write
        client.transport.write = self.write  # type: ignore[method-assign]

    async def write(self, frame: bytes) -> None:
        (pkt,) = Deframer().feed(frame)
        if pkt.type == self.ptype:
            # before the frame goes out, so the garment's genuine reply can never win the race
            self.injected += 1
            self.client._dispatch(self.forge(pkt.seq))  # noqa: SLF001 - the attacker's packet
        await self._write(frame)

    def remove(self) -> None:
        self.client.transport.write = self._write  # type: ignore[method-assign]


async def test_forged_reply_to_a_privileged_request_is_detected(client: GarmentClient) -> None:
    secret = secrets.token_bytes(32)
    await auth.provision(client, secret)
    await auth.authenticate(client, secret)
    assert await _arm(client) == 0
    # "armed, the handler saw 0 bytes": the reply an attacker would send, with a made-up tag
    inj = _Injector(client, wire.T_ARM,
                    lambda seq: Packet(wire.R_ACK, 0, struct.pack("<HBB", seq, wire.T_ARM, 0) + bytes(wire.REPLY_TAG_LEN)))
    with pytest.raises(ReplyAuthError, match="bad reply MAC"):
        await _arm(client)
    inj.remove()
    assert inj.injected == 1 and client.stats.forged_replies == 1
    # untagged, as today's garment would send it: refused too
    inj = _Injector(client, wire.T_ARM, lambda seq: Packet(wire.R_ACK, 0, struct.pack("<HBB", seq, wire.T_ARM, 0)))
    with pytest.raises(ReplyAuthError):
        await _arm(client)
    inj.remove()
    assert await _arm(client) == 0  # the genuine replies still pass


async def _tap(client: GarmentClient, ptype: int) -> list[Packet]:
    """Every packet of ``ptype`` that crosses the link from now on, as an eavesdropper
    records it (before the client opens it)."""
    seen: list[Packet] = []
    tap = Deframer()
    read = client.transport.read

    async def tapped() -> bytes:
        data = await read()
        seen.extend(p for p in tap.feed(data) if p.type == ptype)
        return data

    client.transport.read = tapped  # type: ignore[method-assign]
    await client.hello()  # its reply ends the read already under way: the next ones are tapped
    return seen


async def test_replayed_reply_to_a_privileged_request_is_detected(client: GarmentClient) -> None:
    secret = secrets.token_bytes(32)
    await auth.provision(client, secret)
    await auth.authenticate(client, secret)
    seen = await _tap(client, wire.R_ACK)
    seq = client._seq  # noqa: SLF001
    assert await _arm(client) == 0
    (genuine,) = [p for p in seen if p.body[:2] == struct.pack("<H", seq)]
    assert len(genuine.body) == 4 + wire.REPLY_TAG_LEN  # the garment tags its reply
    # 65536 requests later the same seq comes round: the captured reply, byte for byte
    client._seq = seq  # noqa: SLF001
    inj = _Injector(client, wire.T_ARM, lambda s: genuine)
    with pytest.raises(ReplyAuthError):
        await _arm(client)
    inj.remove()


async def test_held_back_and_future_requests_are_refused_stale(client: GarmentClient) -> None:
    secret = secrets.token_bytes(32)
    await auth.provision(client, secret)
    a = await auth.authenticate(client, secret)

    class Shifted:
        """Signs as ``a`` but stamps the request ``shift`` ms off: held back / from the future."""
        open_reply = a.open_reply
        open_unsolicited = a.open_unsolicited  # the garment's own packets are still this session's

        def __init__(self, shift: int) -> None:
            self.shift = shift

        def sign(self, ptype: int, seq: int, body: bytes) -> bytes:
            a.counter += 1
            t = a.session_ms() + self.shift
            return auth.request_trailer(a._key, ptype, seq, body, a.counter, t)  # noqa: SLF001

    for shift in (-(wire.REQUEST_MAX_AGE_MS + 300), wire.REQUEST_SKEW_MS + 300):
        client.signer = Shifted(shift)
        with pytest.raises(DeviceError) as e:
            await _arm(client)
        assert e.value.code == wire.E_STALE, e.value
    client.signer = a
    assert await _arm(client) == 0
    assert any("ms old" in ev.text for ev in client.events if ev.code == wire.EV_AUTH_REFUSED)


async def test_a_request_stamped_ahead_of_a_slow_clock_is_signed_again_once(client: GarmentClient) -> None:
    """A garment whose clock runs slower than the host's estimate of it (an emulated core
    on a loaded host) refuses a request as from its future; that sealed refusal re-anchors
    the estimate and the client signs the request again, once, and it goes through. A
    request the garment found held back (too old) is never sent again."""
    secret = secrets.token_bytes(32)
    await auth.provision(client, secret)
    a = await auth.authenticate(client, secret)
    host_s = [0.0]
    a.use_clock(lambda: host_s[0])
    refused = lambda: [ev.text for ev in client.events if ev.code == wire.EV_AUTH_REFUSED]  # noqa: E731

    host_s[0] += (wire.REQUEST_SKEW_MS + 700) / 1000  # the host's seconds ran on, the garment's did not
    c0 = a.counter
    assert await _arm(client) == 0
    assert a.counter == c0 + 2 and len(refused()) == 1 and "ms old" in refused()[0]

    # Held back: the estimate is behind the garment's clock by more than the max age.
    host_s[0] -= (wire.REQUEST_MAX_AGE_MS + 300) / 1000
    with pytest.raises(DeviceError) as e:
        await _arm(client)
    assert e.value.code == wire.E_STALE and len(refused()) == 2 and a.counter == c0 + 3

    # Ahead again, now with an R_ERROR that carries no valid reply tag (forged): not resent.
    host_s[0] += (wire.REQUEST_MAX_AGE_MS + 300 + wire.REQUEST_SKEW_MS + 700) / 1000
    assert not a.stamped_ahead(struct.pack("<II", a.counter + 1, a.session_ms()))
    assert await _arm(client) == 0


async def test_provisioning_twice_refused_and_rotation(client: GarmentClient) -> None:
    s1, s2 = secrets.token_bytes(32), secrets.token_bytes(32)
    await auth.provision(client, s1)
    with pytest.raises(DeviceError) as e:
        await auth.provision(client, s2)  # no session: refused
    assert e.value.code == wire.E_BAD_STATE
    await auth.authenticate(client, s1)
    await auth.provision(client, s2)  # from a session: rotated
    assert client.signer is None
    with pytest.raises(DeviceError):
        await auth.authenticate(client, s1)
    await auth.authenticate(client, s2)
    await _arm(client)


async def test_ensure_authenticated_uses_the_store(client: GarmentClient, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.SECRETS_ENV, str(tmp_path / "keys"))
    a = await auth.ensure_authenticated(client)  # provisions the fresh garment
    await _arm(client)
    uid = (await client.info())["uid"]
    assert auth.load_secret(uid) is not None
    await auth.end_session(client)
    assert await auth.ensure_authenticated(client) is not a  # and re-authenticates with it
    await _arm(client)


async def test_counter_survives_a_reboot(tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    secret = secrets.token_bytes(32)
    f = _Fw(flash)
    try:
        async with GarmentClient(SerialTransport(f.url), timeout=3.0) as c:
            await auth.provision(c, secret)
            a = await auth.authenticate(c, secret)
            for _ in range(3):
                await _arm(c)
            used = a.counter
    finally:
        f.stop()
    f = _Fw(flash)
    try:
        async with GarmentClient(SerialTransport(f.url), timeout=3.0) as c:
            nonce, counter = await auth.challenge(c)
            assert counter > used
            a = await auth.authenticate(c, secret)
            a.counter = used - 1  # a counter from before the reboot
            with pytest.raises(DeviceError) as e:
                await _arm(c)
            assert e.value.code == wire.E_REPLAY
    finally:
        f.stop()


async def test_provisioning_over_a_wireless_link_is_refused(tmp_path: Path) -> None:
    f = _Fw(tmp_path / "flash", wired=False)
    try:
        async with GarmentClient(SerialTransport(f.url), timeout=3.0) as c:
            with pytest.raises(DeviceError) as e:
                await auth.provision(c, secrets.token_bytes(32))
            assert e.value.code == wire.E_UNAUTHORIZED and "USB" in str(e.value)
            with pytest.raises(DeviceError) as e:
                await auth.authenticate(c, secrets.token_bytes(32))
            assert e.value.code == wire.E_BAD_STATE
    finally:
        f.stop()
    assert not (tmp_path / "flash" / "auth").exists()


def test_firmware_auth_compiles_for_every_target(tmp_path: Path) -> None:
    from garment.paths import mpy_cross_exe

    src = firmware_lib() / "garmentfw" / "auth.py"
    for arch in ("xtensawin", "armv7emsp", "armv6m", "rv32imc"):
        proc = subprocess.run([str(mpy_cross_exe()), f"-march={arch}", "-o", str(tmp_path / f"auth_{arch}.mpy"), str(src)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr



async def test_ensure_authenticated_never_overwrites_another_computers_garment(
        client: GarmentClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await auth.provision(client, secrets.token_bytes(32))  # provisioned "elsewhere"
    monkeypatch.setenv(auth.SECRETS_ENV, str(tmp_path / "keys"))
    with pytest.raises(auth.AuthError, match="another computer"):
        await auth.ensure_authenticated(client)
    uid = (await client.info())["uid"]
    assert auth.load_secret(uid) is None  # no useless secret was created
    auth.save_secret(uid, secrets.token_bytes(32))  # a stale secret in the store
    with pytest.raises(auth.AuthError, match="not garment"):
        await auth.ensure_authenticated(client)


async def _refusal_event(client: GarmentClient) -> Event:
    """Make the garment send an event by itself: an unsigned privileged request is refused
    (R_ERROR) and the refusal logged (R_EVENT EV_AUTH_REFUSED)."""
    n = len(client.events)
    with pytest.raises(DeviceError):
        await client.request(wire.T_ARM)
    await client.hello()  # a round trip: the event sent with the refusal is in
    new = [e for e in client.events[n:] if e.code == wire.EV_AUTH_REFUSED]
    assert len(new) == 1, client.events[n:]
    return new[0]


async def test_unsolicited_packets_in_a_session_are_tagged_and_a_forged_one_is_refused(client: GarmentClient) -> None:
    secret = secrets.token_bytes(32)
    await auth.provision(client, secret)
    await auth.authenticate(client, secret)
    assert client.unsolicited_tags
    seen = await _tap(client, wire.R_EVENT)
    ev = await _refusal_event(client)
    assert ev.text.startswith("auth refused"), ev  # the tag is checked and taken off
    (genuine,) = [p for p in seen if p.body[4] == wire.EV_AUTH_REFUSED]
    assert len(genuine.body) == 5 + len(ev.text.encode()) + wire.EVENT_TAG_LEN  # the garment tagged it
    assert client.stats.forged_unsolicited == 0
    n = len(client.events)
    # forged: an event, a pulse report, a state change nobody asked for, tagged or not
    forged_event = struct.pack("<IB", 1, wire.EV_STIM) + b"stim armed"
    for body in (forged_event, forged_event + bytes(wire.EVENT_TAG_LEN)):
        client._dispatch(Packet(wire.R_EVENT, 0, body))  # noqa: SLF001 - the attacker's packet
    client._dispatch(Packet(wire.R_PULSES, 0, bytes(1 + wire.PULSE_LEN) + bytes(wire.EVENT_TAG_LEN)))  # noqa: SLF001
    before = client.last_stim_state
    armed = struct.pack("<H", wire.NO_REF) + struct.pack(wire.STIM_STATE_FMT, wire.SS_ARMED, 0, 1, 0, *([20000] * 8))
    client._dispatch(Packet(wire.R_STIM_STATE, 0, armed + bytes(wire.EVENT_TAG_LEN)))  # noqa: SLF001
    # replayed: the genuine event again, byte for byte (its number is used up)
    client._dispatch(genuine)  # noqa: SLF001
    assert client.stats.forged_unsolicited == 5
    assert client.events[n:] == [] and client.pulses.empty() and client.last_stim_state == before
    # the genuine ones still pass
    await _refusal_event(client)
    assert client.stats.forged_unsolicited == 5


async def test_outside_a_session_nothing_is_tagged_and_nothing_expected(client: GarmentClient) -> None:
    secret = secrets.token_bytes(32)
    await auth.provision(client, secret)
    await auth.authenticate(client, secret)
    await auth.end_session(client)
    assert not client.unsolicited_tags
    ev = await _refusal_event(client)  # a refusal with no session: no key to tag it with
    assert ev.text.startswith("auth refused") and client.stats.forged_unsolicited == 0
