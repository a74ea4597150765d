"""Alerts on a real broker: CaseAssigned in, DeadlineScheduled out, the table over HTTP.

The broker may be shared with other tests: everything here looks only at its own case ids and
runs in its own consumer group, so it reads whatever history the topic already holds too.
"""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from alerts.config import AlertsSettings
from alerts.main import create_app
from xinfang_common.cloudevents import CloudEvent, derived_event_id
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import CASE_ASSIGNED, DEADLINE_SCHEDULED

pytestmark = pytest.mark.kafka


def poll(fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 60.0) -> Any:
    """Call ``fetch`` until ``ok`` holds for its result; fail with the last result on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fetch()
        if ok(last):
            return last
        time.sleep(0.2)
    pytest.fail(f"condition not met within {timeout}s; last result: {last!r}")


@pytest.fixture(scope="module")
def client(kafka_broker: str) -> Iterator[TestClient]:
    """The alerts app with its faust app running, in a consumer group of its own."""
    settings = AlertsSettings(consumer_group=f"xinfang-alerts-test-{uuid.uuid4().hex[:12]}")
    app = create_app(settings, KafkaSettings(bootstrap_servers=kafka_broker))
    with TestClient(app) as running:
        poll(lambda: running.get("/readyz").status_code, lambda status: status == 200)
        yield running


@pytest.fixture(scope="module")
def producer(kafka_broker: str) -> Iterator[KafkaProducer]:
    made = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    yield made
    made.close()


def send(producer: KafkaProducer, key: str, value: bytes | None) -> None:
    producer.send(CASE_ASSIGNED.name, key=key.encode(), value=value).get(timeout=30)


def send_event(producer: KafkaProducer, event: CloudEvent[Any]) -> None:
    send(producer, event.data.case_id, event.to_json_bytes())


def scheduled_for(kafka_broker: str, case_id: str, *, last_id: str) -> list[dict[str, Any]]:
    """DeadlineScheduled events for ``case_id`` up to the one with ``last_id``, each id once.

    Any other alerts instance on a shared broker publishes the same events with the same ids;
    dropping repeated ids is what every consumer does.
    """
    key = case_id.encode()

    def reached(msgs: list[Any]) -> bool:
        return any(m.key == key and json.loads(m.value)["id"] == last_id for m in msgs)

    messages = read_messages(kafka_broker, DEADLINE_SCHEDULED.name, until=reached, timeout=60)
    events: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message.key == key:
            event = json.loads(message.value)
            events.setdefault(event["id"], event)
    return list(events.values())


def expected_id(assigned: CloudEvent[Any]) -> str:
    return derived_event_id(assigned.id, DEADLINE_SCHEDULED.event_type)


def deadlines(client: TestClient, case_id: str, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    response = poll(
        lambda: client.get(f"/v1/deadlines/{case_id}"),
        lambda r: r.status_code == 200 and ok(r.json()),
    )
    return response.json()


def test_an_assignment_schedules_the_acceptance_deadline(client, producer, kafka_broker, make_assigned):
    # 20:00 UTC on 2 March is 3 March in Shanghai: days 3/4 … 18 March, due 24:00 on the 18th.
    assigned = make_assigned(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    case_id = assigned.data.case_id

    send_event(producer, assigned)

    [published] = scheduled_for(kafka_broker, case_id, last_id=expected_id(assigned))
    assert published["type"] == DEADLINE_SCHEDULED.event_type
    assert published["data"]["deadline_id"] == f"{case_id}:acceptance"
    assert published["data"]["due_at"] == "2026-03-19T00:00:00+08:00"
    assert published["data"]["policy_version"] == "national-2022"

    body = deadlines(client, case_id, lambda b: True)
    [deadline] = body["deadlines"]
    assert deadline["due_at"] == "2026-03-19T00:00:00+08:00"
    assert deadline["event_id"] == published["id"]

    metrics = client.get("/metrics").text
    assert 'xinfang_alerts_deadlines_scheduled_total{kind="acceptance"}' in metrics


def test_garbage_goes_to_the_dead_letters_and_the_next_event_is_processed(
    client, producer, kafka_broker, make_assigned
):
    good = make_assigned(datetime(2026, 2, 6, 2, 0, tzinfo=UTC))
    case_id = good.data.case_id
    garbage_key = f"alerts-garbage-{uuid.uuid4()}"

    # Same key as the good event, so both land on one partition in this order.
    send(producer, case_id, b"\x00 definitely not a CloudEvent")
    send(producer, garbage_key, b'{"specversion": "1.0"}')
    send_event(producer, good)

    dlq = CASE_ASSIGNED.dlq("alerts")
    dead = read_messages(
        kafka_broker,
        dlq,
        until=lambda msgs: {case_id.encode(), garbage_key.encode()} <= {m.key for m in msgs},
        timeout=60,
    )
    ours = [m for m in dead if m.key in {case_id.encode(), garbage_key.encode()}]
    for message in ours:
        headers = dict(message.headers)
        assert b"not a valid" in headers["x-error"]
        assert headers["x-source-topic"] == CASE_ASSIGNED.name.encode()
    assert next(m for m in ours if m.key == case_id.encode()).value == b"\x00 definitely not a CloudEvent"

    # 6 Feb + 15 days ends in the Spring Festival: the first working day after it is 24 Feb.
    body = deadlines(client, case_id, lambda b: True)
    assert body["deadlines"][0]["due_at"] == "2026-02-25T00:00:00+08:00"


def test_a_reassignment_replaces_the_deadline_and_a_replay_publishes_nothing_new(
    client, producer, kafka_broker, make_assigned
):
    first = make_assigned(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    case_id = first.data.case_id
    second = make_assigned(datetime(2026, 3, 5, 1, 0, tzinfo=UTC), case_id=case_id, unit_code="430100-a")
    third = make_assigned(datetime(2026, 3, 9, 1, 0, tzinfo=UTC), case_id=case_id, unit_code="430100-b")

    send_event(producer, first)
    send_event(producer, second)
    send_event(producer, second)  # a replay: same event id
    send_event(producer, first)  # stale: older than the deadline now stored
    send_event(producer, third)  # processed after the two above, since one key = one partition

    body = deadlines(client, case_id, lambda b: b["deadlines"][0]["unit_code"] == "430100-b")
    [deadline] = body["deadlines"]
    assert deadline["due_at"] == "2026-03-25T00:00:00+08:00"

    published = scheduled_for(kafka_broker, case_id, last_id=expected_id(third))
    assert [p["id"] for p in published] == [expected_id(first), expected_id(second), expected_id(third)]
    assert [p["data"]["unit_code"] for p in published] == ["430104-zjj", "430100-a", "430100-b"]


def test_deadlines_survive_a_restart(kafka_broker, producer, make_assigned):
    group = f"xinfang-alerts-test-{uuid.uuid4().hex[:12]}"
    assigned = make_assigned(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    case_id = assigned.data.case_id

    def start() -> TestClient:
        return TestClient(
            create_app(AlertsSettings(consumer_group=group), KafkaSettings(bootstrap_servers=kafka_broker))
        )

    with start() as first:
        send_event(producer, assigned)
        before = deadlines(first, case_id, lambda b: True)

    # A new process in the same group restores the table from its changelog topic before it
    # says it is ready; the input was committed, so nothing is recomputed.
    with start() as second:
        poll(lambda: second.get("/readyz").status_code, lambda status: status == 200)
        response = second.get(f"/v1/deadlines/{case_id}")
        assert response.status_code == 200, response.text
        assert response.json() == before
