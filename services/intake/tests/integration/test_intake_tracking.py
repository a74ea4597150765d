"""The petitioner's side over HTTP: tracking by code, rating, the review chain, rate limits, deadlines."""

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from intake.consumers import apply_message
from intake.tracking_codes import new_tracking_code
from xinfang_common.cloudevents import CloudEvent, build_event, decode_event
from xinfang_common.events import DeadlineScheduled
from xinfang_common.testing.auth import staff_client
from xinfang_common.testing.events import example_event
from xinfang_common.testing.kafka_reader import read_messages
from xinfang_common.topics import (
    CASE_ASSIGNED,
    CASE_RATED,
    CASE_REVIEW_REQUESTED,
    DEADLINE_SCHEDULED,
    TopicSpec,
)

pytestmark = pytest.mark.database

UNIT = "430104-zjj"
UNIT_NAME = "岳麓区住房和城乡建设局"
PERSONAL = (
    "张三丰",
    "11010519491231002X",
    "13812345678",
    "8613812345678",
    "长沙市岳麓区某街道1号",
    "张",
    "丰",
)
OPINION = "经核查，该工地确有夜间违规施工行为，已责令其停止夜间作业并依法处罚。"
REASON = "处理意见未回应夜间施工噪音的监测数据，我本人电话13900001111，请求复查。"
COMMENT = "处理及时，联系人李四喜，电话13900002222。"


