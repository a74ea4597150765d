"""Decide which deadline an assignment schedules: pure, no Kafka, no clock of its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import RootModel

from alerts.policies import POLICIES, DeadlinePolicy, get_policy
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.cloudevents import CloudEvent, build_event, derived_event_id
from xinfang_common.domain import DeadlineKind
from xinfang_common.events import CaseAssigned, DeadlineScheduled
from xinfang_common.periods import Due, compute_due
from xinfang_common.topics import DEADLINE_SCHEDULED


class CaseDeadlines(RootModel[dict[DeadlineKind, CloudEvent[DeadlineScheduled]]]):
    """Every deadline of one case, by kind, as the DeadlineScheduled event that announced it."""

    def to_json_bytes(self) -> bytes:
        """The stored form (the value in the ``deadlines_by_case`` table)."""
        return self.model_dump_json(exclude_none=True).encode("utf-8")

    @classmethod
    def from_json_bytes(cls, raw: bytes | str) -> CaseDeadlines:
        """Parse the stored form."""
        return cls.model_validate_json(raw)

    def policy_version(self) -> str | None:
        """The policy version the case started under, if it has any deadline yet."""
        for event in self.root.values():
            return event.data.policy_version
        return None


def deadline_id(case_id: str, kind: DeadlineKind) -> str:
    """The stable id of a case's deadline of one kind."""
    return f"{case_id}:{kind.value}"


@dataclass(frozen=True)
class Scheduled:
    """A deadline to announce and store."""

    event: CloudEvent[DeadlineScheduled]
    deadlines: CaseDeadlines
    due: Due


@dataclass(frozen=True)
class Skipped:
    """Nothing to do: the input was already handled, or is older than what is stored."""

    reason: Literal["duplicate", "stale"]
    detail: str


def plan_acceptance(
    assigned: CloudEvent[CaseAssigned],
    current: CaseDeadlines | None,
    *,
    default_policy: DeadlinePolicy,
    calendar: HolidayCalendar,
    tz: ZoneInfo,
    now: datetime,
    policies: Mapping[str, DeadlinePolicy] = POLICIES,
) -> Scheduled | Skipped:
    """The acceptance deadline an assignment starts (Art. 23: receipt by the unit starts it).

    A re-assignment replaces the acceptance deadline, since receipt by the new unit restarts
    the period; the case keeps the policy version it started under.
    """
    kind = DeadlineKind.ACCEPTANCE
    data = assigned.data
    event_id = derived_event_id(assigned.id, DEADLINE_SCHEDULED.event_type)
    existing = current.root.get(kind) if current is not None else None
    if existing is not None:
        if existing.id == event_id:
            return Skipped("duplicate", f"event {assigned.id} was already handled")
        if data.assigned_at < existing.data.starts_at:
            return Skipped(
                "stale",
                f"assignment at {data.assigned_at.isoformat()} is older than the one the "
                f"stored deadline started from ({existing.data.starts_at.isoformat()})",
            )
    started_under = current.policy_version() if current is not None else None
    policy = get_policy(started_under, policies) if started_under else default_policy
    period = policy.period(kind)
    due = compute_due(data.assigned_at, period.n, period.unit, calendar, tz)
    payload = DeadlineScheduled(
        case_id=data.case_id,
        deadline_id=deadline_id(data.case_id, kind),
        kind=kind,
        unit_code=data.unit_code,
        starts_at=data.assigned_at,
        due_at=due.due_at,
        period=period.n,
        period_unit=period.unit,
        policy_version=policy.version,
        legal_basis=period.legal_basis,
    )
    event = build_event(
        payload,
        event_type=DEADLINE_SCHEDULED.event_type,
        source=DEADLINE_SCHEDULED.source,
        case_id=data.case_id,
        event_id=event_id,
        time=now,
    )
    merged = dict(current.root) if current is not None else {}
    merged[kind] = event
    return Scheduled(event=event, deadlines=CaseDeadlines(merged), due=due)
