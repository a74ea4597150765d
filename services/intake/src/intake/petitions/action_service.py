"""Taking an action on a case: guard it, record it and publish it, all in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from intake import metrics, outbox
from intake.access.policy import CaseScope, may_act
from intake.crypto import PersonalDataCipher
from intake.errors import PetitionNotFound
from intake.petitions import lifecycle
from intake.petitions.lifecycle import PAST_TENSE, Action
from intake.petitions.models import Petition, TimelineEntry
from intake.petitions.repository import PetitionRepository
from intake.petitions.schemas import (
    AcceptAction,
    CaseActionRequest,
    CloseAction,
    DeclineAction,
    ExtendAction,
    HearingAction,
    ObjectAction,
    PetitionRead,
    RecheckReplyAction,
    ReplyAction,
    ReviewReplyAction,
)
from intake.petitions.service import case_state, get_petition
from xinfang_common.auth import Forbidden, Principal
from xinfang_common.cloudevents import build_event, utcnow
from xinfang_common.events import (
    CaseAccepted,
    CaseAction,
    CaseClosed,
    CaseDeclined,
    CaseExtended,
    CaseObjected,
    CaseReplied,
    HearingHeld,
)
from xinfang_common.topics import (
    CASE_ACCEPTED,
    CASE_CLOSED,
    CASE_DECLINED,
    CASE_EXTENDED,
    CASE_HEARING_HELD,
    CASE_OBJECTED,
    CASE_REPLIED,
    TopicSpec,
)

ACTOR_UNIT_STAFF = "unit-staff"
"""The actor recorded when no caller is given (tests of the state machine alone)."""


def _record(
    request: CaseActionRequest, petition: Petition, base: dict[str, Any], now: datetime
) -> tuple[TopicSpec, CaseAction, dict[str, Any]]:
    """Apply the action's own fields to the case; its topic, event and timeline detail."""
    match request:
        case AcceptAction(difficulty=difficulty):
            petition.accepted_at = now
            accepted: dict[str, Any] = {"difficulty": difficulty.value} if difficulty else {}
            return CASE_ACCEPTED, CaseAccepted(**base, difficulty=difficulty), accepted
        case DeclineAction(reason=reason):
            return CASE_DECLINED, CaseDeclined(**base, reason=reason), {"reason": reason}
        case ObjectAction(reason=reason):
            # The case goes back to routing: it is no longer this unit's (the timeline keeps who it was).
            petition.assigned_unit_code = None
            petition.assigned_unit_name = None
            petition.assigned_at = None
            return CASE_OBJECTED, CaseObjected(**base, reason=reason), {"reason": reason}
        case ExtendAction(days=days, reason=reason, approver=approver):
            petition.extended_days = days
            extended = CaseExtended(**base, days=days, reason=reason, approver=approver)
            return CASE_EXTENDED, extended, {"days": days, "reason": reason, "approver": approver}
        case HearingAction(started_on=started_on, ended_on=ended_on):
            stage = lifecycle.HEARING_STAGE[lifecycle.PetitionStatus(petition.status)]
            held = HearingHeld(**base, stage=stage, started_on=started_on, ended_on=ended_on)
            hearing: dict[str, Any] = {
                "stage": stage.value,
                "started_on": started_on.isoformat(),
                "ended_on": ended_on.isoformat(),
            }
            return CASE_HEARING_HELD, held, hearing
        case (
            ReplyAction(opinion=opinion, outcome=outcome)
            | ReviewReplyAction(opinion=opinion, outcome=outcome)
            | RecheckReplyAction(opinion=opinion, outcome=outcome)
        ):
            # Each written answer is a new reply the petitioner may rate once and contest in time.
            stage = lifecycle.REPLY_ACTIONS[Action(request.action)]
            petition.replied_at = now
            petition.outcome = outcome.value if outcome else None
            petition.reply_sequence += 1
            petition.reply_stage = stage.value
            replied = CaseReplied(**base, opinion=opinion, outcome=outcome, stage=stage)
            detail = {
                "opinion": opinion,
                "outcome": petition.outcome,
                "stage": stage.value,
                "reply_sequence": petition.reply_sequence,
            }
            return CASE_REPLIED, replied, detail
        case CloseAction(reason=reason):
            petition.closed_at = now
            return CASE_CLOSED, CaseClosed(**base, reason=reason), {"reason": reason}
    raise AssertionError(f"unhandled action {request!r}")  # pragma: no cover - the union is closed


def take_action(
    session: Session,
    *,
    case_id: str,
    request: CaseActionRequest,
    cipher: PersonalDataCipher,
    principal: Principal | None = None,
    scope: CaseScope | None = None,
    now: datetime | None = None,
) -> PetitionRead:
    """Apply ``request`` to the case, append its timeline entry and enqueue its event atomically.

    Raises PetitionNotFound (also for a case outside the caller's ``scope``), Forbidden (the
    caller sees the case but its unit does not hold it), TransitionNotAllowed (409) or
    OutcomeRequired (a claim replied without its outcome). ``now`` defaults to the current time
    (tests move it).
    """
    now = now or utcnow()
    actor = principal.subject if principal is not None else ACTOR_UNIT_STAFF
    action = Action(request.action)
    with session.begin():
        repo = PetitionRepository(session)
        # Row-locked on PostgreSQL so two concurrent actions cannot both pass the guard; SQLite
        # (WAL) refuses the second writer's stale transaction instead, which answers 503.
        petition = repo.get_for_update(case_id)
        if petition is None or (scope is not None and not scope.sees(petition)):
            raise PetitionNotFound(f"no petition with id {case_id}")
        if principal is not None and not may_act(principal, petition):
            raise Forbidden("only the unit the case is assigned to may act on it")
        state = case_state(petition)
        new_status = lifecycle.decide(state, action, now=now)
        if isinstance(request, ReplyAction | ReviewReplyAction | RecheckReplyAction):
            lifecycle.check_reply(state.petition_type, request.outcome)
        unit_code = petition.assigned_unit_code
        if unit_code is None:  # pragma: no cover - every status that allows an action has a unit
            raise AssertionError(f"case {case_id} in status {state.status} has no assigned unit")
        base: dict[str, Any] = {"case_id": case_id, "unit_code": unit_code, "actor": actor, "at": now}
        spec, data, detail = _record(request, petition, base, now)
        petition.status = new_status
        petition.updated_at = now
        event = build_event(data, event_type=spec.event_type, source=spec.source, case_id=case_id, time=now)
        repo.add_timeline_entry(
            TimelineEntry(
                petition_id=case_id,
                at=now,
                kind=PAST_TENSE[action],
                actor=actor,
                detail={"unit_code": unit_code, **detail, "event_id": event.id},
            )
        )
        outbox.enqueue(session, topic=spec.name, event=event)
    metrics.CASE_ACTIONS.labels(action.value).inc()
    metrics.OUTBOX_PENDING.inc()
    # Not re-checked against the scope: an objection hands the case back to routing, so the unit
    # that just acted no longer holds it, yet it is owed the answer to what it did.
    return get_petition(session, case_id=case_id, cipher=cipher, now=now)