@pytest.fixture
def client(intake_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """An app without Kafka and with a generous request rate; events are applied directly."""
    with staff_client(
        intake_app(relay_enabled=False, consumer_enabled=False, track_rate_per_minute=1000)
    ) as c:
        yield c


def case_assigned(case_id: str, unit_code: str = UNIT, unit_name: str = UNIT_NAME) -> CloudEvent[Any]:
    return example_event(
        CASE_ASSIGNED,
        case_id,
        unit_code=unit_code,
        unit_name=unit_name,
        petition_type=None,
        explanation=f"{unit_name} serves 430104 and handles 城乡建设.",
        assigned_at=datetime.now(UTC),
    )


def deadline_scheduled(case_id: str, due_at: datetime) -> CloudEvent[Any]:
    return build_event(
        DeadlineScheduled(
            case_id=case_id,
            deadline_id=f"{case_id}:acceptance",
            kind="acceptance",  # type: ignore[arg-type]
            unit_code=UNIT,
            starts_at=datetime.now(UTC),
            due_at=due_at,
            period=15,
            period_unit="calendar_days",  # type: ignore[arg-type]
            policy_version="national-2022",
            legal_basis="信访工作条例 第二十三条",
        ),
        event_type=DEADLINE_SCHEDULED.event_type,
        source=DEADLINE_SCHEDULED.source,
        case_id=case_id,
    )


def apply(client: TestClient, spec: TopicSpec, event: CloudEvent[Any]) -> None:
    """Apply an event as the consumer would, without a broker."""
    session_factory = client.app.state.intake.session_factory  # type: ignore[attr-defined]
    assert (
        apply_message(
            session_factory, event.to_json_bytes(), key=event.partitionkey.encode(), topic=spec.name
        )
        == "applied"
    )


def register(client: TestClient, body: dict[str, Any]) -> tuple[str, str]:
    response = client.post("/v1/petitions", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    return created["id"], created["tracking_code"]


def act(client: TestClient, case_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/petitions/{case_id}/actions", json=body)
    assert response.status_code == 200, response.text
    case: dict[str, Any] = response.json()
    return case


def track(client: TestClient, code: str) -> dict[str, Any]:
    response = client.get(f"/v1/track/{code}")
    assert response.status_code == 200, response.text
    tracked: dict[str, Any] = response.json()
    return tracked


def replied_case(client: TestClient, body: dict[str, Any]) -> tuple[str, str]:
    case_id, code = register(client, body)
    apply(client, CASE_ASSIGNED, case_assigned(case_id))
    act(client, case_id, action="accept")
    act(client, case_id, action="reply", opinion=OPINION, outcome="supported")
    return case_id, code


def set_clock(client: TestClient, at: datetime) -> None:
    client.app.state.intake.clock = lambda: at  # type: ignore[attr-defined]


def assert_nothing_personal(payload: Any) -> None:
    text = json.dumps(payload, ensure_ascii=False)
    for secret in PERSONAL:
        assert secret not in text, f"{secret!r} leaked"


# ---- on the database only ----------------------------------------------------------------


def test_a_fresh_case_shows_its_status_and_nobodys_personal_data(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    body = petition_body(
        petitioners=[
            {
                "name": "张三丰",
                "id_number": "11010519491231002X",
                "phone": "13812345678",
                "address": "长沙市岳麓区某街道1号",
            },
            {"name": "张丰", "phone": "13812345678"},
        ],
    )
    _, code = register(client, body)
    tracked = track(client, code)
    assert tracked["status"] == "registered"
    assert tracked["status_text"] == "已登记，正在转送有权处理的机关"
    assert tracked["title"] == body["title"]
    assert tracked["unit_name"] is None
    assert [s["kind"] for s in tracked["timeline"]] == ["registered"]
    assert tracked["deadlines"] == []
    assert tracked["reply"] is None
    assert tracked["next"] == {
        "can_rate": False,
        "request": None,
        "request_until": None,
        "final": False,
        "why_not": "the case has no written reply yet to ask a review of",
    }
    assert "petitioners" not in tracked
    assert "content" not in tracked
    assert_nothing_personal(tracked)
    # Typed the way people type it: lower case, no hyphens, O for 0 and I/L for 1.
    typed = code.replace("-", "").lower().replace("0", "o").replace("1", "l")
    assert track(client, typed) == tracked


def test_steps_are_in_public_words_without_staff_ids_or_internal_reasons(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id, code = register(client, petition_body())
    apply(client, CASE_ASSIGNED, case_assigned(case_id, "430104-hbj", "岳麓区生态环境局"))
    objection = "内部意见：该事项应由住建局处理，本局不掌握施工许可信息。"
    act(client, case_id, action="object", reason=objection)
    assert track(client, code)["unit_name"] is None
    apply(client, CASE_ASSIGNED, case_assigned(case_id))
    act(client, case_id, action="accept")
    extension = "需会同生态环境、城管等部门现场核查，情况复杂，申请延期办理。"
    act(client, case_id, action="extend", days=30, reason=extension, approver="head-0012")

    tracked = track(client, code)
    assert tracked["status"] == "accepted"
    assert tracked["unit_name"] == UNIT_NAME
    steps = [(s["kind"], s["text"], s["note"]) for s in tracked["timeline"]]
    assert steps == [
        ("registered", "已登记", None),
        ("assigned", "已转送岳麓区生态环境局办理", None),
        ("objected", "承办单位认为不属于其职权范围，退回重新转送", None),
        ("assigned", f"已转送{UNIT_NAME}办理", None),
        ("accepted", "已受理", None),
        ("extended", "经批准延长办理期限30日", extension),
    ]
    text = json.dumps(tracked, ensure_ascii=False)
    for internal in (objection, "test-admin", "head-0012", "430104-hbj", UNIT, "region-category", case_id):
        assert internal not in text

    declined_id, declined_code = register(client, petition_body())
    apply(client, CASE_ASSIGNED, case_assigned(declined_id))
    decline = "该事项已由人民法院受理，依法应通过诉讼程序解决，不予受理。"
    act(client, declined_id, action="decline", reason=decline)
    declined = track(client, declined_code)
    assert declined["status_text"] == "不予受理"
    assert declined["timeline"][-1]["note"] == decline  # owed to the petitioner in writing


def test_rating_and_the_review_chain_to_the_final_recheck(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id, code = register(client, petition_body())
    refused = client.post(f"/v1/track/{code}/rating", json={"satisfaction": "satisfied"})
    assert refused.status_code == 409
    assert refused.json() == {"error": "RatingNotAllowed", "detail": "there is no written reply to rate yet"}
    assert client.post(f"/v1/track/{code}/review", json={"reason": REASON}).status_code == 409

    apply(client, CASE_ASSIGNED, case_assigned(case_id))
    act(client, case_id, action="accept")
    act(client, case_id, action="reply", opinion=OPINION, outcome="supported")
    tracked = track(client, code)
    assert tracked["status"] == "replied"
    assert tracked["reply"]["sequence"] == 1
    assert (tracked["reply"]["stage"], tracked["reply"]["opinion"]) == ("reply", OPINION)
    assert tracked["reply"]["outcome"] == "supported"
    assert tracked["next"]["can_rate"]
    assert tracked["next"]["request"] == "review"
    assert tracked["next"]["request_until"] is not None

    rated = client.post(f"/v1/track/{code}/rating", json={"satisfaction": "dissatisfied", "comment": COMMENT})
    assert rated.status_code == 201, rated.text
    assert rated.json()["reply_sequence"] == 1
    again = client.post(f"/v1/track/{code}/rating", json={"satisfaction": "satisfied"})
    assert again.status_code == 409
    assert "already rated" in again.json()["detail"]
    tracked = track(client, code)
    assert tracked["reply"]["rating"] == "dissatisfied"
    assert not tracked["next"]["can_rate"]

    review = client.post(f"/v1/track/{code}/review", json={"reason": REASON})
    assert review.status_code == 201, review.text
    assert review.json()["stage"] == "review"
    assert review.json()["status"] == "review_requested"
    assert client.post(f"/v1/track/{code}/review", json={"reason": REASON}).status_code == 409
    staff_view = client.get(f"/v1/petitions/{case_id}").json()
    assert staff_view["allowed_actions"] == ["hearing", "review_reply"]
    assert staff_view["timeline"][-1]["detail"]["reason"] == REASON  # the superior unit reads it
    assert track(client, code)["status_text"] == "已请求复查，等待上一级机关答复"

    review_opinion = "经复查，原处理意见认定事实清楚、处理恰当，予以维持。"
    reviewed = act(client, case_id, action="review_reply", opinion=review_opinion, outcome="not_supported")
    assert reviewed["status"] == "reviewed"
    assert reviewed["allowed_actions"] == ["close"]
    tracked = track(client, code)
    assert tracked["reply"]["sequence"] == 2
    assert tracked["reply"]["stage"] == "review"
    assert tracked["reply"]["opinion"] == review_opinion
    assert tracked["reply"]["rating"] is None
    assert tracked["next"]["can_rate"]
    assert tracked["next"]["request"] == "recheck"
    rated = client.post(f"/v1/track/{code}/rating", json={"satisfaction": "basically_satisfied"})
    assert rated.status_code == 201
    assert rated.json()["reply_sequence"] == 2

    recheck = client.post(f"/v1/track/{code}/review", json={"reason": "对复查意见仍有异议，请求复核。"})
    assert recheck.status_code == 201
    assert recheck.json()["stage"] == "recheck"
    assert recheck.json()["status"] == "recheck_requested"
    act(client, case_id, action="recheck_reply", opinion="经复核，维持复查意见。", outcome="not_supported")
    tracked = track(client, code)
    assert tracked["status"] == "rechecked"
    assert tracked["reply"]["stage"] == "recheck"
    assert tracked["next"]["final"]
    assert tracked["next"]["request"] is None
    final = client.post(f"/v1/track/{code}/review", json={"reason": "仍不服。"})
    assert final.status_code == 409
    assert final.json()["error"] == "ReviewNotAllowed"
    assert "final" in final.json()["detail"]
    closed = act(client, case_id, action="close")
    assert closed["status"] == "closed"
    assert client.post(f"/v1/track/{code}/review", json={"reason": "仍不服。"}).status_code == 409
    assert [s["kind"] for s in track(client, code)["timeline"]][-8:] == [
        "replied",
        "rated",
        "review_requested",
        "reviewed",
        "rated",
        "recheck_requested",
        "rechecked",
        "closed",
    ]
    assert_nothing_personal(track(client, code))
    assert COMMENT not in json.dumps(track(client, code), ensure_ascii=False)


def test_a_review_after_the_30_days_is_409_saying_when_the_period_ended(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    _, code = replied_case(client, petition_body())
    until = datetime.fromisoformat(track(client, code)["next"]["request_until"])
    assert timedelta(days=30) <= until - datetime.now(UTC) <= timedelta(days=35)

    set_clock(client, until)
    tracked = track(client, code)
    assert tracked["next"]["request"] is None
    assert not tracked["next"]["final"]
    late = client.post(f"/v1/track/{code}/review", json={"reason": REASON})
    assert late.status_code == 409
    assert "period for a review" in late.json()["detail"]

    set_clock(client, until - timedelta(seconds=1))
    assert client.post(f"/v1/track/{code}/review", json={"reason": REASON}).status_code == 201


def test_a_closed_case_can_still_be_reviewed_within_the_period(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id, code = replied_case(client, petition_body())
    act(client, case_id, action="close")
    review = client.post(f"/v1/track/{code}/review", json={"reason": REASON})
    assert review.status_code == 201
    assert review.json()["status"] == "review_requested"


def test_any_wrong_code_gets_the_same_404(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    register(client, petition_body())
    answers = [
        client.get(f"/v1/track/{code}")
        for code in (new_tracking_code(), "not-a-code", "0000-0000-0000-000U", "%20")
    ]
    assert {a.status_code for a in answers} == {404}
    assert {a.text for a in answers} == {
        json.dumps(
            {"error": "TrackingCodeNotFound", "detail": "no case matches this tracking code"},
            separators=(",", ":"),
        )
    }
    for path, body in (("rating", {"satisfaction": "satisfied"}), ("review", {"reason": REASON})):
        assert client.post(f"/v1/track/{new_tracking_code()}/{path}", json=body).status_code == 404


def test_bad_rating_and_review_bodies_are_422_naming_the_field(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    _, code = replied_case(client, petition_body())
    for path, body, field in [
        ("rating", {"satisfaction": "happy"}, "satisfaction"),
        ("rating", {"satisfaction": "satisfied", "comment": "长" * 501}, "comment"),
        ("rating", {"satisfaction": "satisfied", "stars": 5}, "stars"),
        ("review", {"reason": "  "}, "reason"),
        ("review", {"reason": "理" * 2001}, "reason"),
        ("review", {}, "reason"),
    ]:
        response = client.post(f"/v1/track/{code}/{path}", json=body)
        assert response.status_code == 422, (path, body)
        assert [f["field"] for f in response.json()["fields"]] == [field]


def test_too_many_requests_get_429_with_retry_after(
    intake_app: Callable[..., FastAPI], petition_body: Callable[..., dict[str, Any]]
) -> None:
    app = intake_app(relay_enabled=False, consumer_enabled=False, track_rate_per_minute=3)
    with staff_client(app) as client:
        _, code = register(client, petition_body())
        for _ in range(3):
            track(client, code)
        limited = client.get(f"/v1/track/{code}")
        assert limited.status_code == 429
        assert limited.json()["error"] == "RateLimited"
        assert "too many tracking requests" in limited.json()["detail"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert client.post(f"/v1/track/{code}/rating", json={"satisfaction": "satisfied"}).status_code == 429
        # Other endpoints are not limited.
        assert client.get("/v1/petitions").status_code == 200
        metrics = client.get("/metrics").text
    assert 'xinfang_intake_track_requests_total{outcome="rate_limited"}' in metrics


def test_failed_lookups_lock_the_address_out_even_for_a_right_code(
    intake_app: Callable[..., FastAPI], petition_body: Callable[..., dict[str, Any]]
) -> None:
    app = intake_app(relay_enabled=False, consumer_enabled=False, track_failed_per_hour=2)
    with staff_client(app) as client:
        _, code = register(client, petition_body())
        track(client, code)
        for _ in range(2):
            assert client.get(f"/v1/track/{new_tracking_code()}").status_code == 404
        limited = client.get(f"/v1/track/{code}")
        assert limited.status_code == 429
        assert "matched no case" in limited.json()["detail"]
        assert 3500 <= int(limited.headers["Retry-After"]) <= 3600


def test_deadlines_from_alerts_show_in_tracking_and_the_staff_view(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id, code = register(client, petition_body())
    apply(client, CASE_ASSIGNED, case_assigned(case_id))
    first = datetime(2026, 3, 18, tzinfo=UTC)
    apply(client, DEADLINE_SCHEDULED, deadline_scheduled(case_id, first))
    rescheduled = datetime(2026, 3, 20, tzinfo=UTC)
    apply(client, DEADLINE_SCHEDULED, deadline_scheduled(case_id, rescheduled))
    tracked = track(client, code)
    assert [(d["kind"], d["text"], datetime.fromisoformat(d["due_at"])) for d in tracked["deadlines"]] == [
        ("acceptance", "告知是否受理的期限", rescheduled)
    ]
    staff = client.get(f"/v1/petitions/{case_id}").json()
    assert [(d["kind"], datetime.fromisoformat(d["due_at"])) for d in staff["deadlines"]] == [
        ("acceptance", rescheduled)
    ]


# ---- on the broker ---------------------------------------------------------------------


def ours(kafka_broker: str, topic: str, case_id: str, count: int) -> list[Any]:
    """The messages keyed by ``case_id`` on ``topic``, once there are ``count`` of them."""
    messages = read_messages(
        kafka_broker, topic, until=lambda ms: sum(m.key == case_id.encode() for m in ms) >= count
    )
    return [m for m in messages if m.key == case_id.encode()]


@pytest.mark.kafka
def test_ratings_and_review_requests_are_published_keyed_by_case_without_their_text(
    intake_app: Callable[..., FastAPI], kafka_broker: str, petition_body: Callable[..., dict[str, Any]]
) -> None:
    with staff_client(intake_app(kafka_broker, consumer_enabled=False)) as client:
        case_id, code = replied_case(client, petition_body())
        rated = client.post(
            f"/v1/track/{code}/rating", json={"satisfaction": "dissatisfied", "comment": COMMENT}
        )
        assert rated.status_code == 201
        assert client.post(f"/v1/track/{code}/review", json={"reason": REASON}).status_code == 201
        act(client, case_id, action="review_reply", opinion="经复查，予以维持。", outcome="not_supported")
        assert client.post(f"/v1/track/{code}/rating", json={"satisfaction": "satisfied"}).status_code == 201
        metrics = client.get("/metrics").text

    ratings = ours(kafka_broker, CASE_RATED.name, case_id, 2)
    assert len(ratings) == 2
    events = [decode_event(m.value, CASE_RATED.schema, CASE_RATED.event_type) for m in ratings]
    assert [(e.data.reply_sequence, e.data.reply_stage, e.data.satisfaction) for e in events] == [
        (1, "reply", "dissatisfied"),
        (2, "review", "satisfied"),
    ]
    assert all(e.subject == e.data.case_id == case_id and e.data.unit_code == UNIT for e in events)

    [request] = ours(kafka_broker, CASE_REVIEW_REQUESTED.name, case_id, 1)
    review = decode_event(request.value, CASE_REVIEW_REQUESTED.schema, CASE_REVIEW_REQUESTED.event_type)
    assert (review.data.stage, review.data.unit_code, review.data.requested_of) == (
        "review",
        UNIT,
        f"superior of {UNIT}",
    )
    raw = b"".join(m.value for m in [*ratings, request])
    for text in (COMMENT, REASON, "13900001111", "13900002222", "李四喜", *PERSONAL[:3]):
        assert text.encode() not in raw
    assert 'xinfang_intake_ratings_total{satisfaction="dissatisfied"}' in metrics
    assert 'xinfang_intake_reviews_requested_total{stage="review"}' in metrics
    assert 'xinfang_intake_track_requests_total{outcome="found"}' in metrics


@pytest.mark.kafka
def test_deadline_scheduled_on_the_broker_is_consumed_and_shown(
    wait_until: Callable[..., Any],
    intake_app: Callable[..., FastAPI],
    kafka_broker: str,
    fresh_group: str,
    producer: KafkaProducer,
    petition_body: Callable[..., dict[str, Any]],
) -> None:
    def send(spec: TopicSpec, event: CloudEvent[Any]) -> None:
        producer.send(spec.name, key=(event.partitionkey or "").encode(), value=event.to_json_bytes()).get(30)

    with staff_client(
        intake_app(kafka_broker, consumer_group=fresh_group, track_rate_per_minute=1000)
    ) as client:
        case_id, code = register(client, petition_body())
        send(CASE_ASSIGNED, case_assigned(case_id))
        due = datetime(2026, 3, 18, tzinfo=UTC)
        send(DEADLINE_SCHEDULED, deadline_scheduled(case_id, due))
        # Two topics, so no order between them: wait for both facts.
        tracked = wait_until(lambda: (t := track(client, code))["deadlines"] and t["unit_name"] and t)
        # A DeadlineScheduled for a case intake never registered goes to intake's own DLQ.
        stranger = str(uuid.uuid4())
        send(DEADLINE_SCHEDULED, deadline_scheduled(stranger, due))
        dead = ours(kafka_broker, DEADLINE_SCHEDULED.dlq("intake"), stranger, 1)
    assert tracked["unit_name"] == UNIT_NAME
    assert [datetime.fromisoformat(d["due_at"]) for d in tracked["deadlines"]] == [due]
    assert dict(dead[0].headers)["x-source-topic"] == DEADLINE_SCHEDULED.name.encode()
