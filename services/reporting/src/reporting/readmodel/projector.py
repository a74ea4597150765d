"""Apply one event to the read model, exactly once per event id, in any order across topics.

A case's events come on a dozen topics and may arrive in any order (an acceptance before its
assignment, a rating before the reply). The ``merge_*`` functions are the decisions and touch
nothing but the row they are given; each column has one rule that gives the same row whatever
the order:

- registration owns ``channel``, ``received_at``, ``registered_at``, ``imported``,
  ``subject_unit`` and ``region``; an assignment fills ``region`` only while it is unknown;
- the handling assignment with the latest ``assigned_at`` (ties: unit code) owns the unit;
  ``category`` and ``petition_type`` come from it when it has them (routing may have
  classified the petition), else from the registration; review and recheck assignments go to
  superior units and leave the case's unit alone; every handling assignment counts as one
  forwarding (转送/交办), every objection as one return;
- of each deadline (acceptance, completion) the highest version wins (ties: the later start),
  so the completion deadline includes an approved extension once alerts has recomputed it;
- first times (min): acceptance, decline, extension, first reply, review and recheck requests
  and answers, link, first overdue alert, first escalation; the last time (max): closure;
- the rating kept is that of the earliest reply rated (lowest sequence, then earliest time);
- alerts count per tier (each alert id once: its event id is derived from it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from reporting.kpis import rollups
from reporting.kpis.contributions import contribution, difference
from reporting.readmodel import repository
from reporting.readmodel.models import CaseFact, Surge, Unit
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.domain import AlertTier, AssignmentStage, DeadlineKind, ReplyStage, ReviewStage
from xinfang_common.events import (
    AlertRaised,
    CaseAccepted,
    CaseAssigned,
    CaseClosed,
    CaseDeclined,
    CaseExtended,
    CaseLinked,
    CaseObjected,
    CaseRated,
    CaseReplied,
    DeadlineScheduled,
    EventData,
    PetitionRegistered,
    ReviewRequested,
    SurgeDetected,
    UnitChanged,
)

T = TypeVar("T")


class Outcome(StrEnum):
    """What applying an event did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"


def _value(enum_or_none: StrEnum | None) -> str | None:
    return None if enum_or_none is None else enum_or_none.value


def _first(current: T | None, new: T) -> T:
    return new if current is None or new < current else current  # type: ignore[operator]


def _last(current: T | None, new: T) -> T:
    return new if current is None or new > current else current  # type: ignore[operator]


def _handling(fact: CaseFact) -> None:
    if fact.registered_at is not None and fact.replied_at is not None:
        fact.handling_seconds = max(0, int((fact.replied_at - fact.registered_at).total_seconds()))
    else:
        fact.handling_seconds = None


def merge_registered(fact: CaseFact, data: PetitionRegistered) -> None:
    """Fold a registration into the case's row."""
    fact.channel = data.channel.value
    fact.received_at = data.received_at
    fact.registered_at = data.registered_at
    fact.imported = data.imported
    fact.region = data.region
    fact.subject_unit = data.subject_unit
    # The assignment's classification wins when there is one, whichever came first.
    if fact.assigned_at is None or fact.category is None:
        fact.category = data.category
    if fact.assigned_at is None or fact.petition_type is None:
        fact.petition_type = _value(data.petition_type)
    _handling(fact)


def merge_assigned(fact: CaseFact, data: CaseAssigned) -> None:
    """Fold a handling assignment into the case's row, unless a later one is already there."""
    if data.stage is not AssignmentStage.HANDLING:
        return
    fact.assignments = (fact.assignments or 0) + 1
    if (
        fact.assigned_at is not None
        and fact.unit_code is not None
        and (data.assigned_at, data.unit_code) < (fact.assigned_at, fact.unit_code)
    ):
        return
    fact.unit_code = data.unit_code
    fact.unit_name = data.unit_name
    fact.assigned_at = data.assigned_at
    if data.category is not None:
        fact.category = data.category
    if data.petition_type is not None:
        fact.petition_type = data.petition_type.value
    if fact.region is None:
        fact.region = data.region


def _newer(
    version: int, starts_at: datetime, current_version: int | None, current_start: datetime | None
) -> bool:
    if current_version is None:
        return True
    return (version, starts_at) >= (current_version, current_start or starts_at)


def merge_deadline(fact: CaseFact, data: DeadlineScheduled) -> None:
    """Keep the latest version of the acceptance and completion deadlines."""
    if data.kind is DeadlineKind.ACCEPTANCE:
        if _newer(data.version, data.starts_at, fact.acceptance_version, fact.acceptance_starts_at):
            fact.acceptance_version = data.version
            fact.acceptance_starts_at = data.starts_at
            fact.acceptance_due_at = data.due_at
    elif data.kind is DeadlineKind.COMPLETION and (
        # Versions of one deadline start at the same acceptance; the version decides.
        fact.completion_version is None or data.version >= fact.completion_version
    ):
        fact.completion_version = data.version
        fact.completion_due_at = data.due_at


def merge_accepted(fact: CaseFact, data: CaseAccepted) -> None:
    """The first acceptance."""
    fact.accepted_at = _first(fact.accepted_at, data.at)
    fact.decided_at = _first(fact.decided_at, data.at)


def merge_declined(fact: CaseFact, data: CaseDeclined) -> None:
    """The first decline."""
    fact.declined_at = _first(fact.declined_at, data.at)
    fact.decided_at = _first(fact.decided_at, data.at)


def merge_objected(fact: CaseFact, data: CaseObjected) -> None:
    """One more return to routing."""
    fact.objections = (fact.objections or 0) + 1


