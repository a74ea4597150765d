"""Acting on a case over HTTP: the guarded state machine, its events on Kafka, and list filters."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from sqlalchemy import create_engine, text

from intake.consumers import apply_message
from xinfang_common.cloudevents import CloudEvent, decode_event
from xinfang_common.events import CaseAccepted, HearingHeld
from xinfang_common.testing.auth import staff_client
from xinfang_common.testing.events import example_event
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import (
    CASE_ACCEPTED,
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_EXTENDED,
    CASE_HEARING_HELD,
    CASE_OBJECTED,
    CASE_REPLIED,
    TopicSpec,
)

pytestmark = pytest.mark.database

UNIT = "430104-zjj"


@pytest.fixture
def client(intake_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """A client of an intake app without Kafka; routing decisions are applied directly."""
    with staff_client(intake_app(relay_enabled=False, consumer_enabled=False)) as c:
        yield c


def case_assigned(
    case_id: str,
    unit_code: str = UNIT,
    unit_name: str = "岳麓区住房和城乡建设局",
    *,
    assigned_at: datetime | None = None,
    petition_type: str | None = None,
) -> CloudEvent[Any]:
    return example_event(
        CASE_ASSIGNED,
        case_id,
        unit_code=unit_code,
        unit_name=unit_name,
        petition_type=petition_type,
        explanation=f"{unit_name} serves 430104 and handles 城乡建设.",
        assigned_at=assigned_at or datetime.now(UTC),
    )


def route(client: TestClient, case_id: str, **kwargs: Any) -> None:
    """Apply a CaseAssigned as the consumer would, without a broker."""
    session_factory = client.app.state.intake.session_factory  # type: ignore[attr-defined]
    assert (
        apply_message(session_factory, case_assigned(case_id, **kwargs).to_json_bytes(), key=case_id.encode())
        == "applied"
    )


def register(client: TestClient, body: dict[str, Any]) -> str:
    response = client.post("/v1/petitions", json=body)
    assert response.status_code == 201, response.text
    case_id: str = response.json()["id"]
    return case_id


def act(client: TestClient, case_id: str, **body: Any) -> Any:
    return client.post(f"/v1/petitions/{case_id}/actions", json=body)


def ok(client: TestClient, case_id: str, **body: Any) -> dict[str, Any]:
    response = act(client, case_id, **body)
    assert response.status_code == 200, response.text
    case: dict[str, Any] = response.json()
    return case


# ---- on the database only ----------------------------------------------------------------


def test_an_illegal_action_is_409_listing_the_allowed_ones(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body())
    refused = act(client, case_id, action="accept")
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "TransitionNotAllowed",
        "detail": "cannot accept: a case in status registered cannot be accepted",
        "status": "registered",
        "allowed_actions": [],
    }

    route(client, case_id)
    assert client.get(f"/v1/petitions/{case_id}").json()["allowed_actions"] == ["accept", "decline", "object"]
    refused = act(client, case_id, action="close")
    assert refused.status_code == 409
    assert refused.json()["allowed_actions"] == ["accept", "decline", "object"]

    ok(client, case_id, action="decline", reason="该事项已由人民法院受理，依法应通过诉讼程序解决。")
    refused = act(client, case_id, action="reply", opinion="答复", outcome="explained")
    assert refused.status_code == 409
    assert refused.json()["allowed_actions"] == ["close"]
    closed = ok(client, case_id, action="close")
    assert closed["status"] == "closed"
    assert closed["allowed_actions"] == []
    assert [e["kind"] for e in closed["timeline"]] == ["registered", "assigned", "declined", "closed"]


def test_open311_shows_a_closed_case_as_closed_without_the_reason(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body())
    route(client, case_id)
    ok(client, case_id, action="accept")
    [request] = client.get(f"/open311/v2/requests/{case_id}.json").json()
    assert (request["status"], request["status_notes"]) == ("open", "已受理，正在办理。")
    ok(client, case_id, action="reply", opinion="经核查，已责令施工单位整改。", outcome="supported")
    ok(client, case_id, action="close")
    [request] = client.get(f"/open311/v2/requests/{case_id}.json").json()
    assert (request["status"], request["status_notes"]) == ("closed", "已办结。")
    assert "责令" not in str(request)


def test_bad_action_bodies_are_422_naming_the_field(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body())
    route(client, case_id)
    ok(client, case_id, action="accept")

    too_long = act(client, case_id, action="extend", days=31, reason="需现场核查", approver="head-0012")
    assert too_long.status_code == 422
    assert [f["field"] for f in too_long.json()["fields"]] == ["days"]

    unknown = act(client, case_id, action="approve")
    assert unknown.status_code == 422
    assert [f["field"] for f in unknown.json()["fields"]] == ["action"]

    missing = client.post(f"/v1/petitions/{case_id}/actions", json={"reason": "x"})
    assert [f["field"] for f in missing.json()["fields"]] == ["action"]

    # The case is a claim: its reply must say supported, explained or not supported (Art. 32).
    no_outcome = act(client, case_id, action="reply", opinion="经核查，已责令整改。")
    assert no_outcome.status_code == 422
    assert no_outcome.json()["fields"][0]["field"] == "outcome"
    case = client.get(f"/v1/petitions/{case_id}").json()
    assert case["status"] == "accepted"
    assert [e["kind"] for e in case["timeline"]] == ["registered", "assigned", "accepted"]

    assert act(client, "no-such-case", action="accept").status_code == 404


def test_objection_after_five_working_days_is_409_saying_why(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body())
    route(client, case_id, assigned_at=datetime.now(UTC) - timedelta(days=10))
    refused = act(client, case_id, action="object", reason="不属于本单位职权范围。")
    assert refused.status_code == 409
    assert "objection period (5 working days" in refused.json()["detail"]
    assert refused.json()["allowed_actions"] == ["accept", "decline"]


def test_a_type_classified_by_routing_decides_whether_a_reply_needs_an_outcome(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body(petition_type=None))
    route(client, case_id, petition_type="claim")
    ok(client, case_id, action="accept")
    assert act(client, case_id, action="reply", opinion="已答复。").status_code == 422
    replied = ok(client, case_id, action="reply", opinion="已答复。", outcome="not_supported")
    assert replied["petition_type"] == "claim"
    assert replied["outcome"] == "not_supported"


def test_a_late_routing_decision_does_not_reopen_an_accepted_case(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id = register(client, petition_body())
    route(client, case_id)
    ok(client, case_id, action="accept")
    route(client, case_id, unit_code="430100-xfj", unit_name="长沙市信访局")
    case = client.get(f"/v1/petitions/{case_id}").json()
    assert case["status"] == "accepted"
    assert case["assigned_unit"]["code"] == UNIT
    assert case["timeline"][-1]["kind"] == "assignment_ignored"
    assert case["timeline"][-1]["detail"]["unit_code"] == "430100-xfj"


def test_each_action_is_stored_with_its_event_in_the_outbox(
    client: TestClient, petition_body: Callable[..., dict[str, Any]], database_url: str
) -> None:
    case_id = register(client, petition_body(petition_type="suggestion"))
    route(client, case_id)
    ok(client, case_id, action="accept")
    ok(client, case_id, action="reply", opinion="感谢您的建议，已转有关部门研究采纳。")
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            topics = conn.execute(
                text("SELECT topic FROM outbox_messages WHERE key = :k ORDER BY id"), {"k": case_id}
            ).scalars()
            assert list(topics) == [
                "xinfang.petition.registered.v1",
                CASE_ACCEPTED.name,
                CASE_REPLIED.name,
            ]
    finally:
        engine.dispose()


def test_difficulty_and_hearings_are_recorded_with_their_events(
    client: TestClient, petition_body: Callable[..., dict[str, Any]], database_url: str
) -> None:
    case_id = register(client, petition_body())
    route(client, case_id)
    ok(client, case_id, action="accept", difficulty="difficult")
    backwards = act(client, case_id, action="hearing", started_on="2026-05-13", ended_on="2026-05-12")
    assert backwards.status_code == 422
    assert [f["field"] for f in backwards.json()["fields"]] == ["ended_on"]
    assert act(client, case_id, action="accept", difficulty="hard").status_code == 422

    case = ok(client, case_id, action="hearing", started_on="2026-05-12", ended_on="2026-05-13")
    assert case["status"] == "accepted"
    accepted, hearing = case["timeline"][-2:]
    assert accepted["detail"]["difficulty"] == "difficult"
    assert hearing["kind"] == "hearing_held"
    assert {k: hearing["detail"][k] for k in ("stage", "started_on", "ended_on")} == {
        "stage": "reply",
        "started_on": "2026-05-12",
        "ended_on": "2026-05-13",
    }
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            payloads = conn.execute(
                text("SELECT topic, payload FROM outbox_messages WHERE key = :k ORDER BY id"), {"k": case_id}
            ).all()
    finally:
        engine.dispose()
    raw = {topic: bytes(payload) for topic, payload in payloads}
    accepted_event = decode_event(raw[CASE_ACCEPTED.name], CaseAccepted, CASE_ACCEPTED.event_type)
    assert accepted_event.data.difficulty == "difficult"
    held = decode_event(raw[CASE_HEARING_HELD.name], HearingHeld, CASE_HEARING_HELD.event_type).data
    assert (held.stage, held.days) == ("reply", 2)


def test_list_filters_by_unit_status_type_and_text_with_cursor_pagination(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    noise = [
        register(client, petition_body(title=f"夜间施工噪音扰民（{i}）", petition_type="claim"))
        for i in range(3)
    ]
    water = register(
        client, petition_body(title="小区停水多日", content="小区连续三天停水。", petition_type="suggestion")
    )
    report = register(
        client,
        petition_body(title="举报违规收费", content="某单位乱收费，含 100%_ 字样", petition_type="report"),
    )
    route(client, noise[0])
    route(client, noise[1], unit_code="430104-hbj", unit_name="岳麓区生态环境局")
    route(client, water)
    ok(client, noise[0], action="accept")

    def ids(**params: Any) -> list[str]:
        response = client.get("/v1/petitions", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert set(ids(unit=UNIT)) == {noise[0], water}
    assert ids(status="accepted") == [noise[0]]
    assert set(ids(status="routed")) == {noise[1], water}
    assert set(ids(type="claim")) == set(noise)
    assert ids(type="report") == [report]
    assert set(ids(q="噪音")) == set(noise)
    assert ids(q="三天停水") == [water]  # found in the content
    assert ids(q="100%_") == [report]  # % and _ match themselves
    assert ids(q="%") == [report]
    assert ids(unit=UNIT, type="claim") == [noise[0]]
    assert ids(unit=UNIT, status="closed") == []

    first = client.get("/v1/petitions", params={"q": "噪音", "limit": 2}).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    rest = client.get(
        "/v1/petitions", params={"q": "噪音", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert rest["next_cursor"] is None
    assert {i["id"] for i in first["items"] + rest["items"]} == set(noise)
    assert rest["items"][0]["petition_type"] == "claim"

    bad = client.get("/v1/petitions", params={"status": "pending", "type": "complaint"})
    assert bad.status_code == 422
    assert {f["field"] for f in bad.json()["fields"]} == {"query.status", "query.type"}


# ---- on the broker ---------------------------------------------------------------------


def send(producer: KafkaProducer, event: CloudEvent[Any]) -> None:
    key = event.partitionkey or ""
    producer.send(CASE_ASSIGNED.name, key=key.encode(), value=event.to_json_bytes()).get(timeout=30)


def published(kafka_broker: str, spec: TopicSpec, case_id: str) -> CloudEvent[Any]:
    """The one event on ``spec``'s topic keyed by ``case_id``."""
    messages = read_messages(
        kafka_broker, spec.name, until=lambda ms: any(m.key == case_id.encode() for m in ms)
    )
    ours = [m for m in messages if m.key == case_id.encode()]
    assert len(ours) == 1, f"{len(ours)} events for the case on {spec.name}"
    assert dict(ours[0].headers)["ce_type"] == spec.event_type.encode()
    return decode_event(ours[0].value, spec.schema, spec.event_type)


