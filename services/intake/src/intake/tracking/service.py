"""The petitioner's side of a case, reached by its tracking code: follow it, rate, ask for review.

What the code's holder sees is written for the public: statuses and steps in plain words, the
responsible unit's name, deadlines, the answer; never staff ids, internal notes or anybody's
personal data (the holder may be one of several co-petitioners).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake import metrics, outbox
from intake.petitions import lifecycle
from intake.petitions.lifecycle import PetitionStatus
from intake.petitions.models import Petition, TimelineEntry
from intake.petitions.repository import PetitionRepository
from intake.tracking.models import Rating
from intake.tracking.repository import RatingRepository
from intake.tracking.schemas import (
    NextSteps,
    RatingCreate,
    RatingRead,
    ReviewCreate,
    ReviewRead,
    TrackedCase,
    TrackedDeadline,
    TrackedReply,
    TrackedStep,
)
from intake.tracking_codes import hash_tracking_code
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.cloudevents import build_event
from xinfang_common.domain import DeadlineKind, ReplyStage, Satisfaction
from xinfang_common.errors import Conflict, NotFound
from xinfang_common.events import CaseRated, ReviewRequested
from xinfang_common.topics import CASE_RATED, CASE_REVIEW_REQUESTED

ACTOR_PETITIONER = "petitioner"

# Looked up when a code is malformed, so that a typo costs the same time as a wrong code.
_NO_SUCH_HASH = "0" * 64

STATUS_TEXT: dict[PetitionStatus, str] = {
    PetitionStatus.REGISTERED: "已登记，正在转送有权处理的机关",
    PetitionStatus.ROUTED: "已转送承办单位，等待受理",
    PetitionStatus.ACCEPTED: "已受理，正在办理",
    PetitionStatus.DECLINED: "不予受理",
    PetitionStatus.OBJECTED: "正在重新转送有权处理的机关",
    PetitionStatus.TRIAGE: "正在确定承办单位",
    PetitionStatus.REPLIED: "已出具处理意见",
    PetitionStatus.REVIEW_REQUESTED: "已请求复查，等待上一级机关答复",
    PetitionStatus.REVIEWED: "已出具复查意见",
    PetitionStatus.RECHECK_REQUESTED: "已请求复核，等待答复",
    PetitionStatus.RECHECKED: "已出具复核意见，该事项已终结",
    PetitionStatus.CLOSED: "已办结",
}

_STEP_TEXT: dict[str, str] = {
    "registered": "已登记",
    "accepted": "已受理",
    "declined": "不予受理",
    "objected": "承办单位认为不属于其职权范围，退回重新转送",
    "triage": "正在确定承办单位",
    "hearing_held": "已安排听证（听证时间依规定不计入办理期限）",
    "replied": "已出具处理意见",
    "rated": "已评价",
    "review_requested": "已请求复查",
    "reviewed": "已出具复查意见",
    "recheck_requested": "已请求复核",
    "rechecked": "已出具复核意见",
    "closed": "已办结",
}
"""Public wording of each timeline kind; kinds not listed (internal ones) are not shown."""

_DEADLINE_TEXT: dict[DeadlineKind, str] = {
    DeadlineKind.FORWARD: "转送、交办的期限",
    DeadlineKind.ACCEPTANCE: "告知是否受理的期限",
    DeadlineKind.COMPLETION: "出具处理意见的期限",
    DeadlineKind.REVIEW_REQUEST: "可请求复查的期限",
    DeadlineKind.REVIEW: "出具复查意见的期限",
    DeadlineKind.RECHECK_REQUEST: "可请求复核的期限",
    DeadlineKind.RECHECK: "出具复核意见的期限",
}
"""Deadlines the petitioner is shown; the unit's internal limits (objection, completion targets) are not."""

_REPLY_KINDS = frozenset(lifecycle.PAST_TENSE[a] for a in lifecycle.REPLY_ACTIONS)


class TrackingCodeNotFound(NotFound):
    """No case has this tracking code (whatever is wrong with it)."""


