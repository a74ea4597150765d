"""Routing on a real broker: an objection re-routes a case, a second one sends it to triage, a repeat
is linked, and the units topic gives the tree back after a restart."""

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from routing.main import create_app
from routing.org_tree import load_org_tree
from routing.units.follower import UnitFollower
from routing.units.registry import UnitRegistry
from xinfang_common.cloudevents import CloudEvent, build_event, decode_event, utcnow
from xinfang_common.events import CaseAssigned, CaseLinked, PetitionRegistered, TriageQueued
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import bearer
from xinfang_common.testing.events import example_event
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import (
    CASE_ASSIGNED,
    CASE_LINKED,
    CASE_OBJECTED,
    CASE_TRIAGED,
    PETITION_REGISTERED,
    UNIT_CHANGED,
)

pytestmark = pytest.mark.kafka

MakeRegistered = Callable[..., CloudEvent[PetitionRegistered]]


@pytest.fixture
def routing(
    kafka_broker: str,
    routing_group: str,
    demo_tree_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    monkeypatch.setenv("XINFANG_KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("ROUTING_ORG_TREE_PATH", str(demo_tree_path))
    monkeypatch.setenv("ROUTING_CONSUMER_GROUP", routing_group)
    monkeypatch.setenv("XINFANG_STREAM_DATA_DIR", str(tmp_path / "faust"))
    with TestClient(create_app(), headers=bearer()) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.1)
        yield client


@pytest.fixture
def producer(kafka_broker: str) -> Iterator[KafkaProducer]:
    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    yield producer
    producer.close()


def send(producer: KafkaProducer, topic: str, event: CloudEvent[Any]) -> None:
    key = (event.partitionkey or "").encode()
    producer.send(topic, key=key, value=event.to_json_bytes()).get(timeout=30)


def wait_for(bootstrap: str, topic: str, key: str, count: int, model: Any, spec: Any) -> list[Any]:
    """The first ``count`` events on ``topic`` keyed ``key``, decoded."""
    found = read_messages(
        bootstrap,
        topic,
        until=lambda msgs: sum(m.key == key.encode() for m in msgs) >= count,
        timeout=60,
    )
    mine = [decode_event(m.value, model, spec.event_type) for m in found if m.key == key.encode()]
    assert len(mine) >= count, f"{len(mine)} of {count} events for {key} on {topic}"
    return mine[:count]


def test_an_objection_reroutes_and_a_second_one_sends_the_case_to_triage(
    routing: TestClient, producer: KafkaProducer, kafka_broker: str, make_registered: MakeRegistered
) -> None:
    case_id = f"it-obj-{uuid.uuid4().hex[:12]}"
    send(
        producer,
        PETITION_REGISTERED.name,
        make_registered(case_id=case_id, content=f"工地夜间施工。{case_id}"),
    )
    [first] = wait_for(kafka_broker, CASE_ASSIGNED.name, case_id, 1, CaseAssigned, CASE_ASSIGNED)

    objection = example_event(
        CASE_OBJECTED, case_id, unit_code=first.data.unit_code, reason="不属于本单位职责"
    )
    send(producer, CASE_OBJECTED.name, objection)
    _, second = wait_for(kafka_broker, CASE_ASSIGNED.name, case_id, 2, CaseAssigned, CASE_ASSIGNED)

    assert second.data.unit_code != first.data.unit_code
    assert "不属于本单位职责" in second.data.explanation
    send(producer, CASE_OBJECTED.name, example_event(CASE_OBJECTED, case_id, unit_code=second.data.unit_code))
    [queued] = wait_for(kafka_broker, CASE_TRIAGED.name, case_id, 1, TriageQueued, CASE_TRIAGED)
    assert "second objection" in queued.data.reason
    assert case_id in {item["case_id"] for item in routing.get("/v1/triage").json()["items"]}

    answer = routing.post(
        f"/v1/triage/{case_id}/assign", json={"unit_code": "430104-xfj", "note": "人工分办"}
    )

    assert answer.status_code == 200
    *_, by_hand = wait_for(kafka_broker, CASE_ASSIGNED.name, case_id, 3, CaseAssigned, CASE_ASSIGNED)
    assert (by_hand.data.unit_code, by_hand.data.rule) == ("430104-xfj", "manual-triage")
    assert by_hand.data.assigned_at > queued.data.at


def test_a_similar_petition_is_linked_to_the_earlier_case(
    routing: TestClient, producer: KafkaProducer, kafka_broker: str, make_registered: MakeRegistered
) -> None:
    run = uuid.uuid4().hex[:12]
    # The run id in the text makes this pair more alike than any pair from other runs on the broker.
    text = f"{run} 小区旁工地连续多日夜间施工，噪音很大，影响居民休息，请求处理。"
    first = make_registered(case_id=f"it-rp1-{run}", content=text)
    second = make_registered(case_id=f"it-rp2-{run}", content=text + "望尽快答复。")
    send(producer, PETITION_REGISTERED.name, first)
    wait_for(kafka_broker, CASE_ASSIGNED.name, first.data.case_id, 1, CaseAssigned, CASE_ASSIGNED)
    send(producer, PETITION_REGISTERED.name, second)

    [link] = wait_for(kafka_broker, CASE_LINKED.name, second.data.case_id, 1, CaseLinked, CASE_LINKED)

    assert link.data.earlier_case_id == first.data.case_id
    assert link.data.kind.value == "in_progress"
    [assigned] = wait_for(
        kafka_broker, CASE_ASSIGNED.name, second.data.case_id, 1, CaseAssigned, CASE_ASSIGNED
    )
    assert assigned.data.rule == "repeat-in-progress"


def test_the_tree_is_read_back_from_the_units_topic_after_a_restart(
    kafka_broker: str, demo_tree_path: Path
) -> None:
    topic = f"test.routing.units.{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    admin.create_topics(
        [NewTopic(topic, UNIT_CHANGED.partitions, 1, topic_configs={"cleanup.policy": "compact"})]
    )
    admin.close()
    seed = load_org_tree(demo_tree_path)
    office = seed.get("430104-xfj")
    assert office is not None
    renamed = office.model_copy(update={"name": "岳麓区人民来访接待中心"})
    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    for unit in [*seed.units(), renamed]:
        event = build_event(
            unit.to_event(utcnow()),
            event_type=UNIT_CHANGED.event_type,
            source=UNIT_CHANGED.source,
            key=unit.code,
        )
        producer.send(topic, key=unit.code.encode(), value=event.to_json_bytes()).get(timeout=30)
    producer.close()

    async def read_back() -> UnitRegistry:
        # A "restarted" process: its file says something else; the topic wins.
        registry = UnitRegistry(seed.replacing(office.model_copy(update={"name": "stale"})))
        follower = UnitFollower(KafkaSettings(bootstrap_servers=kafka_broker), registry, topic=topic)
        await follower.start()
        await follower.stop()
        return registry

    registry = asyncio.run(read_back())

    assert registry.from_topic
    assert len(registry.tree) == len(seed)
    restored = registry.tree.get("430104-xfj")
    assert restored is not None
    assert restored.name == "岳麓区人民来访接待中心"