def status_is(client: TestClient, case_id: str, status: str) -> dict[str, Any] | None:
    case: dict[str, Any] = client.get(f"/v1/petitions/{case_id}").json()
    return case if case["status"] == status else None


@pytest.mark.kafka
def test_full_path_publishes_each_action_on_its_topic_keyed_by_case(
    wait_until: Callable[..., Any],
    intake_app: Callable[..., FastAPI],
    kafka_broker: str,
    fresh_group: str,
    producer: KafkaProducer,
    petition_body: Callable[..., dict[str, Any]],
) -> None:
    with staff_client(intake_app(kafka_broker, consumer_group=fresh_group)) as client:
        case_id = register(client, petition_body())
        send(producer, case_assigned(case_id))
        wait_until(lambda: status_is(client, case_id, "routed"))
        accepted = ok(client, case_id, action="accept")
        assert accepted["allowed_actions"] == ["extend", "hearing", "reply"]
        extended = ok(
            client,
            case_id,
            action="extend",
            days=30,
            reason="需会同生态环境、城管等部门现场核查，申请延期办理。",
            approver="head-0012",
        )
        assert extended["extended_days"] == 30
        assert extended["allowed_actions"] == ["hearing", "reply"]
        opinion = "经核查，该工地确有夜间违规施工行为，已责令其停止夜间作业并依法处罚。"
        ok(client, case_id, action="reply", opinion=opinion, outcome="supported")
        case = ok(client, case_id, action="close", reason="已书面答复信访人，办结。")

    assert case["status"] == "closed"
    timeline = case["timeline"]
    assert [e["kind"] for e in timeline] == [
        "registered",
        "assigned",
        "accepted",
        "extended",
        "replied",
        "closed",
    ]
    assert all(e["actor"] == "test-admin" for e in timeline[2:])
    event_ids = {e["kind"]: e["detail"]["event_id"] for e in timeline[2:]}

    for kind, spec in [
        ("accepted", CASE_ACCEPTED),
        ("extended", CASE_EXTENDED),
        ("replied", CASE_REPLIED),
        ("closed", CASE_CLOSED),
    ]:
        event = published(kafka_broker, spec, case_id)
        assert event.id == event_ids[kind]
        assert event.subject == event.data.case_id == case_id
        assert event.data.unit_code == UNIT
        assert event.data.actor == "test-admin"
    assert published(kafka_broker, CASE_EXTENDED, case_id).data.days == 30
    replied = published(kafka_broker, CASE_REPLIED, case_id).data
    assert (replied.opinion, replied.outcome) == (opinion, "supported")
    raw = b"".join(
        m.value
        for spec in (CASE_ACCEPTED, CASE_EXTENDED, CASE_REPLIED, CASE_CLOSED)
        for m in read_messages(kafka_broker, spec.name, until=lambda ms: True, timeout=5)
        if m.key == case_id.encode()
    )
    for secret in ("张三丰", "11010519491231002X", "13812345678"):
        assert secret.encode() not in raw


