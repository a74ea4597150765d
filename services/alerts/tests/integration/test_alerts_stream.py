"""Alerts on a real broker: facts in, deadlines and alerts out, exactly once across restarts.

The broker may be shared with other tests: everything here looks only at its own case ids and
runs in its own consumer group, so it reads whatever history the topics already hold too.
"""

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient, KafkaProducer
from rocksdict import AccessType, Options, Rdict

from alerts.config import AlertsSettings
from alerts.main import create_app
from alerts.tables import partition_of
from alerts.testing import NATIONAL_POLICY_PATH, case_event, new_case_id
from xinfang_common.auth import AuthSettings, issue_token
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.events import example_event
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import (
    ALERT_RAISED,
    CASE_ASSIGNED,
    DEADLINE_SCHEDULED,
    PETITION_REGISTERED,
    UNIT_CHANGED,
    topic_by_name,
)

pytestmark = pytest.mark.kafka

KEY = "alerts-integration-test-key-0123456789"


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
def producer(kafka_broker: str) -> Iterator[KafkaProducer]:
    made = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    yield made
    made.close()


def send(producer: KafkaProducer, event: CloudEvent[Any]) -> None:
    spec = next(s for s in _SPECS if s.event_type == event.type)
    key = spec.key_of(event.data).encode()
    producer.send(spec.name, key=key, value=event.to_json_bytes()).get(timeout=30)


_SPECS = [
    topic_by_name(n)
    for n in (
        "xinfang.petition.registered.v1",
        "xinfang.case.assigned.v1",
        "xinfang.case.accepted.v1",
        "xinfang.unit.changed.v1",
    )
]


def publish_units(producer: KafkaProducer, *pairs: tuple[str, str | None]) -> None:
    for code, parent in pairs:
        send(producer, example_event(UNIT_CHANGED, code, parent=parent, name=f"unit {code}"))


def settings(tmp_path: Path, **overrides: Any) -> AlertsSettings:
    values: dict[str, Any] = {
        "consumer_group": f"xinfang-alerts-test-{uuid.uuid4().hex[:12]}",
        "policy_path": NATIONAL_POLICY_PATH,
        "database_url": f"sqlite:///{tmp_path / 'alerts.db'}",
        "scan_interval_seconds": 0.5,
        "registration_grace_seconds": 0,
        "delivery_poll_seconds": 0.2,
        "delivery_backoff_seconds": 0.2,
        # The shared broker holds thousands of other tests' cases: start at the end of the topics.
        "start_at_latest": True,
        # Digests on the real clock would reach these tests' webhooks too (see test_alerts_digest.py).
        "digest_time": None,
    }
    values.update(overrides)
    return AlertsSettings(**values)


def start(kafka_broker: str, config: AlertsSettings) -> TestClient:
    app = create_app(config, KafkaSettings(bootstrap_servers=kafka_broker), AuthSettings(jwt_key=KEY))
    return TestClient(app)


def probe_ids() -> list[str]:
    """One case id per partition, so a probe can show that every partition is being consumed."""
    found: dict[int, str] = {}
    while len(found) < CASE_ASSIGNED.partitions:
        case_id = new_case_id()
        found.setdefault(partition_of(case_id), case_id)
    return list(found.values())


def wait_until_consuming(client: TestClient, producer: KafkaProducer) -> None:
    """Ready, and reading every partition of the topics the tests write (a group that starts at the
    end of the topics skips what was sent before its positions were set, so probe until seen)."""
    poll(lambda: client.get("/readyz").status_code, lambda s: s == 200)
    pending = set(probe_ids())

    def seen() -> set[str]:
        for case_id in list(pending):
            body = client.get(f"/v1/deadlines/{case_id}", headers=_token("x", "auditor"))
            if body.status_code == 200 and {"forward", "acceptance"} <= {
                d["kind"] for d in body.json()["deadlines"]
            }:
                pending.discard(case_id)
            else:
                at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
                send(producer, case_event("registered", case_id, at, imported=True))
                send(producer, case_event("assigned", case_id, at))
        return pending

    poll(seen, lambda left: not left, timeout=120)


def wait_until_committed(kafka_broker: str, group: str) -> None:
    """The group has a committed position on every partition the tests write to. A later start of
    the group that finds none begins at the end of the topic (``start_at_latest``) and skips what
    was sent while no worker ran: seen once in CI, a case whose assignment was never read."""
    wanted = {(spec.name, p) for spec in (PETITION_REGISTERED, CASE_ASSIGNED) for p in range(spec.partitions)}
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    try:

        def committed() -> set[tuple[str, int]]:
            offsets = admin.list_group_offsets(group).get(group, {})
            return {(tp.topic, tp.partition) for tp, meta in offsets.items() if meta.offset >= 0}

        poll(committed, lambda got: wanted <= got)
    finally:
        admin.close()


