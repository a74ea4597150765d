"""The overdue filter over alerts' deadlines, and a review handed to the superior unit by routing."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from intake.consumers import apply_message
from xinfang_common.testing.auth import bearer, staff_client
from xinfang_common.testing.events import example_event
from xinfang_common.topics import CASE_ASSIGNED, DEADLINE_SCHEDULED

pytestmark = pytest.mark.database

UNIT, SUPERIOR = "430104-zjj", "430104-xfj"


@pytest.fixture
def client(intake_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with staff_client(intake_app(relay_enabled=False, consumer_enabled=False)) as c:
        yield c


def apply(client: TestClient, topic: str, event: Any) -> None:
    factory = client.app.state.intake.session_factory  # type: ignore[attr-defined]
    assert (
        apply_message(factory, event.to_json_bytes(), key=event.partitionkey.encode(), topic=topic)
        == "applied"
    )


def register_and_route(client: TestClient, body: dict[str, Any], unit: str = UNIT) -> tuple[str, str]:
    created = client.post("/v1/petitions", json=body).json()
    assigned = example_event(
        CASE_ASSIGNED,
        created["id"],
        unit_code=unit,
        unit_name="岳麓区住房和城乡建设局",
        assigned_at=datetime.now(UTC),
    )
    apply(client, CASE_ASSIGNED.name, assigned)
    return created["id"], created["tracking_code"]


def deadline(case_id: str, kind: str, due_at: datetime, **overrides: Any) -> Any:
    return example_event(
        DEADLINE_SCHEDULED, case_id, deadline_id=f"{case_id}:{kind}", kind=kind, due_at=due_at, **overrides
    )


def overdue_ids(client: TestClient, value: str) -> set[str]:
    answer = client.get("/v1/petitions", params={"overdue": value, "limit": 200})
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["items"]}


def test_overdue_lists_cases_past_a_running_deadline_the_unit_owes(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    now = datetime.now(UTC)
    late, _ = register_and_route(client, petition_body())
    on_time, _ = register_and_route(client, petition_body())
    met, _ = register_and_route(client, petition_body())
    window_only, _ = register_and_route(client, petition_body())
    apply(client, DEADLINE_SCHEDULED.name, deadline(late, "acceptance", now - timedelta(days=1)))
    apply(client, DEADLINE_SCHEDULED.name, deadline(on_time, "acceptance", now + timedelta(days=3)))
    apply(client, DEADLINE_SCHEDULED.name, deadline(met, "acceptance", now - timedelta(days=1)))
    apply(
        client,
        DEADLINE_SCHEDULED.name,
        deadline(met, "acceptance", now - timedelta(days=1), version=2, stopped=True),
    )
    # The petitioner's window to ask for a review is not something the unit owes.
    apply(client, DEADLINE_SCHEDULED.name, deadline(window_only, "review_request", now - timedelta(days=1)))

    overdue, not_overdue = overdue_ids(client, "true"), overdue_ids(client, "false")
    assert late in overdue
    assert {on_time, met, window_only} & overdue == set()
    assert {on_time, met, window_only} <= not_overdue
    assert late not in not_overdue
    assert client.get("/v1/petitions", params={"overdue": "maybe"}).status_code == 422


def test_an_older_deadline_version_arriving_late_changes_nothing(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id, _ = register_and_route(client, petition_body())
    first = datetime(2026, 3, 17, 16, tzinfo=UTC)
    apply(
        client,
        DEADLINE_SCHEDULED.name,
        deadline(case_id, "completion", first + timedelta(days=30), version=2),
    )
    apply(
        client, DEADLINE_SCHEDULED.name, deadline(case_id, "completion", first, version=1, provisional=True)
    )
    shown = client.get(f"/v1/petitions/{case_id}").json()["deadlines"]
    assert shown == [
        {"kind": "completion", "due_at": "2026-04-16T16:00:00Z", "provisional": False, "stopped": False}
    ]


def test_a_review_goes_to_the_superior_unit_which_answers_it(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    case_id, code = register_and_route(client, petition_body(petition_type="suggestion"))
    handler = bearer(UNIT, "handler")
    for action in ({"action": "accept"}, {"action": "reply", "opinion": "已采纳您的建议，将于下月整改。"}):
        assert (
            client.post(f"/v1/petitions/{case_id}/actions", json=action, headers=handler).status_code == 200
        )
    assert (
        client.post(f"/v1/track/{code}/review", json={"reason": "整改未落实，请求复查。"}).status_code == 201
    )

    review = example_event(
        CASE_ASSIGNED,
        case_id,
        unit_code=SUPERIOR,
        unit_name="岳麓区信访局",
        stage="review",
        rule="review-superior",
        explanation="复查由原办理单位的上一级机关办理",
        assigned_at=datetime.now(UTC),
    )
    apply(client, CASE_ASSIGNED.name, review)
    case = client.get(f"/v1/petitions/{case_id}").json()
    assert case["status"] == "review_requested"
    assert case["assigned_unit"]["code"] == SUPERIOR
    assert case["timeline"][-1]["detail"]["stage"] == "review"

    answer = {"action": "review_reply", "opinion": "经复查，原处理意见予以维持。"}
    assert client.post(f"/v1/petitions/{case_id}/actions", json=answer, headers=handler).status_code == 404
    reviewed = client.post(
        f"/v1/petitions/{case_id}/actions", json=answer, headers=bearer(SUPERIOR, "handler")
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["status"] == "reviewed"

    # A review assignment arriving when no review is awaited is noted and ignored.
    apply(
        client,
        CASE_ASSIGNED.name,
        example_event(CASE_ASSIGNED, case_id, stage="recheck", assigned_at=datetime.now(UTC)),
    )
    after = client.get(f"/v1/petitions/{case_id}").json()
    assert after["assigned_unit"]["code"] == SUPERIOR
    assert after["timeline"][-1]["kind"] == "assignment_ignored"
