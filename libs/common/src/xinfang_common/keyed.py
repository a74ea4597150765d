"""Work on different cases at once, each case's work in arrival order.

A consumer that waits for the broker to acknowledge each event it publishes before reading the
next message is capped by that round trip (a few hundred messages a second). Messages of
different cases do not depend on each other, so their work may overlap; messages of one case
must not (each builds on what the previous one stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


class KeyedLocks:
    """One lock per key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class KeyedRunner:
    """Runs submitted jobs concurrently, at most ``limit`` at a time, one key's jobs in order.

    ``submit`` returns once the job is queued (waiting while ``limit`` jobs are in flight), so a
    consumer loop that submits each message keeps reading while earlier messages are still being
    applied, and is held back when too many are. ``done`` runs after the job, whatever its
    outcome: the caller acknowledges the message there (through ``InOrderAcks``, since jobs of
    different keys end in any order), so an offset is committed only once its work is done.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._slots = asyncio.Semaphore(limit)
        self._last: dict[str, asyncio.Task[None]] = {}

    async def submit(
        self, key: str, job: Callable[[], Awaitable[object]], done: Callable[[], Awaitable[object] | object]
    ) -> None:
        """Start ``job`` after every earlier job of ``key``; call ``done`` when it has finished."""
        await self._slots.acquire()
        # Chained here, synchronously, so jobs of one key run in the order they were submitted.
        previous = self._last.get(key)
        task = asyncio.create_task(self._run(key, previous, job, done))
        self._last[key] = task

    async def _run(
        self,
        key: str,
        previous: asyncio.Task[None] | None,
        job: Callable[[], Awaitable[object]],
        done: Callable[[], Awaitable[object] | object],
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await job()
        except Exception:
            log.exception("job for %s failed", key)
        finally:
            if self._last.get(key) is asyncio.current_task():
                del self._last[key]
            self._slots.release()
            acknowledged = done()
            if inspect.isawaitable(acknowledged):
                await acknowledged

    async def drain(self) -> None:
        """Wait until every submitted job has finished."""
        while self._last:
            await asyncio.wait(list(self._last.values()))

    @property
    def keys_in_flight(self) -> int:
        """Keys with a job queued or running."""
        return len(self._last)


@dataclass
class ReadMessage:
    """A message read by ``consume_by_key`` and whether its work has ended."""

    event: Any
    done: bool = False


class InOrderAcks:
    """Acknowledges each partition's messages in the order they were read, whatever order their work ends in.

    faust commits the first run of consecutive acknowledged offsets, and its check that the run
    starts at the last commit is off by one (it accepts a run starting one past it). Acknowledged
    out of order, offset N+1 could be committed while N is still being worked on, and a crash then
    would lose N. Held back until everything read before it is done, an acknowledgement always
    extends an unbroken run from the last commit, as with one message at a time.
    """

    def __init__(self, ack: Callable[[Any], Awaitable[object] | object]) -> None:
        self._ack = ack
        # Per partition, the messages read and not yet acknowledged, in reading order. After a
        # rebalance a partition may be read again from an earlier offset: those entries queue
        # behind the older ones, so order is by reading.
        self._pending: dict[Hashable, deque[ReadMessage]] = {}

    def read(self, event: Any) -> ReadMessage:
        """Note ``event`` as read; pass the returned entry to ``done`` once its work has ended."""
        entry = ReadMessage(event)
        self._pending.setdefault(event.message.tp, deque()).append(entry)
        return entry

    async def done(self, entry: ReadMessage) -> None:
        """Mark the work of ``entry`` ended and acknowledge every message now unblocked."""
        entry.done = True
        tp = entry.event.message.tp
        queue = self._pending[tp]
        while queue and queue[0].done:
            acknowledged = self._ack(queue.popleft().event)
            if inspect.isawaitable(acknowledged):
                await acknowledged
        if not queue:
            del self._pending[tp]

    @property
    def waiting(self) -> int:
        """Messages read and not yet acknowledged."""
        return sum(len(queue) for queue in self._pending.values())


async def consume_by_key(
    stream: Any,
    handle: Callable[[Any], Awaitable[object]],
    *,
    in_flight: int,
) -> AsyncIterator[object]:
    """Drive a faust agent's stream through ``handle(event)`` (a faust event: value, key, message).

    With ``in_flight`` 1, one message at a time, yielding each result (what faust's test contexts
    wait for). Above 1, up to that many messages of different keys at once, each key's in order;
    a message is acknowledged only once its work and that of every message read before it from
    its partition are done (``InOrderAcks``), so a crash redelivers whatever was in flight and
    nothing after it is committed past it, and a rebalance waits for it.
    """
    if in_flight <= 1:
        async for event in stream.events():
            yield await handle(event)
        return
    runner = KeyedRunner(in_flight)
    manual = stream.noack()
    acks = InOrderAcks(manual.ack)

    def work(event: Any) -> Callable[[], Awaitable[object]]:
        return lambda: handle(event)

    def acknowledge(entry: ReadMessage) -> Callable[[], Awaitable[object]]:
        return lambda: acks.done(entry)

    async for event in manual.events():
        key = event.key.decode("utf-8", "replace") if isinstance(event.key, bytes) else str(event.key)
        await runner.submit(key, work(event), acknowledge(acks.read(event)))
        yield None