def alerts_for(
    kafka_broker: str, case_ids: set[str], until: Callable[[list[dict[str, Any]]], bool]
) -> list[Any]:
    keys = {c.encode() for c in case_ids}

    def ours(msgs: list[Any]) -> list[dict[str, Any]]:
        return [json.loads(m.value) for m in msgs if m.key in keys]

    return ours(
        read_messages(kafka_broker, ALERT_RAISED.name, until=lambda msgs: until(ours(msgs)), timeout=120)
    )


def test_deadlines_are_announced_with_versions(kafka_broker, producer, tmp_path):
    case_id = new_case_id()
    config = settings(tmp_path)
    with start(kafka_broker, config) as client:
        wait_until_consuming(client, producer)
        at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        send(producer, case_event("registered", case_id, at))
        send(producer, case_event("assigned", case_id, at + timedelta(hours=1)))

        def announced(msgs: list[Any]) -> list[dict[str, Any]]:
            return [json.loads(m.value)["data"] for m in msgs if m.key == case_id.encode()]

        # Assignment and acceptance travel on topics of different services, so nothing orders
        # them for the consumer: wait for the running clock before stopping it.
        read_messages(
            kafka_broker,
            DEADLINE_SCHEDULED.name,
            until=lambda msgs: any(d["kind"] == "acceptance" for d in announced(msgs)),
            timeout=60,
        )
        send(producer, case_event("accepted", case_id, at + timedelta(days=1)))
        messages = read_messages(
            kafka_broker,
            DEADLINE_SCHEDULED.name,
            until=lambda msgs: any(d["kind"] == "completion" for d in announced(msgs)),
            timeout=60,
        )
        data = announced(messages)
        acceptance = [d for d in data if d["kind"] == "acceptance"]
        assert [(d["version"], d["stopped"]) for d in acceptance] == [(1, False), (2, True)]
        [completion] = [d for d in data if d["kind"] == "completion"]
        assert completion["due_at"] == "2026-05-07T00:00:00+08:00"  # 劳动节 moves it to 6 May

        body = client.get(f"/v1/deadlines/{case_id}", headers=_token("x", "auditor")).json()
        assert {d["kind"] for d in body["deadlines"]} >= {"forward", "acceptance", "objection", "completion"}


def _token(unit: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject='t', unit=unit, roles=roles, key=KEY)}"}


def test_every_alert_goes_out_exactly_once_across_restarts(kafka_broker, producer, tmp_path):
    group = f"xinfang-alerts-test-{uuid.uuid4().hex[:12]}"
    # A first run only fixes the new group's positions at the end of the topics.
    with start(kafka_broker, settings(tmp_path, consumer_group=group)) as client:
        wait_until_consuming(client, producer)
        wait_until_committed(kafka_broker, group)

    # A simulated clock: one day every 1.5 seconds from 1 March 2026, the same across restarts.
    origin = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    real_origin = datetime.now(UTC)
    config = settings(
        tmp_path,
        consumer_group=group,
        clock_origin=origin,
        clock_real_origin=real_origin,
        clock_speed=86400 / 1.5,
        escalate_after_days=1,
    )
    unit, parent = f"it-{uuid.uuid4().hex[:8]}", f"it-parent-{uuid.uuid4().hex[:8]}"
    publish_units(producer, (parent, None), (unit, parent))
    cases = [new_case_id() for _ in range(4)]
    for i, case_id in enumerate(cases):
        at = origin + timedelta(days=i * 2, hours=1)
        send(producer, case_event("registered", case_id, at))
        send(producer, case_event("assigned", case_id, at, unit_code=unit))
    # Acceptance last days: 16, 18, 20, 23 March (21-22 March is a weekend); escalation one day
    # after: the last falls on simulated 25 March, about 36 s after the origin.
    tiers = ("approaching", "due", "overdue", "escalated")
    expected = {f"{c}:acceptance:1:{tier}" for c in cases for tier in tiers}

    last_real = real_origin + timedelta(seconds=26 * 1.5)
    restarts = 0
    while datetime.now(UTC) < last_real or restarts < 3:
        with start(kafka_broker, config) as client:
            poll(lambda c=client: c.get("/readyz").status_code, lambda s: s == 200)
            # Not synchronisation: the simulated clock runs on, so alerts fall due while the worker
            # is up and while it is down; both must come out once.
            time.sleep(3)
        restarts += 1
    with start(kafka_broker, config) as client:
        poll(lambda c=client: c.get("/readyz").status_code, lambda s: s == 200)
        raised = alerts_for(
            kafka_broker, set(cases), lambda got: {e["data"]["alert_id"] for e in got} >= expected
        )

    by_alert: dict[str, set[str]] = {}
    for event in raised:
        by_alert.setdefault(event["data"]["alert_id"], set()).add(event["id"])
    assert set(by_alert) == expected  # none missing, nothing else
    assert all(len(ids) == 1 for ids in by_alert.values())  # a re-raise carries the same event id
    escalations = [e["data"] for e in raised if e["data"]["tier"] == "escalated"]
    assert {e["target_unit_code"] for e in escalations} == {parent}
    assert restarts >= 3