def merge_extended(fact: CaseFact, data: CaseExtended) -> None:
    """The (single) extension; its new deadline comes from alerts as a new completion version."""
    if fact.extended_at is None or data.at < fact.extended_at:
        fact.extended_at = data.at
        fact.extension_days = data.days


def merge_replied(fact: CaseFact, data: CaseReplied) -> None:
    """The first reply, review answer or recheck answer."""
    if data.stage is ReplyStage.REPLY:
        fact.replied_at = _first(fact.replied_at, data.at)
        _handling(fact)
    elif data.stage is ReplyStage.REVIEW:
        fact.review_replied_at = _first(fact.review_replied_at, data.at)
    else:
        fact.recheck_replied_at = _first(fact.recheck_replied_at, data.at)


def merge_closed(fact: CaseFact, data: CaseClosed) -> None:
    """The last closure (a case may be closed again after a review)."""
    fact.closed_at = _last(fact.closed_at, data.at)


def merge_rated(fact: CaseFact, data: CaseRated) -> None:
    """Keep the rating of the earliest reply rated."""
    if fact.rated_at is None or (data.reply_sequence, data.at) < (fact.rated_sequence or 0, fact.rated_at):
        fact.rated_at = data.at
        fact.rated_sequence = data.reply_sequence
        fact.satisfaction = data.satisfaction.value


def merge_review_requested(fact: CaseFact, data: ReviewRequested) -> None:
    """The first review or recheck request."""
    if data.stage is ReviewStage.REVIEW:
        fact.review_requested_at = _first(fact.review_requested_at, data.at)
    else:
        fact.recheck_requested_at = _first(fact.recheck_requested_at, data.at)


def merge_linked(fact: CaseFact, data: CaseLinked) -> None:
    """The first link to an earlier case on the same matter (a repeat petition)."""
    if fact.linked_at is None or data.at < fact.linked_at:
        fact.linked_at = data.at
        fact.link_kind = data.kind.value


_TIER_COLUMN = {
    AlertTier.APPROACHING: "alerts_approaching",
    AlertTier.DUE: "alerts_due",
    AlertTier.OVERDUE: "alerts_overdue",
    AlertTier.ESCALATED: "alerts_escalated",
}


def merge_alert(fact: CaseFact, data: AlertRaised) -> None:
    """Count the alert; remember the first overdue alert and the first escalation (督办)."""
    column = _TIER_COLUMN[data.tier]
    setattr(fact, column, (getattr(fact, column) or 0) + 1)
    if data.tier is AlertTier.OVERDUE:
        fact.overdue_at = _first(fact.overdue_at, data.raised_at)
    elif data.tier is AlertTier.ESCALATED:
        fact.escalated_at = _first(fact.escalated_at, data.raised_at)


_CASE_MERGES: dict[type[EventData], Callable[[CaseFact, Any], None]] = {
    PetitionRegistered: merge_registered,
    CaseAssigned: merge_assigned,
    DeadlineScheduled: merge_deadline,
    CaseAccepted: merge_accepted,
    CaseDeclined: merge_declined,
    CaseObjected: merge_objected,
    CaseExtended: merge_extended,
    CaseReplied: merge_replied,
    CaseClosed: merge_closed,
    CaseRated: merge_rated,
    ReviewRequested: merge_review_requested,
    CaseLinked: merge_linked,
    AlertRaised: merge_alert,
}


def merge_unit(session: Session, data: UnitChanged) -> None:
    """Upsert the unit; an older version never overwrites a newer one."""
    unit = session.get(Unit, data.code, with_for_update=True)
    if unit is None:
        unit = Unit(code=data.code)
        session.add(unit)
    elif unit.changed_at >= data.changed_at:
        return
    unit.name = data.name
    unit.parent = data.parent
    unit.kind = data.kind.value
    unit.active = data.active
    unit.changed_at = data.changed_at


def record_surge(session: Session, event_id: str, data: SurgeDetected) -> None:
    """Keep the surge signal as it came."""
    session.add(
        Surge(
            event_id=event_id,
            category=data.category,
            unit_code=data.unit_code,
            window_start=data.window_start,
            window_end=data.window_end,
            count=data.count,
            baseline_mean=data.baseline_mean,
            baseline_windows=data.baseline_windows,
            detected_at=data.detected_at,
        )
    )


def apply_event(sessions: sessionmaker[Session], event: CloudEvent[Any], *, now: datetime) -> Outcome:
    """Apply ``event`` and record its id in one transaction; a known id changes nothing."""
    data: EventData = event.data
    merge = _CASE_MERGES.get(type(data))
    if merge is None and not isinstance(data, UnitChanged | SurgeDetected):
        raise TypeError(f"reporting does not project {type(data).__name__}")
    with sessions.begin() as session:
        if not repository.claim_event(session, event_id=event.id, at=now):
            return Outcome.DUPLICATE
        if isinstance(data, UnitChanged):
            merge_unit(session, data)
        elif isinstance(data, SurgeDetected):
            record_surge(session, event.id, data)
        else:
            assert merge is not None
            fact = repository.case_for_update(session, case_id=data.case_id, at=now)  # type: ignore[attr-defined]
            zone = rollups.rollup_zone(session)
            before = None if zone is None else contribution(fact, zone)
            merge(fact, data)
            fact.updated_at = now
            if zone is not None and before is not None:
                # The case's old contribution leaves the KPI rollups and its new one enters, in
                # this transaction: the rollups move exactly when the row does.
                moved = difference(before, contribution(fact, zone))
                rollups.apply_contribution(session, moved)
                fact.last_unaligned_at = moved.last_unaligned_at
    return Outcome.APPLIED
