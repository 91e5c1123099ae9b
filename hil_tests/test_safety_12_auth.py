"""Behaviour 12: only an authenticated host may arm, stimulate, change limits or upload a
model; replays are refused. End to end, on any garment (no rig needed). Replies to
privileged requests are authenticated (a forged or replayed one is detected by the host)
and a privileged request held back beyond wire.REQUEST_MAX_AGE_MS is refused (E_STALE)."""
from __future__ import annotations

import struct
from typing import Any, Callable

import pytest

from garment import auth
from garment.client import DeviceError, GarmentClient, ReplyAuthError
from garment.devices import make_transport
from garment.protocol import Deframer, Packet, wire
from rig import StimBench, calib, limits

PRIVILEGED = [
    (wire.T_ARM, b""),
    (wire.T_DISARM, b""),
    (wire.T_FAULT_RESET, b""),
    (wire.T_CALIB_SET, calib(0).pack()),
    (wire.T_STIM_TEST, struct.pack(wire.STIM_TEST_FMT, 0, 10000, 300, 30, 1000)),
    (wire.T_SET_LIMITS, bytes(30)),
    (wire.T_CRANK, struct.pack("<HH", 9000, 8000)),
    (wire.T_MODEL_BEGIN, struct.pack(wire.MODEL_BEGIN_FMT, 100, 0)),
    (wire.T_MODEL_CHUNK, struct.pack("<I", 0) + bytes(16)),
    (wire.T_MODEL_COMMIT, b""),
    (wire.T_MODEL_ROLLBACK, b""),
]


async def _state(g: GarmentClient) -> tuple[Any, ...]:
    return (await g.stim_state(), await g.get_limits(), await g.get_calibration(0), (await g.model_info())["active"])


@pytest.mark.parametrize("ptype,body", PRIVILEGED, ids=[f"0x{t:02x}" for t, _ in PRIVILEGED])
async def test_privileged_requests_need_a_session(bench: StimBench, ptype: int, body: bytes) -> None:
    g = bench.g
    await bench.calibrate(0)
    await auth.end_session(g)
    before = await _state(g)
    with pytest.raises(DeviceError) as e:
        await g.request(ptype, body)  # no trailer
    assert e.value.code == wire.E_UNAUTHORIZED
    with pytest.raises(DeviceError) as e:
        await g.request(ptype, body + bytes(wire.AUTH_TAG_LEN))  # a made-up trailer
    assert e.value.code == wire.E_UNAUTHORIZED
    assert await _state(g) == before
    refusals = [ev for ev in g.events if ev.code == wire.EV_AUTH_REFUSED]
    assert len(refusals) >= 2  # logged on the garment
    await auth.ensure_authenticated(g)


async def test_what_needs_no_session(bench: StimBench) -> None:
    g = bench.g
    await auth.end_session(g)
    assert (await g.stim_state()).armed_mask == 0
    await g.get_limits()
    await g.get_calibration(0)
    assert (await g.estop()).fault == "estop"  # anyone may stop the output
    await auth.ensure_authenticated(g)


async def test_wrong_secret_is_refused(bench: StimBench) -> None:
    g = bench.g
    await auth.end_session(g)
    with pytest.raises(DeviceError) as e:
        await auth.authenticate(g, bytes(range(1, 33)))
    assert e.value.code == wire.E_UNAUTHORIZED
    g.signer = None
    with pytest.raises(DeviceError) as e:
        await g.arm()
    assert e.value.code == wire.E_UNAUTHORIZED
    await auth.ensure_authenticated(g)


async def test_replayed_request_is_refused_and_changes_nothing(bench: StimBench) -> None:
    """A captured T_SET_LIMITS frame, re-sent verbatim after the limits changed again,
    is refused (E_REPLAY) and the limits stay as they are."""
    g = bench.g
    assert isinstance(g.signer, auth.GarmentAuth)
    signer: auth.GarmentAuth = g.signer
    captured: dict[str, Any] = {}

    class Recorder:
        open_reply = signer.open_reply

        def sign(self, ptype: int, seq: int, body: bytes) -> bytes:
            t = signer.sign(ptype, seq, body)
            if ptype == wire.T_SET_LIMITS and "seq" not in captured:
                captured.update(seq=seq, body=body, trailer=t)
            return t

    g.signer = Recorder()
    base = await g.get_limits()
    a = limits(base, slew_ua_per_s=30000)
    b = limits(base, slew_ua_per_s=40000)
    await g.set_limits(a)
    await g.set_limits(b)
    g.signer = signer

    class Replay:
        open_reply = signer.open_reply

        def sign(self, ptype: int, seq: int, body: bytes) -> bytes:
            return captured["trailer"]

    g._seq = captured["seq"]  # noqa: SLF001 - the captured frame, byte for byte
    g.signer = Replay()
    try:
        with pytest.raises(DeviceError) as e:
            await g.request(wire.T_SET_LIMITS, captured["body"], privileged=True)
        assert e.value.code == wire.E_REPLAY
    finally:
        g.signer = signer
    assert await g.get_limits() == b
    # a new session: the old frame no longer even has a valid MAC
    await auth.ensure_authenticated(g)
    g._seq = captured["seq"]  # noqa: SLF001
    g.signer = Replay()
    try:
        with pytest.raises(DeviceError) as e:
            await g.request(wire.T_SET_LIMITS, captured["body"], privileged=True)
        assert e.value.code == wire.E_UNAUTHORIZED
    finally:
        g.signer = None
    await auth.ensure_authenticated(g)
    assert await g.get_limits() == b