class RatingNotAllowed(Conflict):
    """The case has no unrated answer to rate."""


class ReviewNotAllowed(Conflict):
    """No review or recheck can be requested now; says why (no answer, period over, final)."""


def _find(session: Session, code: str, *, for_update: bool = False) -> Petition:
    try:
        code_hash = hash_tracking_code(code)
    except ValueError:
        code_hash = _NO_SUCH_HASH
    petition = PetitionRepository(session).get_by_tracking_hash(code_hash, for_update=for_update)
    if petition is None:
        # One answer for every failure: it must not tell a malformed code from an unknown one.
        raise TrackingCodeNotFound("no case matches this tracking code")
    return petition


def _step(entry: TimelineEntry) -> TrackedStep | None:
    if entry.kind == "assigned":
        unit = entry.detail.get("unit_name")
        text = f"已转送{unit}办理" if isinstance(unit, str) and unit else "已转送有权处理的机关办理"
        return TrackedStep(at=entry.at, kind=entry.kind, text=text)
    if entry.kind == "extended":
        # The petitioner is told why the period was extended (Art. 34).
        days = entry.detail.get("days")
        return TrackedStep(
            at=entry.at, kind=entry.kind, text=f"经批准延长办理期限{days}日", note=entry.detail.get("reason")
        )
    if entry.kind == "declined":
        # The decline is notified in writing with its reason (Art. 23).
        return TrackedStep(
            at=entry.at, kind=entry.kind, text=_STEP_TEXT["declined"], note=entry.detail.get("reason")
        )
    plain = _STEP_TEXT.get(entry.kind)
    return None if plain is None else TrackedStep(at=entry.at, kind=entry.kind, text=plain)


def _last_reply(petition: Petition) -> TimelineEntry | None:
    return next((e for e in reversed(petition.timeline) if e.kind in _REPLY_KINDS), None)


def _reply_stage(petition: Petition) -> ReplyStage | None:
    return ReplyStage(petition.reply_stage) if petition.reply_stage else None


def track(session: Session, *, code: str, now: datetime, calendar: HolidayCalendar) -> TrackedCase:
    """The case of ``code`` in public wording; raises TrackingCodeNotFound."""
    petition = _find(session, code)
    status = PetitionStatus(petition.status)
    reply = None
    rating = None
    entry = _last_reply(petition)
    if entry is not None and petition.reply_sequence > 0 and petition.replied_at is not None:
        rating = RatingRepository(session).get(petition.id, petition.reply_sequence)
        reply = TrackedReply(
            sequence=petition.reply_sequence,
            stage=entry.detail.get("stage", ReplyStage.REPLY.value),
            opinion=entry.detail["opinion"],
            outcome=entry.detail.get("outcome"),
            replied_at=petition.replied_at,
            rating=rating.satisfaction if rating else None,
        )
    window = lifecycle.review_window(
        status, _reply_stage(petition), petition.replied_at, now=now, calendar=calendar
    )
    steps = [step for step in map(_step, petition.timeline) if step is not None]
    return TrackedCase(
        status=status.value,
        status_text=STATUS_TEXT[status],
        title=petition.title,
        registered_at=petition.registered_at,
        unit_name=petition.assigned_unit_name,
        timeline=steps,
        deadlines=[
            TrackedDeadline(
                kind=DeadlineKind(d.kind),
                text=_DEADLINE_TEXT.get(DeadlineKind(d.kind), d.kind),
                due_at=d.due_at,
            )
            for d in petition.deadlines
            if DeadlineKind(d.kind) in _DEADLINE_TEXT and not d.stopped
        ],
        reply=reply,
        next=NextSteps(
            can_rate=reply is not None and rating is None,
            request=window.stage,
            request_until=window.until,
            final=window.final,
            why_not=window.refusal,
        ),
    )


def _answering_unit(petition: Petition) -> str:
    entry = _last_reply(petition)
    unit = entry.detail.get("unit_code") if entry is not None else None
    return str(unit or petition.assigned_unit_code or "unknown")


