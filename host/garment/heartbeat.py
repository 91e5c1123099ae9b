"""The host's heartbeat: ``T_PING`` on a fixed schedule while the garment may stimulate.

The garment's supervisor latches ``FAULT_HEARTBEAT`` when no ping has reached it for
``limits.heartbeat_ms`` (500 ms by default). Each ping goes out on time whether or not the
one before has been answered: paced from the replies, pings reached the garment a reply's
delay apart on top of the period (a reply waits behind the 2 kHz stream on a busy link,
and a loaded host adds its own delay), and a loaded CI host tripped the garment that way.
A ping sent late moves the next one earlier, back onto the schedule; a host stalled for
longer than the garment's timeout still trips it, as it must.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import AsyncIterator, Callable

from garment.client import GarmentClient

#: Pings kept in ``sent`` / ``failed`` (the last minute at 10 pings/s): a session runs for hours.
KEEP = 600
#: Pings in flight at most; past that the link is not answering and more pings would only
#: queue behind the ones already waiting (each times out after the client's timeout).
MAX_IN_FLIGHT = 8


class Heartbeat:
    """Pings ``g`` every ``period`` s until :meth:`stop`.

    ``on_reply(rtt_s)`` runs for each answered ping, ``on_error(exc)`` for each that
    raised (the schedule goes on either way). ``last_sent`` / ``last_acked`` bound when the
    garment received the last ping: it was sent at ``last_sent`` and answered by
    ``last_acked`` (``time.monotonic()``). ``sent`` holds (sent, answered) of the answered
    pings and ``failed`` what the others raised (the last ``KEEP`` of each), so a test whose
    garment tripped on the heartbeat can say whether the host was late.
    """

    def __init__(self, g: GarmentClient, period: float = 0.1,
                 on_reply: Callable[[float], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self.g = g
        self.period = period
        self.on_reply = on_reply
        self.on_error = on_error
        self.last_sent = 0.0
        self.last_acked = 0.0
        self.sent: deque[tuple[float, float]] = deque(maxlen=KEEP)
        self.failed: deque[str] = deque(maxlen=KEEP)
        self.skipped = 0  # periods with MAX_IN_FLIGHT pings unanswered: none sent
        self.task: asyncio.Task[None] | None = None
        self._flying: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._token = 0

    async def _ping(self) -> None:
        t0 = time.monotonic()
        token, self._token = self._token, (self._token + 1) & 0xFFFFFFFF
        try:
            await self.g.ping(token)
        except Exception as e:  # noqa: BLE001 - reported; the schedule goes on
            self.failed.append(f"{t0:.3f}: {e!r}")
            if self.on_error is not None:
                self.on_error(e)
            return
        t1 = time.monotonic()
        self.sent.append((t0, t1))
        if t0 >= self.last_sent:  # the link keeps the order: the last sent is the last received
            self.last_sent, self.last_acked = t0, t1
        if self.on_reply is not None:
            self.on_reply(t1 - t0)

    async def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            if len(self._flying) < MAX_IN_FLIGHT:
                ping = asyncio.create_task(self._ping(), name="garment-heartbeat-ping")
                self._flying.add(ping)
                ping.add_done_callback(self._flying.discard)
            else:
                self.skipped += 1
            now = time.monotonic()
            due += self.period
            if due <= now:
                due = now + self.period  # more than a period late: no burst to catch up
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), due - now)  # the schedule, or stop

    def start(self) -> None:
        """Start pinging (the first ping goes out at once)."""
        if self.task is None:
            self._stop.clear()
            self.task = asyncio.create_task(self._run(), name="garment-heartbeat")

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def cancel(self) -> None:
        """Stop at once: the schedule and every ping in flight are cancelled (closing)."""
        if self.task is not None:
            self.task.cancel()
            self.task = None
        for ping in list(self._flying):
            ping.cancel()

    async def stop(self) -> float:
        """Stop pinging (pings in flight are let finish); returns when the last one was sent."""
        if self.task is not None:
            self._stop.set()
            with contextlib.suppress(Exception):
                await self.task
            self.task = None
        while self._flying:
            await asyncio.gather(*self._flying, return_exceptions=True)
        return self.last_sent


@contextlib.asynccontextmanager
async def heartbeat(g: GarmentClient, period: float = 0.1) -> AsyncIterator[Heartbeat]:
    """Ping the garment every ``period`` s while the block runs."""
    hb = Heartbeat(g, period)
    hb.start()
    try:
        yield hb
    finally:
        await hb.stop()
