"""Routing on a real broker: PetitionRegistered in, CaseAssigned out, garbage to the dead letters."""

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from routing.main import create_app
from xinfang_common.cloudevents import CloudEvent, decode_event, derived_event_id
from xinfang_common.events import CaseAssigned, PetitionRegistered
from xinfang_common.testing.auth import bearer
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import CASE_ASSIGNED, PETITION_REGISTERED

pytestmark = pytest.mark.kafka

MakeRegistered = Callable[..., CloudEvent[PetitionRegistered]]


@pytest.fixture
def routing(
    kafka_broker: str, routing_group: str, demo_tree_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The routing service, lifespan and all, configured through its environment variables."""
    monkeypatch.setenv("XINFANG_KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("ROUTING_ORG_TREE_PATH", str(demo_tree_path))
    # Its own consumer group, starting at the topics' end, so that a routing process elsewhere
    # on a shared broker does not take the partitions and older petitions are not replayed.
    monkeypatch.setenv("ROUTING_CONSUMER_GROUP", routing_group)
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


def send(producer: KafkaProducer, key: str, value: bytes) -> None:
    producer.send(PETITION_REGISTERED.name, key=key.encode(), value=value).get(timeout=30)


def messages_for(bootstrap: str, topic: str, keys: set[str], timeout: float = 60) -> dict[str, Any]:
    """The last message on ``topic`` for each key in ``keys``; fails if one does not arrive."""
    wanted = {key.encode() for key in keys}
    found = read_messages(
        bootstrap,
        topic,
        until=lambda msgs: wanted <= {m.key for m in msgs},
        timeout=timeout,
    )
    by_key = {m.key.decode(): m for m in found if m.key in wanted}
    assert set(by_key) == keys, f"missing on {topic}: {keys - set(by_key)}"
    return by_key


def test_petitions_are_assigned_and_garbage_is_dead_lettered(
    routing: TestClient, producer: KafkaProducer, kafka_broker: str, make_registered: MakeRegistered
) -> None:
    run = uuid.uuid4().hex[:12]
    # Texts of their own: the same text as an earlier petition on the shared broker is a repeat.
    claim = make_registered(
        case_id=f"rt-claim-{run}",
        region="430104",
        category="城乡建设",
        content=f"工地夜间施工 {uuid.uuid4().hex} 号",
    )
    garbage_key = f"rt-garbage-{run}"
    report = make_registered(
        case_id=f"rt-report-{run}",
        region="430104",
        category="城乡建设",
        petition_type="report",
        subject_unit="430104-zjj",
        content=f"住建局工作人员收受好处 {uuid.uuid4().hex} 号",
    )

    send(producer, claim.data.case_id, claim.to_json_bytes())
    send(producer, garbage_key, b'{"specversion": "1.0", "oops"')
    send(producer, report.data.case_id, report.to_json_bytes())

    assigned = messages_for(kafka_broker, CASE_ASSIGNED.name, {claim.data.case_id, report.data.case_id})
    first = decode_event(assigned[claim.data.case_id].value, CaseAssigned, CASE_ASSIGNED.event_type)
    assert first.id == derived_event_id(claim.id, CASE_ASSIGNED.event_type)
    assert (first.data.unit_code, first.data.rule) == ("430104-zjj", "region-category")
    assert "城乡建设" in first.data.explanation
    second = decode_event(assigned[report.data.case_id].value, CaseAssigned, CASE_ASSIGNED.event_type)
    assert (second.data.unit_code, second.data.rule) == ("430100-jw", "report-discipline-inspection")
    assert "430104-zjj" in second.data.explanation

    dead = messages_for(kafka_broker, PETITION_REGISTERED.dlq("routing"), {garbage_key})[garbage_key]
    assert dead.value == b'{"specversion": "1.0", "oops"'
    assert dict(dead.headers)["x-source-topic"] == PETITION_REGISTERED.name.encode()

    metrics = routing.get("/metrics").text
    assert 'xinfang_routing_cases_assigned_total{rule="report-discipline-inspection"}' in metrics
    assert "xinfang_routing_decision_seconds_count" in metrics
