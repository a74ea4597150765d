"""Every topic intake consumes: hostile messages are dead-lettered with a reason and the consumer goes
on to apply the next good one (the consumer thread, with Kafka replaced by recorders)."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka import TopicPartition
from sqlalchemy import select

from intake.consumers import HANDLERS, CaseAssignedConsumer, ProcessedEvent
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.testing.auth import staff_client
from xinfang_common.testing.events import example_event
from xinfang_common.testing.hostile import hostile_messages
from xinfang_common.topics import (
    CASE_ASSIGNED,
    CASE_LINKED,
    CASE_TRIAGED,
    DEADLINE_SCHEDULED,
    INTAKE,
    TOPICS,
    UNIT_CHANGED,
    TopicSpec,
)

pytestmark = pytest.mark.database

CONSUMED_BY_SPEC = [spec for spec in TOPICS if INTAKE in spec.consumers]


@dataclass
class Message:
    """What kafka-python's consumer hands out, as far as the consumer thread reads it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class FakeConsumer:
    """Hands out one batch per topic partition once, then nothing; records the commits."""

    def __init__(self, batches: dict[TopicPartition, list[Message]]) -> None:
        self._batches = batches
        self.committed: dict[TopicPartition, int] = {}

    def poll(self, timeout_ms: int = 0, max_records: int = 0) -> dict[TopicPartition, list[Message]]:
        batches, self._batches = self._batches, {}
        if not batches:
            time.sleep(timeout_ms / 1000)
        return batches

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.committed.update({tp: meta.offset for tp, meta in offsets.items()})

    def seek(self, tp: TopicPartition, offset: int) -> None:
        raise AssertionError(f"nothing here is transient, yet the consumer rewound {tp} to {offset}")

    def close(self) -> None:
        pass


class SentFuture:
    def get(self, timeout: float | None = None) -> None:
        return None


@dataclass
class FakeProducer:
    """Records dead letters."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(self, topic: str, **message: Any) -> SentFuture:
        self.sent.append({"topic": topic, **message})
        return SentFuture()

    def close(self) -> None:
        pass


@pytest.fixture
def client(intake_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with staff_client(intake_app(relay_enabled=False, consumer_enabled=False)) as c:
        yield c


def good_event(spec: TopicSpec, case_id: str) -> CloudEvent[Any]:
    now = datetime.now(UTC)
    if spec is UNIT_CHANGED:
        return example_event(spec, "430104-zjj", changed_at=now)
    overrides: dict[str, Any] = {
        CASE_ASSIGNED.name: {"assigned_at": now},
        DEADLINE_SCHEDULED.name: {"deadline_id": f"{case_id}:acceptance", "starts_at": now},
        CASE_LINKED.name: {"earlier_case_id": "earlier-case", "at": now},
        CASE_TRIAGED.name: {"at": now},
    }[spec.name]
    return example_event(spec, case_id, **overrides)


def test_the_consumer_reads_every_topic_intake_is_named_a_consumer_of() -> None:
    assert set(HANDLERS) == {spec.name for spec in CONSUMED_BY_SPEC}


def test_hostile_messages_on_every_topic_are_dead_lettered_and_the_next_good_one_applied(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = client.post("/v1/petitions", json=petition_body()).json()["id"]
    batches: dict[TopicPartition, list[Message]] = {}
    expected: list[tuple[str, Any]] = []
    goods: list[CloudEvent[Any]] = []
    for spec in CONSUMED_BY_SPEC:
        good = good_event(spec, case_id)
        hostile = hostile_messages(good)
        messages = [Message(spec.name, 0, i, m.key, m.value) for i, m in enumerate(hostile)]
        messages.append(
            Message(spec.name, 0, len(hostile), (good.partitionkey or "").encode(), good.to_json_bytes())
        )
        batches[TopicPartition(spec.name, 0)] = messages
        expected.extend((spec.name, m) for m in hostile)
        goods.append(good)
    fake_consumer, producer = FakeConsumer(batches), FakeProducer()
    factory = client.app.state.intake.session_factory  # type: ignore[attr-defined]
    consumer = CaseAssignedConsumer(factory, lambda: fake_consumer, lambda: producer, poll_timeout_ms=50)

    consumer.start()
    try:
        deadline = time.monotonic() + 30
        while len(fake_consumer.committed) < len(batches) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        consumer.stop()

    assert fake_consumer.committed == {tp: len(messages) for tp, messages in batches.items()}
    assert len(producer.sent) == len(expected)
    for (topic, message), letter in zip(expected, producer.sent, strict=True):
        headers = dict(letter["headers"])
        assert letter["topic"] == HANDLERS[topic][0].dlq(INTAKE)
        assert message.reason.encode() in headers["x-error"], (message.name, headers["x-error"])
        assert headers["x-source-topic"] == topic.encode()
        assert (letter["key"], letter["value"]) == (message.key, message.value)
    with factory() as session:
        applied = set(session.scalars(select(ProcessedEvent.event_id)))
    assert {good.id for good in goods} <= applied
