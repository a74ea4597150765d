"""Every topic reporting consumes: hostile messages are dead-lettered with a reason, the next good one
is still applied (through EventRecorder, what every agent runs per message)."""

import asyncio
from collections.abc import Iterator

import pytest

from reporting.agents import CONSUMED, EventRecorder
from reporting.readmodel.database import Database
from xinfang_common.testing.events import example_event
from xinfang_common.testing.hostile import hostile_messages
from xinfang_common.testing.recording import RecordingTopic
from xinfang_common.topics import REPORTING, TOPICS, TopicSpec

CONSUMED_BY_SPEC = [spec for spec in TOPICS if REPORTING in spec.consumers]


@pytest.fixture
def database() -> Iterator[Database]:
    db = Database("sqlite://")
    db.create_tables()
    yield db
    db.close()


def test_the_agents_read_every_topic_reporting_is_named_a_consumer_of() -> None:
    assert {spec.name for spec, _ in CONSUMED} == {spec.name for spec in CONSUMED_BY_SPEC}


@pytest.mark.parametrize("spec", CONSUMED_BY_SPEC, ids=lambda s: s.name)
def test_hostile_messages_are_dead_lettered_and_the_next_good_one_applied(
    spec: TopicSpec, database: Database
) -> None:
    dead = RecordingTopic()
    recorder = EventRecorder(
        database=database, dead_letters={spec.name: dead}, retry_initial_seconds=0.001, retry_max_seconds=0.01
    )
    good = example_event(spec, "430104-zjj" if spec.key_field == "code" else f"hostile-{spec.name}")
    hostile = hostile_messages(good)

    async def feed() -> list[bool]:
        outcomes = [await recorder.handle(spec, spec.schema, m.value, m.key) for m in hostile]
        key = (good.partitionkey or "").encode()
        return [*outcomes, await recorder.handle(spec, spec.schema, good.to_json_bytes(), key)]

    outcomes = asyncio.run(feed())

    assert outcomes == [False] * len(hostile) + [True]
    assert len(dead.sent) == len(hostile)
    for message, letter in zip(hostile, dead.sent, strict=True):
        headers = dict(letter["headers"])
        assert message.reason.encode() in headers["x-error"], (message.name, headers["x-error"])
        assert headers["x-source-topic"] == spec.name.encode()
        assert headers["x-consumer"] == REPORTING.encode()
        assert (letter["key"], letter["value"]) == (message.key, message.value)
