"""Repeats linked by routing, and a matter final after recheck declined on sight (Art. 36)."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from intake.consumers import apply_message
from intake.outbox import OutboxMessage
from xinfang_common.testing.auth import staff_client
from xinfang_common.testing.events import example_event
from xinfang_common.topics import CASE_ASSIGNED, CASE_DECLINED, CASE_LINKED, CASE_TRIAGED

pytestmark = pytest.mark.database

EARLIER = "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


@pytest.fixture
def client(intake_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with staff_client(intake_app(relay_enabled=False, consumer_enabled=False)) as c:
        yield c


def apply(client: TestClient, topic: str, event: Any) -> str:
    factory = client.app.state.intake.session_factory  # type: ignore[attr-defined]
    outcome: str = apply_message(factory, event.to_json_bytes(), key=event.partitionkey.encode(), topic=topic)
    return outcome


def assigned(case_id: str) -> Any:
    return example_event(CASE_ASSIGNED, case_id, assigned_at=datetime.now(UTC))


def linked(case_id: str, kind: str) -> Any:
    return example_event(CASE_LINKED, case_id, earlier_case_id=EARLIER, kind=kind, at=datetime.now(UTC))


def declined_events(client: TestClient, case_id: str) -> list[OutboxMessage]:
    factory = client.app.state.intake.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == CASE_DECLINED.name))
        return [row for row in rows if row.key == case_id]


@pytest.mark.parametrize("link_first", [True, False], ids=["link-then-assignment", "assignment-then-link"])
def test_a_matter_final_after_recheck_is_declined_citing_the_final_decision(
    client: TestClient, petition_body: Callable[..., dict[str, Any]], link_first: bool
) -> None:
    case_id = client.post("/v1/petitions", json=petition_body()).json()["id"]
    steps = [(CASE_LINKED.name, linked(case_id, "final")), (CASE_ASSIGNED.name, assigned(case_id))]
    for topic, event in steps if link_first else reversed(steps):
        assert apply(client, topic, event) == "applied"
    # Redelivery of both changes nothing.
    for topic, event in steps:
        assert apply(client, topic, event) == "duplicate"

    case = client.get(f"/v1/petitions/{case_id}").json()
    assert case["status"] == "declined"
    assert case["link_kind"] == "final"
    assert case["linked_case_id"] == EARLIER
    decline = case["timeline"][-1]
    assert decline["kind"] == "declined"
    assert decline["actor"] == "intake"
    assert "第三十六条" in decline["detail"]["reason"]
    assert EARLIER in decline["detail"]["reason"]
    assert len(declined_events(client, case_id)) == 1


@pytest.mark.parametrize("kind", ["repeat", "in_progress"])
def test_other_links_are_shown_and_the_case_proceeds(
    client: TestClient, petition_body: Callable[..., dict[str, Any]], kind: str
) -> None:
    case_id = client.post("/v1/petitions", json=petition_body()).json()["id"]
    apply(client, CASE_ASSIGNED.name, assigned(case_id))
    apply(client, CASE_LINKED.name, linked(case_id, kind))
    case = client.get(f"/v1/petitions/{case_id}").json()
    assert case["status"] == "routed"
    assert case["link_kind"] == kind
    assert case["timeline"][-1]["kind"] == "linked"
    assert "accept" in case["allowed_actions"]
    assert declined_events(client, case_id) == []


def test_a_link_for_an_unknown_case_cannot_be_applied(client: TestClient) -> None:
    from intake.errors import PetitionNotFound

    with pytest.raises(PetitionNotFound):
        apply(client, CASE_LINKED.name, linked("no-such-case", "repeat"))


def test_triage_waits_for_a_person_then_the_manual_assignment_routes_the_case(
    client: TestClient, petition_body: Callable[..., dict[str, Any]]
) -> None:
    created = client.post("/v1/petitions", json=petition_body()).json()
    case_id, code = created["id"], created["tracking_code"]
    now = datetime.now(UTC)
    first = example_event(CASE_ASSIGNED, case_id, assigned_at=now - timedelta(minutes=5))
    assert apply(client, CASE_ASSIGNED.name, first) == "applied"
    reason = "430104-zjj objected that the matter is not its own: “不属于本单位”. second objection."
    queued = example_event(CASE_TRIAGED, case_id, reason=reason, at=now)
    assert apply(client, CASE_TRIAGED.name, queued) == "applied"

    case = client.get(f"/v1/petitions/{case_id}").json()
    assert case["status"] == "triage"
    assert case["assigned_unit"] is None
    assert case["timeline"][-1]["detail"]["reason"] == reason
    tracked = client.get(f"/v1/track/{code}").json()
    assert tracked["status_text"] == "正在确定承办单位"
    assert "objected" not in str(tracked)
    assert "不属于本单位" not in str(tracked)

    manual = example_event(
        CASE_ASSIGNED, case_id, rule="manual-triage", assigned_at=now + timedelta(minutes=1)
    )
    assert apply(client, CASE_ASSIGNED.name, manual) == "applied"
    assert client.get(f"/v1/petitions/{case_id}").json()["status"] == "routed"
    # A triage event older than the assignment in force (cross-topic reordering) changes nothing.
    stale = example_event(CASE_TRIAGED, case_id, reason="old", at=now - timedelta(minutes=10))
    assert apply(client, CASE_TRIAGED.name, stale) == "applied"
    case = client.get(f"/v1/petitions/{case_id}").json()
    assert case["status"] == "routed"
    assert case["timeline"][-1]["kind"] == "triage_ignored"
