"""What each agent does per message: apply, drop duplicates, dead-letter, wait out the database."""

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from reporting.agents import EventRecorder
from reporting.readmodel.database import Database
from reporting.readmodel.models import CaseFact
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.events import CaseAssigned, PetitionRegistered
from xinfang_common.testing.recording import RecordingTopic
from xinfang_common.topics import CASE_ASSIGNED, PETITION_REGISTERED

Make = Callable[..., CloudEvent[Any]]


class FlakyDatabase(Database):
    """A database that is unreachable for the first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        super().__init__("sqlite://")
        self.failures = failures

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        return await super().run(fn, *args, **kwargs)


@pytest.fixture
def dead_letters() -> dict[str, RecordingTopic]:
    return {PETITION_REGISTERED.name: RecordingTopic(), CASE_ASSIGNED.name: RecordingTopic()}


@pytest.fixture
def database() -> Iterator[FlakyDatabase]:
    db = FlakyDatabase(failures=0)
    db.create_tables()
    yield db
    db.close()


def recorder(database: Database, dead_letters: dict[str, RecordingTopic]) -> EventRecorder:
    return EventRecorder(
        database=database, dead_letters=dead_letters, retry_initial_seconds=0.001, retry_max_seconds=0.01
    )


def unit_of(database: Database, case_id: str) -> str | None:
    with database.sessions() as session:
        return session.scalar(select(CaseFact.unit_code).where(CaseFact.case_id == case_id))


def test_garbage_is_dead_lettered_and_the_next_event_applied(
    database: FlakyDatabase, dead_letters: dict[str, RecordingTopic], make_assigned: Make
) -> None:
    rec = recorder(database, dead_letters)

    async def run() -> list[bool]:
        return [
            await rec.handle(CASE_ASSIGNED, CaseAssigned, b"not json", b"k1"),
            await rec.handle(CASE_ASSIGNED, CaseAssigned, make_assigned("c1").to_json_bytes(), b"c1"),
        ]

    assert asyncio.run(run()) == [False, True]
    (letter,) = dead_letters[CASE_ASSIGNED.name].sent
    assert (letter["key"], letter["value"]) == (b"k1", b"not json")
    assert unit_of(database, "c1") == "430104-zjj"


def test_an_event_of_the_wrong_type_is_dead_lettered(
    database: FlakyDatabase, dead_letters: dict[str, RecordingTopic], make_assigned: Make
) -> None:
    raw = make_assigned("c1").to_json_bytes()
    handled = asyncio.run(
        recorder(database, dead_letters).handle(PETITION_REGISTERED, PetitionRegistered, raw, b"c1")
    )
    assert handled is False
    assert len(dead_letters[PETITION_REGISTERED.name].sent) == 1


def test_an_unreachable_database_is_waited_out_not_dead_lettered(
    database: FlakyDatabase, dead_letters: dict[str, RecordingTopic], make_registered: Make
) -> None:
    database.failures = 3
    raw = make_registered("c1").to_json_bytes()
    assert asyncio.run(
        recorder(database, dead_letters).handle(PETITION_REGISTERED, PetitionRegistered, raw, b"c1")
    )
    assert database.failures == 0
    assert dead_letters[PETITION_REGISTERED.name].sent == []
    with database.sessions() as session:
        assert session.get(CaseFact, "c1") is not None


def test_a_redelivered_event_is_applied_once(
    database: FlakyDatabase, dead_letters: dict[str, RecordingTopic], make_registered: Make
) -> None:
    raw = make_registered("c1").to_json_bytes()
    rec = recorder(database, dead_letters)

    async def twice() -> list[bool]:
        return [await rec.handle(PETITION_REGISTERED, PetitionRegistered, raw, b"c1") for _ in range(2)]

    def duplicates() -> float:
        value = REGISTRY.get_sample_value(
            "xinfang_reporting_duplicate_events_total", {"topic": PETITION_REGISTERED.name}
        )
        return value or 0.0

    before = duplicates()
    assert asyncio.run(twice()) == [True, True]
    assert duplicates() == before + 1
    assert dead_letters[PETITION_REGISTERED.name].sent == []
