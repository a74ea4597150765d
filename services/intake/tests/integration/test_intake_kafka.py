"""Intake on a real broker: outbox relay, CaseAssigned consumer, dead letters, Kafka outages."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from sqlalchemy import create_engine, text

from xinfang_common.cloudevents import CloudEvent, decode_event
from xinfang_common.events import PetitionRegistered
from xinfang_common.testing.auth import staff_client
from xinfang_common.testing.events import example_event
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.testing.plugin import free_port
from xinfang_common.topics import CASE_ASSIGNED, INTAKE, PETITION_REGISTERED

pytestmark = [pytest.mark.kafka, pytest.mark.database]


def case_assigned(
    case_id: str, unit_code: str = "430104-zjj", unit_name: str = "岳麓区住建局"
) -> CloudEvent[Any]:
    return example_event(
        CASE_ASSIGNED,
        case_id,
        unit_code=unit_code,
        unit_name=unit_name,
        petition_type=None,
        explanation=f"{unit_name} serves 430104 and handles 城乡建设.",
        assigned_at=datetime.now(UTC),
    )


def send(producer: KafkaProducer, topic: str, key: str, value: bytes) -> None:
    producer.send(topic, key=key.encode(), value=value).get(timeout=30)


def assigned_unit(client: TestClient, case_id: str, unit_code: str) -> dict[str, Any] | None:
    case: dict[str, Any] = client.get(f"/v1/petitions/{case_id}").json()
    unit = case.get("assigned_unit")
    return case if unit and unit["code"] == unit_code else None


def keyed(case_id: str) -> Callable[[list[Any]], bool]:
    return lambda messages: any(m.key == case_id.encode() for m in messages)


def test_registered_event_is_published_keyed_by_case_without_identity(
    wait_until: Callable[..., Any],
    intake_app: Callable[..., FastAPI],
    kafka_broker: str,
    fresh_group: str,
    petition_body: Callable[..., dict[str, Any]],
) -> None:
    with staff_client(intake_app(kafka_broker, consumer_group=fresh_group)) as client:
        case_id = client.post("/v1/petitions", json=petition_body(group_size=3)).json()["id"]
        messages = read_messages(kafka_broker, PETITION_REGISTERED.name, until=keyed(case_id))
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=15)
        metrics = client.get("/metrics").text
    ours = [m for m in messages if m.key == case_id.encode()]
    assert len(ours) == 1
    raw = ours[0].value
    event = decode_event(raw, PetitionRegistered, PETITION_REGISTERED.event_type)
    assert event.subject == case_id
    assert event.data.case_id == case_id
    assert event.data.petitioner_count == 3
    assert event.data.anonymous is False
    assert dict(ours[0].headers)["ce_id"] == event.id.encode()
    text_ = raw.decode()
    for secret in (
        "张三丰",
        "11010519491231002X",
        "13812345678",
        "138****5678",
        "长沙市岳麓区某街道",
        'petitioners"',
    ):
        assert secret not in text_
    assert "xinfang_intake_outbox_published_total" in metrics


def test_case_assigned_shows_on_the_case(
    wait_until: Callable[..., Any],
    intake_app: Callable[..., FastAPI],
    kafka_broker: str,
    fresh_group: str,
    producer: KafkaProducer,
    petition_body: Callable[..., dict[str, Any]],
) -> None:
    with staff_client(intake_app(kafka_broker, consumer_group=fresh_group)) as client:
        case_id = client.post("/v1/petitions", json=petition_body()).json()["id"]
        event = case_assigned(case_id)
        send(producer, CASE_ASSIGNED.name, case_id, event.to_json_bytes())
        case = wait_until(lambda: assigned_unit(client, case_id, "430104-zjj"))
    assert case["status"] == "routed"
    assert case["assigned_unit"]["name"] == "岳麓区住建局"
    assert [e["kind"] for e in case["timeline"]] == ["registered", "assigned"]
    assert case["timeline"][1]["actor"] == "routing"
    assert case["timeline"][1]["detail"]["rule"] == "region-category"


def test_bad_message_is_dead_lettered_and_the_next_one_applied(
    wait_until: Callable[..., Any],
    intake_app: Callable[..., FastAPI],
    kafka_broker: str,
    fresh_group: str,
    producer: KafkaProducer,
    petition_body: Callable[..., dict[str, Any]],
) -> None:
    with staff_client(intake_app(kafka_broker, consumer_group=fresh_group)) as client:
        case_id = client.post("/v1/petitions", json=petition_body()).json()["id"]
        send(producer, CASE_ASSIGNED.name, case_id, b"{not json")
        wrong_type = json.loads(case_assigned(case_id).to_json_bytes())
        wrong_type["type"] = "cn.xinfang.something.else.v1"
        send(producer, CASE_ASSIGNED.name, case_id, json.dumps(wrong_type).encode())
        send(producer, CASE_ASSIGNED.name, case_id, case_assigned(case_id).to_json_bytes())
        wait_until(lambda: assigned_unit(client, case_id, "430104-zjj"))
    dlq = CASE_ASSIGNED.dlq(INTAKE)
    dead = [
        m
        for m in read_messages(
            kafka_broker, dlq, until=lambda ms: sum(m.key == case_id.encode() for m in ms) >= 2
        )
        if m.key == case_id.encode()
    ]
    assert dead[0].value == b"{not json"
    assert len(dead) == 2
    for message in dead:
        headers = dict(message.headers)
        assert headers["x-source-topic"] == CASE_ASSIGNED.name.encode()
        assert headers["x-consumer"] == b"intake"
        assert headers["x-error"]
    assert b"expected event type" in dict(dead[1].headers)["x-error"]


def test_unknown_case_is_dead_lettered(
    intake_app: Callable[..., FastAPI], kafka_broker: str, fresh_group: str, producer: KafkaProducer
) -> None:
    case_id = f"unknown-{fresh_group}"
    with staff_client(intake_app(kafka_broker, consumer_group=fresh_group)):
        send(producer, CASE_ASSIGNED.name, case_id, case_assigned(case_id).to_json_bytes())
        dead = read_messages(kafka_broker, CASE_ASSIGNED.dlq(INTAKE), until=keyed(case_id))
    ours = [m for m in dead if m.key == case_id.encode()]
    assert b"unknown case" in dict(ours[0].headers)["x-error"]


def test_duplicate_case_assigned_is_applied_once(
    wait_until: Callable[..., Any],
    intake_app: Callable[..., FastAPI],
    kafka_broker: str,
    fresh_group: str,
    producer: KafkaProducer,
    petition_body: Callable[..., dict[str, Any]],
) -> None:
    with staff_client(intake_app(kafka_broker, consumer_group=fresh_group)) as client:
        case_id = client.post("/v1/petitions", json=petition_body()).json()["id"]
        first = case_assigned(case_id).to_json_bytes()
        send(producer, CASE_ASSIGNED.name, case_id, first)
        send(producer, CASE_ASSIGNED.name, case_id, first)
        # A later, different decision on the same partition proves the duplicate was read.
        later = case_assigned(case_id, unit_code="430100-xfj", unit_name="长沙市信访局")
        send(producer, CASE_ASSIGNED.name, case_id, later.to_json_bytes())
        case = wait_until(lambda: assigned_unit(client, case_id, "430100-xfj"))
        consumed = client.get("/metrics").text
    assigned = [e for e in case["timeline"] if e["kind"] == "assigned"]
    assert [e["detail"]["unit_code"] for e in assigned] == ["430104-zjj", "430100-xfj"]
    assert 'xinfang_intake_events_consumed_total{outcome="duplicate"}' in consumed


def test_kafka_down_keeps_the_event_pending_until_kafka_is_back(
    wait_until: Callable[..., Any],
    intake_app: Callable[..., FastAPI],
    kafka_broker: str,
    fresh_group: str,
    database_url: str,
    petition_body: Callable[..., dict[str, Any]],
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    with staff_client(
        intake_app(closed, consumer_group=fresh_group, kafka_connect_timeout_seconds=0.5)
    ) as client:
        response = client.post("/v1/petitions", json=petition_body())
        assert response.status_code == 201
        case_id = response.json()["id"]
        readiness = client.get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["checks"] == {"database": True, "kafka": False}

    engine = create_engine(database_url)
    try:

        def published_at() -> Any:
            with engine.connect() as conn:
                return conn.execute(
                    text("SELECT published_at FROM outbox_messages WHERE key = :k"), {"k": case_id}
                ).scalar_one()

        assert published_at() is None
        with staff_client(intake_app(kafka_broker, consumer_group=fresh_group, consumer_enabled=False)):
            wait_until(published_at)
    finally:
        engine.dispose()
    messages = read_messages(kafka_broker, PETITION_REGISTERED.name, until=keyed(case_id))
    assert any(m.key == case_id.encode() for m in messages)
