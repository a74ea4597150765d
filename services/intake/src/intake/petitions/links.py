"""Routing's other verdicts on a case: repeat links, the finality of a matter closed after recheck
(Art. 36), and manual triage.

A petition routing links to a matter already closed after a recheck (复核) is registered but
not accepted: intake declines it itself, citing the final decision, as soon as it knows the
unit it was assigned to (the link and the assignment may arrive in either order).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake import outbox
from intake.errors import PetitionNotFound
from intake.petitions.lifecycle import ROUTABLE, PetitionStatus
from intake.petitions.models import Petition, TimelineEntry
from intake.petitions.repository import PetitionRepository
from xinfang_common.cloudevents import CloudEvent, build_event, derived_event_id, utcnow
from xinfang_common.domain import LinkKind
from xinfang_common.events import CaseDeclined, CaseLinked, TriageQueued
from xinfang_common.topics import CASE_DECLINED

ACTOR_INTAKE = "intake"
ACTOR_ROUTING = "routing"


def final_decision_reason(earlier_case_id: str) -> str:
    """What the petitioner is told when a final matter is raised again."""
    return (
        f"该信访事项已经复查、复核终结（原案 {earlier_case_id}），依照《信访工作条例》第三十六条，"
        "以同一事实和理由提出的信访事项不再受理。"
    )


def apply_case_linked(session: Session, event: CloudEvent[Any]) -> None:
    """Record routing's link on the case (in the caller's transaction); decline a final matter."""
    data: CaseLinked = event.data
    repo = PetitionRepository(session)
    petition = repo.get_for_update(data.case_id)
    if petition is None:
        raise PetitionNotFound(f"CaseLinked for unknown case {data.case_id}")
    petition.linked_case_id = data.earlier_case_id
    petition.link_kind = data.kind.value
    petition.updated_at = utcnow()
    repo.add_timeline_entry(
        TimelineEntry(
            petition_id=petition.id,
            at=data.at,
            kind="linked",
            actor=ACTOR_ROUTING,
            detail={
                "earlier_case_id": data.earlier_case_id,
                "kind": data.kind.value,
                "similarity": round(data.similarity, 3),
                "event_id": event.id,
            },
        )
    )
    decline_if_final(session, petition, cause_event_id=event.id)


def decline_if_final(session: Session, petition: Petition, *, cause_event_id: str) -> None:
    """Decline a case linked to a final matter once it is routed to a unit (idempotent)."""
    if petition.link_kind != LinkKind.FINAL.value or petition.status != PetitionStatus.ROUTED:
        return
    unit_code, earlier = petition.assigned_unit_code, petition.linked_case_id
    if unit_code is None or earlier is None:  # pragma: no cover - routed cases have a unit
        return
    now = utcnow()
    reason = final_decision_reason(earlier)
    declined = CaseDeclined(
        case_id=petition.id, unit_code=unit_code, actor=ACTOR_INTAKE, at=now, reason=reason
    )
    event = build_event(
        declined,
        event_type=CASE_DECLINED.event_type,
        source=CASE_DECLINED.source,
        case_id=petition.id,
        # Derived from the event that completed the picture, so a redelivery declines only once.
        event_id=derived_event_id(cause_event_id, CASE_DECLINED.event_type),
        time=now,
    )
    petition.status = PetitionStatus.DECLINED
    petition.updated_at = now
    PetitionRepository(session).add_timeline_entry(
        TimelineEntry(
            petition_id=petition.id,
            at=now,
            kind="declined",
            actor=ACTOR_INTAKE,
            detail={"unit_code": unit_code, "reason": reason, "final_case_id": earlier, "event_id": event.id},
        )
    )
    outbox.enqueue(session, topic=CASE_DECLINED.name, event=event)


def apply_triage_queued(session: Session, event: CloudEvent[Any]) -> None:
    """Routing handed the case to a person (in the caller's transaction).

    Applied only when newer than the case's current assignment (the events come from two
    topics, in any order); an older one is only noted. The reason stays for staff: it may
    quote a unit's objection or the classifier's guess, so petitioners see neutral wording.
    """
    data: TriageQueued = event.data
    repo = PetitionRepository(session)
    petition = repo.get_for_update(data.case_id)
    if petition is None:
        raise PetitionNotFound(f"TriageQueued for unknown case {data.case_id}")
    current = PetitionStatus(petition.status) in ROUTABLE and (
        petition.assigned_at is None or data.at > petition.assigned_at
    )
    repo.add_timeline_entry(
        TimelineEntry(
            petition_id=petition.id,
            at=data.at,
            kind="triage" if current else "triage_ignored",
            actor=ACTOR_ROUTING,
            detail={"reason": data.reason, "event_id": event.id},
        )
    )
    if current:
        petition.status = PetitionStatus.TRIAGE
        petition.assigned_unit_code = None
        petition.assigned_unit_name = None
        petition.assigned_at = None
        petition.updated_at = utcnow()