@pytest.mark.kafka
def test_objection_sends_the_case_back_to_routing_and_a_new_assignment_routes_it(
    wait_until: Callable[..., Any],
    intake_app: Callable[..., FastAPI],
    kafka_broker: str,
    fresh_group: str,
    producer: KafkaProducer,
    petition_body: Callable[..., dict[str, Any]],
) -> None:
    with staff_client(intake_app(kafka_broker, consumer_group=fresh_group)) as client:
        case_id = register(client, petition_body())
        send(producer, case_assigned(case_id))
        wait_until(lambda: status_is(client, case_id, "routed"))
        reason = "夜间施工噪音属生态环境部门监管职责，不属于本单位职权范围。"
        objected = ok(client, case_id, action="object", reason=reason)
        assert objected["status"] == "objected"
        assert objected["assigned_unit"] is None
        assert objected["allowed_actions"] == []

        event = published(kafka_broker, CASE_OBJECTED, case_id)
        assert (event.data.unit_code, event.data.reason) == (UNIT, reason)

        send(producer, case_assigned(case_id, "430104-hbj", "岳麓区生态环境局"))
        case = wait_until(lambda: status_is(client, case_id, "routed"))
    assert case["assigned_unit"]["code"] == "430104-hbj"
    assert case["allowed_actions"] == ["accept", "decline", "object"]
    assert [e["kind"] for e in case["timeline"]] == ["registered", "assigned", "objected", "assigned"]
