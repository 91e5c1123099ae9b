"""The host's heartbeat keeps its own schedule: a ping that waits for its reply never holds
back the next (paced from the replies, a slow link spaced the pings a reply's delay
apart on top of the period, and a loaded host tripped the garment's 500 ms timeout)."""
from __future__ import annotations

import asyncio

from garment.heartbeat import KEEP, MAX_IN_FLIGHT, Heartbeat
from garment.transports import TransportError


async def until(cond, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``cond()`` (the heartbeat runs on the same loop), failing after ``timeout``."""
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.001)
    await asyncio.wait_for(poll(), timeout)


class SlowLink:
    """A client whose pings are answered only when the test says so."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, asyncio.Future[None]]] = []
        self.started = asyncio.Event()
        self.want = 0

    async def ping(self, token: int) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((token, fut))
        if len(self.pending) >= self.want:
            self.started.set()
        await fut

    async def until_sent(self, n: int) -> None:
        self.want = n
        if len(self.pending) < n:
            self.started.clear()
            await asyncio.wait_for(self.started.wait(), 5.0)


async def test_pings_go_out_while_earlier_ones_wait_for_their_replies() -> None:
    link = SlowLink()
    hb = Heartbeat(link, period=0.005)  # type: ignore[arg-type]
    hb.start()
    try:
        await link.until_sent(3)  # three pings out, none answered
        assert [t for t, _ in link.pending[:3]] == [0, 1, 2]
        assert not hb.sent and hb.last_sent == 0.0
        link.pending[0][1].set_result(None)
        link.pending[1][1].set_result(None)
        await until(lambda: len(hb.sent) == 2)
        assert hb.last_sent == hb.sent[1][0] and hb.last_acked >= hb.last_sent
    finally:
        hb.cancel()


async def test_a_link_that_answers_nothing_gets_at_most_max_in_flight_pings() -> None:
    link = SlowLink()
    hb = Heartbeat(link, period=0.002)  # type: ignore[arg-type]
    hb.start()
    try:
        await link.until_sent(MAX_IN_FLIGHT)
        await until(lambda: hb.skipped > 0)  # the schedule goes on, without a ping
        assert len(link.pending) == MAX_IN_FLIGHT
        link.pending[0][1].set_result(None)  # one answered: room for one more
        await link.until_sent(MAX_IN_FLIGHT + 1)
    finally:
        hb.cancel()


async def test_failures_are_reported_and_the_schedule_goes_on() -> None:
    errors: list[Exception] = []
    replies: list[float] = []

    class Flaky:
        calls = 0

        async def ping(self, token: int) -> None:
            Flaky.calls += 1
            if Flaky.calls <= 2:
                raise TransportError("link busy")

    hb = Heartbeat(Flaky(), period=0.002, on_reply=replies.append, on_error=errors.append)  # type: ignore[arg-type]
    hb.start()
    try:
        await until(lambda: len(replies) >= 2)
    finally:
        last = await hb.stop()
    assert [str(e) for e in errors] == ["link busy", "link busy"] and len(hb.failed) == 2
    assert all(r >= 0 for r in replies) and last == hb.last_sent > 0


async def test_the_record_keeps_the_last_pings_only() -> None:
    class Quick:
        async def ping(self, token: int) -> None:
            return None

    hb = Heartbeat(Quick(), period=0.0001)  # type: ignore[arg-type]
    hb.start()
    try:
        await until(lambda: hb._token > KEEP + 10)  # noqa: SLF001 - pings sent so far
    finally:
        await hb.stop()
    assert len(hb.sent) == KEEP and hb.sent[-1][0] == hb.last_sent
    assert not hb.running
