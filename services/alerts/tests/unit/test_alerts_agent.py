"""The ``schedule_deadlines`` agent, run by faust's test context with no broker."""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts import metrics
from alerts.agents import DeadlineScheduler, install_agents
from alerts.app import AlertsStream, build_stream
from alerts.policies import NATIONAL_2022
from alerts.tables import read_case_deadlines
from xinfang_common.calendar import load_calendar
from xinfang_common.cloudevents import CloudEvent, derived_event_id
from xinfang_common.domain import DeadlineKind
from xinfang_common.periods import SHANGHAI
from xinfang_common.settings import KafkaSettings
from xinfang_common.topics import DEADLINE_SCHEDULED


class DeadLetters:
    """Stands in for the dead-letter topic."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> asyncio.Future[None]:
        self.sent.append(message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def reasons(self) -> list[str]:
        return [dict(m["headers"])["x-error"].decode() for m in self.sent]


class Publisher:
    """Stands in for ``publish``: records events, and can refuse the first few."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[CloudEvent[Any]] = []
        self.failures = failures

    async def __call__(self, topic: Any, event: CloudEvent[Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker not available")
        self.events.append(event)


class Harness:
    def __init__(self, failures: int = 0) -> None:
        self.stream: AlertsStream = build_stream(
            KafkaSettings(bootstrap_servers="127.0.0.1:9"), consumer_group="alerts-unit"
        )
        self.dead_letters = DeadLetters()
        self.publisher = Publisher(failures)
        self.scheduler = DeadlineScheduler(
            store=self.stream.deadlines,
            scheduled_topic=self.stream.deadline_scheduled,
            dead_letters=self.dead_letters,
            default_policy=NATIONAL_2022,
            calendar=load_calendar(),
            tz=SHANGHAI,
            publisher=self.publisher,
            retry_initial_seconds=0,
        )
        self.agent = install_agents(self.stream, self.scheduler)

    async def feed(self, *messages: tuple[bytes | None, bytes | None]) -> None:
        async with self.agent.test_context() as agent:
            for key, value in messages:
                await agent.put(key=key, value=value)


@pytest.fixture
def harness() -> Harness:
    return Harness()


def test_an_assignment_is_announced_and_stored(harness, make_assigned):
    assigned = make_assigned(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    case_id = assigned.data.case_id

    asyncio.run(harness.feed((case_id.encode(), assigned.to_json_bytes())))

    [event] = harness.publisher.events
    assert event.id == derived_event_id(assigned.id, DEADLINE_SCHEDULED.event_type)
    assert event.data.due_at.isoformat() == "2026-03-19T00:00:00+08:00"
    stored = read_case_deadlines(harness.stream.deadlines, case_id)
    assert stored is not None
    assert stored.root[DeadlineKind.ACCEPTANCE].id == event.id
    assert harness.dead_letters.sent == []


def test_bad_messages_are_dead_lettered_and_the_next_good_one_is_processed(harness, make_assigned):
    good = make_assigned(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    mis_keyed = make_assigned(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))

    asyncio.run(
        harness.feed(
            (b"case-x", b"this is not json"),
            (b"case-y", None),
            (b"someone-else", mis_keyed.to_json_bytes()),
            (good.data.case_id.encode(), good.to_json_bytes()),
        )
    )

    reasons = harness.dead_letters.reasons()
    assert len(reasons) == 3
    assert "not a valid" in reasons[0]
    assert "empty message" in reasons[1]
    assert "not the case id" in reasons[2]
    assert [m["key"] for m in harness.dead_letters.sent] == [b"case-x", b"case-y", b"someone-else"]
    assert [e.data.case_id for e in harness.publisher.events] == [good.data.case_id]


def test_a_replayed_assignment_is_not_announced_twice(harness, make_assigned):
    assigned = make_assigned(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    message = (assigned.data.case_id.encode(), assigned.to_json_bytes())
    before = metrics.ASSIGNMENTS_SKIPPED.labels("duplicate")._value.get()

    asyncio.run(harness.feed(message, message))

    assert len(harness.publisher.events) == 1
    assert metrics.ASSIGNMENTS_SKIPPED.labels("duplicate")._value.get() == before + 1


def test_a_refused_publish_is_retried_not_dead_lettered(make_assigned):
    harness = Harness(failures=2)
    assigned = make_assigned(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    retries_before = metrics.PUBLISH_RETRIES._value.get()

    asyncio.run(harness.feed((assigned.data.case_id.encode(), assigned.to_json_bytes())))

    assert len(harness.publisher.events) == 1
    assert harness.dead_letters.sent == []
    assert metrics.PUBLISH_RETRIES._value.get() == retries_before + 2
    assert read_case_deadlines(harness.stream.deadlines, assigned.data.case_id) is not None


def test_a_deadline_in_an_uncovered_year_is_counted_and_warned_once(
    harness, make_assigned, caplog, monkeypatch
):
    # The warn-once memory is per process; other tests in it may have met 2031 already.
    monkeypatch.setattr(metrics, "_warned_years", set())
    first = make_assigned(datetime(2031, 3, 2, 9, 30, tzinfo=UTC))
    second = make_assigned(datetime(2031, 4, 2, 9, 30, tzinfo=UTC))
    before = metrics.CALENDAR_UNCOVERED._value.get()

    with caplog.at_level(logging.WARNING, logger="alerts.metrics"):
        asyncio.run(
            harness.feed(
                (first.data.case_id.encode(), first.to_json_bytes()),
                (second.data.case_id.encode(), second.to_json_bytes()),
            )
        )

    assert len(harness.publisher.events) == 2
    assert metrics.CALENDAR_UNCOVERED._value.get() == before + 2
    warnings = [r for r in caplog.records if "does not cover 2031" in r.getMessage()]
    assert len(warnings) == 1
