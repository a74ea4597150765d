"""Events for alerts' tests, built from each topic spec's example payload."""

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.policies import load_policy
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.testing.events import example_event
from xinfang_common.topics import (
    CASE_ACCEPTED,
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_DECLINED,
    CASE_EXTENDED,
    CASE_HEARING_HELD,
    CASE_OBJECTED,
    CASE_REPLIED,
    CASE_REVIEW_REQUESTED,
    PETITION_REGISTERED,
    TopicSpec,
)

REPO = Path(__file__).resolve().parents[4]
NATIONAL_POLICY_PATH = REPO / "deploy" / "config" / "deadline-policy.national-2022.yaml"
NATIONAL = load_policy(NATIONAL_POLICY_PATH)
ENTERPRISE = load_policy(REPO / "deploy" / "config" / "deadline-policy.example-enterprise-2026.yaml")
UNIT = "430104-zjj"
SPECS: dict[str, tuple[TopicSpec, str]] = {
    "registered": (PETITION_REGISTERED, "registered_at"),
    "assigned": (CASE_ASSIGNED, "assigned_at"),
    "accepted": (CASE_ACCEPTED, "at"),
    "declined": (CASE_DECLINED, "at"),
    "objected": (CASE_OBJECTED, "at"),
    "extended": (CASE_EXTENDED, "at"),
    "hearing": (CASE_HEARING_HELD, "at"),
    "replied": (CASE_REPLIED, "at"),
    "review_requested": (CASE_REVIEW_REQUESTED, "at"),
    "closed": (CASE_CLOSED, "at"),
}


def new_case_id() -> str:
    """A case id no other test uses."""
    return f"alerts-test-{uuid.uuid4()}"


def case_event(what: str, case_id: str, at: datetime, **overrides: Any) -> CloudEvent[Any]:
    """An input event of kind ``what`` for ``case_id`` at ``at``, from the topic's example."""
    spec, time_field = SPECS[what]
    if what == "registered":
        overrides.setdefault("received_at", at)
    elif what not in ("review_requested",):
        overrides.setdefault("unit_code", UNIT)
    return example_event(spec, case_id, **{time_field: at, **overrides})