async def test_session_does_not_survive_the_link(bench: StimBench, url: str) -> None:
    """A new connection (another host, or the same one after a replug) starts without a
    session; the old session's signer is worthless on it."""
    old_signer = bench.g.signer
    g2 = GarmentClient(make_transport(url), timeout=3)
    await g2.connect()  # takes the link over
    try:
        g2.signer = old_signer
        with pytest.raises(DeviceError) as e:
            await g2.arm()
        assert e.value.code == wire.E_UNAUTHORIZED
        await auth.ensure_authenticated(g2)
        await g2.set_calibration(calib(0))
        assert (await g2.get_calibration(0)) == calib(0)
    finally:
        await g2.set_calibration(calib(0, max_ua=0, motor_ua=0, sensory_ua=0))
        await g2.close()
    # the bench's own client lost its link: reconnect it for the clean-up
    await bench.g.close()
    bench.g.transport = make_transport(url)
    bench.g.closed_reason = None
    await bench.g.connect()
    await auth.ensure_authenticated(bench.g)


async def test_provisioning_twice_is_refused(bench: StimBench, device_spec: str) -> None:
    # over USB: refused as already provisioned; over BLE it never gets that far (USB only)
    want = wire.E_UNAUTHORIZED if device_spec.startswith("ble:") else wire.E_BAD_STATE
    with pytest.raises(DeviceError) as e:
        await bench.g.request(wire.T_PROVISION, bytes(range(7, 39)))  # no session
    assert e.value.code == want
    await auth.end_session(bench.g)
    with pytest.raises(DeviceError) as e:
        await bench.g.request(wire.T_PROVISION, bytes(range(7, 39)))
    assert e.value.code == want
    await auth.ensure_authenticated(bench.g)
    await auth.end_session(bench.g)
    await auth.ensure_authenticated(bench.g)  # the stored secret still works


def _forge_reply_to(g: GarmentClient, ptype: int, forge: Callable[[int], Packet]) -> Callable[[], None]:
    """A man in the middle: as a request of ``ptype`` goes out, the packet ``forge(seq)``
    reaches the host before the garment's own reply. Returns the undo.

    The forgery is dispatched before the request is written (the host has registered the
    reply it waits for by then): written first, a quick garment's reply could win the race
    and the test would check the garment's answer instead of the forgery."""
    write = g.transport.write

    async def wrapped(frame: bytes) -> None:
        (pkt,) = Deframer().feed(frame)
        if pkt.type == ptype:
            g._dispatch(forge(pkt.seq))  # noqa: SLF001 - the attacker's packet
        await write(frame)

    g.transport.write = wrapped  # type: ignore[method-assign]

    def undo() -> None:
        g.transport.write = write  # type: ignore[method-assign]

    return undo


async def test_forged_reply_to_a_privileged_request_is_detected(bench: StimBench) -> None:
    """"Armed on channel 0" and "limits set" made up by an attacker on the link: the host
    raises ReplyAuthError and takes none of it as the garment's state."""
    g = bench.g
    before = g.last_stim_state
    armed = struct.pack(wire.STIM_STATE_FMT, wire.SS_ARMED, wire.FAULT_NONE, 1, 0, *([0] * 8))
    undo = _forge_reply_to(g, wire.T_ARM, lambda seq: Packet(wire.R_STIM_STATE, 0, struct.pack("<H", seq) + armed
                                                          + bytes(wire.REPLY_TAG_LEN)))
    try:
        with pytest.raises(ReplyAuthError):
            await g.arm()
    finally:
        undo()
    assert g.last_stim_state is before or (g.last_stim_state is not None and g.last_stim_state.armed_mask != 1)
    base = await g.get_limits()
    want = limits(base, slew_ua_per_s=35000)
    undo = _forge_reply_to(g, wire.T_SET_LIMITS, lambda seq: Packet(wire.R_LIMITS, 0, struct.pack("<H", seq) + want.pack()))
    try:
        with pytest.raises(ReplyAuthError):
            await g.set_limits(want)  # the untagged reply an old garment would send: refused
    finally:
        undo()
    assert g.stats.forged_replies == 2
    assert (await g.set_limits(base)) == base  # genuine replies pass
    assert (await g.stim_state()).armed_mask == 0


async def test_held_back_request_is_refused_stale(bench: StimBench) -> None:
    """A T_SET_LIMITS signed now but delivered REQUEST_MAX_AGE_MS + 500 ms later (its
    stamp says so) is refused with E_STALE and changes nothing; so is one from the future."""
    g = bench.g
    signer = g.signer
    assert isinstance(signer, auth.GarmentAuth)
    base = await g.get_limits()

    class Shifted:
        open_reply = signer.open_reply
        open_unsolicited = signer.open_unsolicited  # the garment's own packets are still this session's

        def __init__(self, shift_ms: int) -> None:
            self.shift_ms = shift_ms

        def sign(self, ptype: int, seq: int, body: bytes) -> bytes:
            signer.counter += 1
            return auth.request_trailer(signer._key or b"", ptype, seq, body, signer.counter,  # noqa: SLF001
                                        signer.session_ms() + self.shift_ms)

    for shift in (-(wire.REQUEST_MAX_AGE_MS + 500), wire.REQUEST_SKEW_MS + 500):
        g.signer = Shifted(shift)
        try:
            with pytest.raises(DeviceError) as e:
                await g.set_limits(limits(base, slew_ua_per_s=45000))
            assert e.value.code == wire.E_STALE, e.value
        finally:
            g.signer = signer
    assert await g.get_limits() == base
    assert any("ms old" in ev.text for ev in g.events if ev.code == wire.EV_AUTH_REFUSED)
    assert (await g.set_limits(base)) == base  # a fresh request goes through
