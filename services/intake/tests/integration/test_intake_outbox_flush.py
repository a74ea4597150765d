"""The outbox relay's stop publishes the whole outbox, within its time bound."""

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from intake.db import create_tables, make_engine, make_session_factory
from intake.outbox import OutboxMessage, OutboxRelay, enqueue
from xinfang_common.testing.events import example_event
from xinfang_common.topics import PETITION_REGISTERED

pytestmark = pytest.mark.database


class _Acked:
    def __init__(self, delay: float) -> None:
        self._delay = delay

    def get(self, timeout: float | None = None) -> None:
        time.sleep(self._delay)  # a broker that acknowledges slowly


class FakeProducer:
    """Acknowledges every send (after ``delay`` seconds) and remembers the keys."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.keys: list[bytes] = []
        self.lock = threading.Lock()

    def send(self, topic: str, *, key: bytes, value: bytes, headers: Any) -> Any:
        with self.lock:
            self.keys.append(key)
        return _Acked(self.delay)

    def close(self, timeout: float | None = None) -> None:
        pass


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(database_url)
    create_tables(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _fill(sessions: sessionmaker[Session], count: int) -> None:
    with sessions.begin() as session:
        for i in range(count):
            enqueue(
                session, topic=PETITION_REGISTERED.name, event=example_event(PETITION_REGISTERED, f"c-{i}")
            )


def _pending(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
            )
            or 0
        )


def test_stop_flushes_more_than_one_batch(sessions: sessionmaker[Session]) -> None:
    producer = FakeProducer()
    relay = OutboxRelay(sessions, lambda: producer, poll_seconds=60, batch_size=100)
    relay.start()
    # Written without notify(): only the flush on stop can publish them before the next poll.
    _fill(sessions, 250)
    relay.stop()
    assert _pending(sessions) == 0
    assert len(set(producer.keys)) == 250


def test_stop_is_bounded_when_the_broker_is_slow(sessions: sessionmaker[Session]) -> None:
    producer = FakeProducer(delay=0.01)  # 1 s per batch of 100
    relay = OutboxRelay(sessions, lambda: producer, poll_seconds=60, batch_size=100, flush_seconds=1)
    relay.start()
    _fill(sessions, 1000)
    started = time.monotonic()
    relay.stop()
    # The flush starts no round after its deadline (1 s) and finishes the one in hand (1 s);
    # what is left stays in the outbox for the next start or another replica.
    assert time.monotonic() - started < 1 + 1 + 1.5
    assert _pending(sessions) > 0
