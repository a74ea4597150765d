"""Reporting on a real broker: events in, counts out, garbage to reporting's dead letters."""

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from reporting.main import create_app
from reporting.readmodel.database import Database
from reporting.readmodel.models import CaseFact
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import CASE_ASSIGNED, DEADLINE_SCHEDULED, PETITION_REGISTERED

pytestmark = pytest.mark.kafka

Make = Callable[..., CloudEvent[Any]]
TIMEOUT = 60.0


@pytest.fixture
def reporting(kafka_broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The reporting service, lifespan and all, configured through its environment variables."""
    monkeypatch.setenv("XINFANG_KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("REPORTING_DATABASE_URL", f"sqlite:///{tmp_path / 'reporting.db'}")
    # Its own consumer group, so that a reporting process elsewhere on a shared broker does not
    # take the partitions; it reads every topic from the start into its fresh database.
    monkeypatch.setenv("REPORTING_CONSUMER_GROUP", f"reporting-test-{uuid.uuid4().hex[:12]}")
    with TestClient(create_app()) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, "reporting to be ready")
        yield client


@pytest.fixture
def producer(kafka_broker: str) -> Iterator[KafkaProducer]:
    producer = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    yield producer
    producer.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def send(producer: KafkaProducer, topic: str, key: str, value: bytes) -> None:
    producer.send(topic, key=key.encode(), value=value).get(timeout=30)


def counter(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in a /metrics page (0 when absent)."""
    for line in metrics.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_events_raise_the_counts_and_garbage_is_dead_lettered(
    reporting: TestClient,
    producer: KafkaProducer,
    kafka_broker: str,
    make_registered: Make,
    make_assigned: Make,
    make_deadline: Make,
) -> None:
    run = uuid.uuid4()
    case_id = f"rp-{run.hex[:12]}"
    unit = f"rp-unit-{run.hex[:8]}"
    # A registration second no other test uses, so this case's counts are exact even on a
    # shared broker whose history this fresh consumer group is still reading.
    registered_at = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(seconds=run.int % 10**8)
    window = {"from": registered_at.isoformat(), "to": (registered_at + timedelta(seconds=1)).isoformat()}

    def summary(**params: str) -> dict[str, Any]:
        response = reporting.get("/v1/stats/summary", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    before = summary()

    registered = make_registered(
        case_id, registered_at=registered_at, received_at=registered_at, channel="visit"
    )
    send(producer, PETITION_REGISTERED.name, case_id, registered.to_json_bytes())
    wait_for(lambda: summary(**window)["registered"] == 1, "the registration to be counted")
    counted = summary(**window)
    assert (counted["assigned"], counted["awaiting_assignment"]) == (0, 1)
    assert counted["by_channel"]["visit"] == 1
    assert summary()["registered"] >= before["registered"] + 1

    garbage_key = f"rp-garbage-{run.hex[:12]}"
    send(producer, CASE_ASSIGNED.name, garbage_key, b'{"specversion": "1.0", "oops"')
    assigned = make_assigned(
        case_id, unit_code=unit, unit_name="测试单位", assigned_at=registered_at + timedelta(milliseconds=500)
    )
    send(producer, CASE_ASSIGNED.name, case_id, assigned.to_json_bytes())
    wait_for(lambda: summary(**window)["assigned"] == 1, "the assignment after the garbage to be counted")
    counted = summary(**window)
    assert (counted["registered"], counted["awaiting_assignment"]) == (1, 0)
    assert counted["by_unit"] == [{"unit_code": unit, "unit_name": "测试单位", "assigned": 1}]
    assert summary(unit=unit)["assigned"] == 1
    assert summary()["assigned"] >= before["assigned"] + 1

    dead = read_messages(
        kafka_broker,
        CASE_ASSIGNED.dlq("reporting"),
        until=lambda msgs: any(m.key == garbage_key.encode() for m in msgs),
        timeout=TIMEOUT,
    )
    letter = next(m for m in dead if m.key == garbage_key.encode())
    assert letter.value == b'{"specversion": "1.0", "oops"'
    assert dict(letter.headers)["x-source-topic"] == CASE_ASSIGNED.name.encode()

    deadline = make_deadline(case_id, unit_code=unit, starts_at=assigned.data.assigned_at)
    send(producer, DEADLINE_SCHEDULED.name, case_id, deadline.to_json_bytes())
    database: Database = reporting.app.state.database  # type: ignore[attr-defined]

    def due_at() -> datetime | None:
        with database.sessions() as session:
            fact = session.get(CaseFact, case_id)
            return None if fact is None else fact.acceptance_due_at

    wait_for(lambda: due_at() == deadline.data.due_at, "the acceptance deadline to be recorded")

    # A redelivery of the registration is dropped, not counted twice.
    duplicates = counter(
        reporting.get("/metrics").text,
        "xinfang_reporting_duplicate_events_total",
        topic=PETITION_REGISTERED.name,
    )
    send(producer, PETITION_REGISTERED.name, case_id, registered.to_json_bytes())
    wait_for(
        lambda: (
            counter(
                reporting.get("/metrics").text,
                "xinfang_reporting_duplicate_events_total",
                topic=PETITION_REGISTERED.name,
            )
            > duplicates
        ),
        "the redelivered registration to be dropped",
    )
    assert summary(**window)["registered"] == 1

    metrics = reporting.get("/metrics").text
    assert counter(metrics, "xinfang_reporting_cases", state="registered") >= before["registered"] + 1
    assert counter(metrics, "xinfang_reporting_cases", state="assigned") >= before["assigned"] + 1
    assert 'xinfang_reporting_cases{state="awaiting_assignment"}' in metrics
    assert counter(metrics, "xinfang_reporting_cases_by_channel", channel="visit") >= 1
    assert (
        counter(
            metrics,
            "xinfang_stream_events_consumed_total",
            service="reporting",
            topic=CASE_ASSIGNED.name,
            outcome="dead_lettered",
        )
        >= 1
    )
