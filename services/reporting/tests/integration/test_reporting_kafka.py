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
from xinfang_common.testing.auth import TEST_JWT_KEY, bearer
from xinfang_common.testing.events import example_event
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import (
    ALERT_RAISED,
    CASE_ACCEPTED,
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_DECLINED,
    CASE_EXTENDED,
    CASE_LINKED,
    CASE_OBJECTED,
    CASE_RATED,
    CASE_REPLIED,
    CASE_REVIEW_REQUESTED,
    DEADLINE_SCHEDULED,
    PETITION_REGISTERED,
    SURGE_DETECTED,
    UNIT_CHANGED,
)

pytestmark = pytest.mark.kafka

Make = Callable[..., CloudEvent[Any]]
# Generous: a fresh consumer group first replays whatever history a shared broker holds.
TIMEOUT = 240.0


@pytest.fixture
def reporting(kafka_broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The reporting service, lifespan and all, configured through its environment variables."""
    monkeypatch.setenv("XINFANG_KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("REPORTING_DATABASE_URL", f"sqlite:///{tmp_path / 'reporting.db'}")
    # Its own consumer group, so that a reporting process elsewhere on a shared broker does not
    # take the partitions; it reads every topic from the start into its fresh database.
    monkeypatch.setenv("REPORTING_CONSUMER_GROUP", f"reporting-test-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("XINFANG_AUTH_JWT_KEY", TEST_JWT_KEY)
    monkeypatch.setenv("REPORTING_DLQ_POLL_SECONDS", "1")
    monkeypatch.setenv("REPORTING_METRICS_CACHE_SECONDS", "0")
    with TestClient(create_app(), headers=bearer("430100-xfj", "auditor")) as client:
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


def test_every_case_topic_feeds_the_kpis_backlog_trends_surges_and_exports(
    reporting: TestClient, producer: KafkaProducer
) -> None:
    """One case through every topic reporting reads (acts out of order), then every endpoint."""
    run = uuid.uuid4()
    case_id = f"rp-all-{run.hex[:12]}"
    unit = f"rp-u-{run.hex[:8]}"
    parent = f"rp-p-{run.hex[:8]}"
    # In the past (the measures are evaluated as of min(to, now)), at a second no other run uses.
    t0 = datetime(2010, 1, 1, tzinfo=UTC) + timedelta(seconds=run.int % 10**8)

    def day(n: float) -> datetime:
        return t0 + timedelta(days=n)

    def publish(spec: Any, key: str, **data: Any) -> None:
        send(producer, spec.name, key, example_event(spec, key, **data).to_json_bytes())

    publish(UNIT_CHANGED, parent, name="测试上级", parent=None, changed_at=t0)
    publish(UNIT_CHANGED, unit, name="测试单位", parent=parent, changed_at=t0)
    act = {"unit_code": unit}
    # Later facts first: the read model must end up the same.
    publish(CASE_RATED, case_id, unit_code=unit, satisfaction="satisfied", at=day(31))
    publish(CASE_CLOSED, case_id, **act, at=day(32))
    publish(CASE_REPLIED, case_id, **act, at=day(30))
    publish(CASE_EXTENDED, case_id, **act, at=day(20))
    publish(CASE_ACCEPTED, case_id, **act, at=day(2))
    publish(CASE_OBJECTED, case_id, **act, at=day(1))
    publish(CASE_DECLINED, f"{case_id}-x", **act, at=day(1))
    publish(CASE_REVIEW_REQUESTED, case_id, unit_code=unit, at=day(40))
    publish(CASE_LINKED, case_id, earlier_case_id=f"{case_id}-0", at=t0)
    publish(
        ALERT_RAISED,
        case_id,
        alert_id=f"{case_id}:acceptance:1:approaching",
        tier="approaching",
        unit_code=unit,
        target_unit_code=unit,
        due_at=day(16),
        raised_at=day(13),
    )
    publish(
        DEADLINE_SCHEDULED,
        case_id,
        deadline_id=f"{case_id}:acceptance",
        unit_code=unit,
        starts_at=t0,
        due_at=day(16),
    )
    publish(
        DEADLINE_SCHEDULED,
        case_id,
        deadline_id=f"{case_id}:completion",
        kind="completion",
        unit_code=unit,
        starts_at=day(2),
        due_at=day(63),
    )
    publish(CASE_ASSIGNED, case_id, unit_code=unit, unit_name="测试单位", assigned_at=day(0.1))
    publish(PETITION_REGISTERED, case_id, registered_at=t0, received_at=t0, subject_unit=unit)
    publish(SURGE_DETECTED, f"城乡建设|{unit}", unit_code=unit, detected_at=t0)

    params = {"unit": parent, "from": t0.isoformat(), "to": day(400).isoformat()}

    def kpis() -> dict[str, Any]:
        response = reporting.get("/v1/kpis", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()["total"]
        return body

    def applied() -> bool:
        # Topics are replayed at their own pace (a shared broker's deadline topic holds much
        # history), so wait for the facts of every topic, not just the last one sent.
        total = kpis()
        return (
            total["by_status"]["review"] == 1
            and total["timely_acceptance"]["denominator"] == 1
            and total["on_time_completion"]["denominator"] == 1
            and total["participation"]["numerator"] == 1
            and total["repeat_rate"]["numerator"] == 1
        )

    wait_for(applied, "every fact of the case to be applied")
    total = kpis()
    assert total["cases"] == 1
    assert total["timely_acceptance"] == {"numerator": 1, "denominator": 1, "rate": 1.0}
    assert total["on_time_completion"] == {"numerator": 1, "denominator": 1, "rate": 1.0}
    assert total["participation"]["rate"] == 1.0
    assert total["satisfaction"]["rate"] == 1.0
    assert total["repeat_rate"]["rate"] == 1.0
    assert total["handling_days"]["p50"] == 30.0

    backlog = reporting.get("/v1/backlog", params=params).json()
    assert backlog["total"] == 1
    trends = reporting.get("/v1/trends", params={**params, "interval": "month", "by": "unit"}).json()
    assert [(s["key"], s["total"]) for s in trends["series"]] == [(unit, 1)]
    wait_for(lambda: reporting.get("/v1/surges", params={"unit": parent}).json()["surges"] != [], "the surge")
    csv_export = reporting.get("/v1/exports/kpis.csv", params={**params, "group_by": "unit"})
    assert csv_export.status_code == 200
    assert "测试单位" in csv_export.content.decode("utf-8-sig")
    year = reporting.get("/v1/exports/annual-report.xlsx", params={"year": t0.year, "unit": parent})
    assert year.status_code == 200
    xlsx = reporting.get("/v1/exports/kpis.xlsx", params=params)
    assert xlsx.status_code == 200

    metrics = reporting.get("/metrics").text
    assert "xinfang_reporting_faust_messages_received_total" in metrics
    wait_for(
        lambda: "xinfang_reporting_dead_letter_messages{" in reporting.get("/metrics").text,
        "the dead-letter topics to be measured",
    )


def test_rebuild_resets_the_group_to_the_earliest_offsets_and_empties_the_tables(
    kafka_broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_registered: Make
) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer

    from reporting import cli
    from reporting.readmodel.projector import apply_event

    group = f"reporting-rebuild-{uuid.uuid4().hex[:12]}"
    url = f"sqlite:///{tmp_path / 'reporting.db'}"
    database = Database(url)
    database.create_tables()
    apply_event(database.sessions, make_registered("rebuild-1"), now=datetime.now(UTC))
    database.close()
    monkeypatch.setenv("XINFANG_KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("REPORTING_DATABASE_URL", url)
    monkeypatch.setenv("REPORTING_CONSUMER_GROUP", group)

    assert cli.main(["rebuild"]) == 2  # without --yes it only says what it would do
    assert cli.main(["rebuild", "--yes"]) == 0

    database = Database(url)
    with database.sessions() as session:
        assert session.get(CaseFact, "rebuild-1") is None
    database.close()
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker)
    try:
        committed = admin.list_group_offsets(group)[group]
        earliest = consumer.beginning_offsets(list(committed))
        assert committed
        assert {tp.topic for tp in committed} >= {PETITION_REGISTERED.name, UNIT_CHANGED.name}
        assert all(meta.offset == earliest[tp] for tp, meta in committed.items())
    finally:
        consumer.close()
        admin.close()