def rate(session: Session, *, code: str, data: RatingCreate, now: datetime) -> RatingRead:
    """Rate the latest answer once; raises TrackingCodeNotFound or RatingNotAllowed (409)."""
    try:
        with session.begin():
            petition = _find(session, code, for_update=True)
            sequence = petition.reply_sequence
            if sequence == 0 or petition.reply_stage is None:
                raise RatingNotAllowed("there is no written reply to rate yet")
            ratings = RatingRepository(session)
            if ratings.get(petition.id, sequence) is not None:
                raise RatingNotAllowed(
                    "this reply was already rated; each reply is rated once "
                    "(a review answer can be rated again)"
                )
            stage = ReplyStage(petition.reply_stage)
            ratings.add(
                Rating(
                    petition_id=petition.id,
                    reply_sequence=sequence,
                    satisfaction=data.satisfaction.value,
                    comment=data.comment,
                    rated_at=now,
                )
            )
            event = build_event(
                CaseRated(
                    case_id=petition.id,
                    unit_code=_answering_unit(petition),
                    reply_sequence=sequence,
                    reply_stage=stage,
                    satisfaction=data.satisfaction,
                    at=now,
                ),
                event_type=CASE_RATED.event_type,
                source=CASE_RATED.source,
                case_id=petition.id,
                time=now,
            )
            _append(
                session,
                petition,
                now,
                "rated",
                {
                    "reply_sequence": sequence,
                    "satisfaction": data.satisfaction.value,
                    "event_id": event.id,
                },
            )
            outbox.enqueue(session, topic=CASE_RATED.name, event=event)
    except IntegrityError as exc:
        # A concurrent rating of the same answer got in first.
        raise RatingNotAllowed("this reply was already rated; each reply is rated once") from exc
    metrics.RATINGS.labels(data.satisfaction.value).inc()
    metrics.OUTBOX_PENDING.inc()
    return RatingRead(reply_sequence=sequence, satisfaction=Satisfaction(data.satisfaction), rated_at=now)


def request_review(
    session: Session, *, code: str, data: ReviewCreate, now: datetime, calendar: HolidayCalendar
) -> ReviewRead:
    """Ask the next superior unit for a review or recheck; raises TrackingCodeNotFound or ReviewNotAllowed."""
    with session.begin():
        petition = _find(session, code, for_update=True)
        window = lifecycle.review_window(
            PetitionStatus(petition.status),
            _reply_stage(petition),
            petition.replied_at,
            now=now,
            calendar=calendar,
        )
        if window.stage is None:
            raise ReviewNotAllowed(f"no review or recheck can be requested: {window.refusal}")
        stage = window.stage
        unit_code = _answering_unit(petition)
        event = build_event(
            ReviewRequested(
                case_id=petition.id,
                stage=stage,
                unit_code=unit_code,
                requested_of=f"superior of {unit_code}",
                at=now,
            ),
            event_type=CASE_REVIEW_REQUESTED.event_type,
            source=CASE_REVIEW_REQUESTED.source,
            case_id=petition.id,
            time=now,
        )
        status = lifecycle.REQUESTED_STATUS[stage]
        petition.status = status
        # The reason is for the superior unit that answers (staff view), never for events.
        _append(
            session,
            petition,
            now,
            status.value,
            {
                "stage": stage.value,
                "unit_code": unit_code,
                "reason": data.reason,
                "event_id": event.id,
            },
        )
        outbox.enqueue(session, topic=CASE_REVIEW_REQUESTED.name, event=event)
    metrics.REVIEWS_REQUESTED.labels(stage.value).inc()
    metrics.OUTBOX_PENDING.inc()
    return ReviewRead(stage=stage, status=status.value, requested_at=now)


def _append(session: Session, petition: Petition, now: datetime, kind: str, detail: dict[str, Any]) -> None:
    petition.updated_at = now
    PetitionRepository(session).add_timeline_entry(
        TimelineEntry(petition_id=petition.id, at=now, kind=kind, actor=ACTOR_PETITIONER, detail=detail)
    )
