"""Two replicas on one database: a decision that collides with the other's write is decided again.

Replicas share routing's tables during a rebalance (and always for surges: one category and unit
gets petitions on every partition). A row the other replica committed between this one's read and
its insert is not the petition's fault, so it must not send the petition to the dead letters.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from routing.cases.database import Database
from routing.cases.models import SurgeSignal
from routing.cases.service import CONFLICT_ATTEMPTS, CaseService, RoutingPolicy

pytestmark = pytest.mark.database

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
KEY = "城乡建设|430104-zjj"


@pytest.fixture
def service(database_url: str) -> Iterator[CaseService]:
    database = Database(database_url)
    database.create_tables()
    yield CaseService(database, RoutingPolicy(), clock=lambda: NOW)
    database.close()


def _other_replica_signals(service: CaseService) -> None:
    with service.database.sessions.begin() as other:
        other.add(SurgeSignal(key=KEY, window_end=NOW))


def test_a_decision_that_collides_with_another_replicas_write_is_decided_again(service: CaseService) -> None:
    calls = 0

    def decide(session: Any) -> list[Any]:
        nonlocal calls
        calls += 1
        if session.get(SurgeSignal, KEY) is None:
            if calls == 1:
                # The other replica signals the same surge after our read, before our insert.
                _other_replica_signals(service)
            session.add(SurgeSignal(key=KEY, window_end=NOW))
        return []

    outputs, seen_before = service.process("evt-1", "t", decide)

    assert (outputs, seen_before, calls) == ([], False, 2)
    # The event is recorded as handled: a redelivery does not decide a third time.
    assert service.process("evt-1", "t", decide) == ([], True)
    assert calls == 2


def test_a_conflict_that_comes_back_every_time_is_raised_for_the_dead_letters(service: CaseService) -> None:
    _other_replica_signals(service)
    calls = 0

    def decide(session: Any) -> list[Any]:
        nonlocal calls
        calls += 1
        session.add(SurgeSignal(key=KEY, window_end=NOW))  # never reads: collides every time
        return []

    with pytest.raises(IntegrityError):
        service.process("evt-2", "t", decide)
    assert calls == CONFLICT_ATTEMPTS