def local_case_ids(data_dir: Path) -> set[str]:
    """The case ids in the RocksDB files of the case table under ``data_dir`` (service stopped)."""
    found: set[str] = set()
    for path in data_dir.rglob("cases_by_id-*.db"):
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            keys = db.keys()  # iterating the Rdict itself is not supported in raw mode
            found.update(json.loads(key) for key in keys if not key.startswith(b"__faust"))
        finally:
            db.close()
    return found


def test_with_the_rocksdb_store_a_restart_keeps_the_local_table_and_alerts_once(
    kafka_broker, producer, tmp_path
):
    group = f"xinfang-alerts-test-{uuid.uuid4().hex[:12]}"
    origin = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    config = settings(
        tmp_path,
        consumer_group=group,
        table_store="rocksdb://",
        data_dir=tmp_path / "faust",
        clock_origin=origin,
        clock_real_origin=datetime.now(UTC),
        clock_speed=86400 / 1.5,  # one simulated day every 1.5 s
        escalate_after_days=1,
    )
    cases = [new_case_id() for _ in range(3)]
    with start(kafka_broker, config) as client:
        wait_until_consuming(client, producer)
        for case_id in cases:
            send(producer, case_event("registered", case_id, origin + timedelta(hours=1)))
            send(producer, case_event("assigned", case_id, origin + timedelta(hours=1)))

        def acceptance_known(case_id: str) -> bool:
            body = client.get(f"/v1/deadlines/{case_id}", headers=_token("x", "auditor")).json()
            return "acceptance" in {d["kind"] for d in body.get("deadlines", [])}

        poll(lambda: [c for c in cases if not acceptance_known(c)], lambda left: not left)
    assert set(cases) <= local_case_ids(tmp_path / "faust")

    # Acceptance ends on 16 March; escalation (a day later) falls about 26 s after the origin,
    # while the second run is up: the tiers that passed while it was down go out too.
    with start(kafka_broker, config) as client:
        poll(lambda c=client: c.get("/readyz").status_code, lambda s: s == 200)
        for case_id in cases:
            body = client.get(f"/v1/deadlines/{case_id}", headers=_token("x", "auditor")).json()
            assert {"forward", "acceptance"} <= {d["kind"] for d in body["deadlines"]}
        expected = {
            f"{c}:acceptance:1:{t}" for c in cases for t in ("approaching", "due", "overdue", "escalated")
        }
        raised = alerts_for(
            kafka_broker, set(cases), lambda got: {e["data"]["alert_id"] for e in got} >= expected
        )
    by_alert: dict[str, set[str]] = {}
    for event in raised:
        by_alert.setdefault(event["data"]["alert_id"], set()).add(event["id"])
    assert set(by_alert) == expected
    assert all(len(ids) == 1 for ids in by_alert.values())


class Hooks:
    """A webhook receiver: records each request's body and signature, by path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, str]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hooks.received.append((self.path, body, self.headers.get("X-Xinfang-Signature", "")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_backdated_letter_reaches_the_units_webhook_overdue_and_its_superior_escalated(
    kafka_broker, producer, tmp_path
):
    hooks = Hooks()
    unit, parent = f"bd-{uuid.uuid4().hex[:8]}", f"bd-parent-{uuid.uuid4().hex[:8]}"
    secret = "webhook-secret-0123456789"
    publish_units(producer, (parent, None), (unit, parent))
    try:
        with start(kafka_broker, settings(tmp_path)) as client:
            wait_until_consuming(client, producer)
            for code in (unit, parent):
                created = client.post(
                    "/v1/subscriptions",
                    json={
                        "unit_code": code,
                        "channel": "webhook",
                        "url": f"{hooks.url}/{code}",
                        "secret": secret,
                    },
                    headers=_token(code, "supervisor"),
                )
                assert created.status_code == 201, created.text
            case_id = new_case_id()
            letter = datetime.now(UTC) - timedelta(days=40)
            send(producer, case_event("registered", case_id, letter, channel="letter"))
            send(producer, case_event("assigned", case_id, letter + timedelta(days=1), unit_code=unit))

            def tiers_at(path: str) -> set[str]:
                return {
                    json.loads(body)["data"]["tier"]
                    for p, body, _ in hooks.received
                    if p == path and json.loads(body)["data"]["case_id"] == case_id
                }

            poll(lambda: tiers_at(f"/{unit}"), lambda t: {"overdue", "due", "approaching"} <= t)
            poll(lambda: tiers_at(f"/{parent}"), lambda t: t == {"escalated"})
            for _, body, signature in hooks.received:
                assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

            listed = client.get(
                "/v1/alerts", params={"unit": parent}, headers=_token(parent, "supervisor")
            ).json()
            assert [a["tier"] for a in listed if a["case_id"] == case_id] == ["escalated"]
    finally:
        hooks.server.shutdown()
