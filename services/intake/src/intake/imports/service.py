"""Accepting import jobs, reading their progress, and storing one imported case with its history."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from intake import outbox
from intake.crypto import PersonalDataCipher
from intake.imports.history import Replayed, ReplayedStep
from intake.imports.models import ImportJob, ImportRowError
from intake.imports.repository import ImportRepository
from intake.imports.schemas import (
    ImportedCase,
    ImportErrorPage,
    ImportFormat,
    ImportJobRead,
    ImportLinks,
    ImportRowErrorRead,
    ImportStatus,
    StepKind,
)
from intake.petitions.models import Petition, TimelineEntry
from intake.petitions.service import encrypted_petitioner
from intake.tracking.models import Rating
from intake.tracking_codes import hash_tracking_code, new_tracking_code
from xinfang_common.cloudevents import CloudEvent, build_event, derived_event_id, utcnow
from xinfang_common.domain import ReplyStage
from xinfang_common.errors import NotFound
from xinfang_common.events import (
    CaseAccepted,
    CaseClosed,
    CaseDeclined,
    CaseExtended,
    CaseRated,
    CaseReplied,
    PetitionRegistered,
)
from xinfang_common.topics import (
    CASE_ACCEPTED,
    CASE_CLOSED,
    CASE_DECLINED,
    CASE_EXTENDED,
    CASE_RATED,
    CASE_REPLIED,
    PETITION_REGISTERED,
    TopicSpec,
)

ACTOR_ROUTING = "routing"

ACTOR_IMPORT = "import"
"""Who acted, in the events of imported steps: the legacy system, not a staff account here."""

ERRORS_SHOWN = 100
"""Row errors shown with a job; the rest are read page by page."""

_CASE_NAMESPACE = uuid.UUID("5b1e7d0c-3f1a-4b8e-9c61-2d7f0a9e4c37")


class ImportNotFound(NotFound):
    """No import job has this id."""


class InvalidCursor(ValueError):
    """A pagination cursor this service did not issue."""


def case_id_for(external_id: str) -> str:
    """The case id of an imported case: the same for the same external id, so re-runs agree."""
    return str(uuid.uuid5(_CASE_NAMESPACE, f"import/{external_id}"))


def links(job_id: str) -> ImportLinks:
    """Where to read a job and its errors."""
    return ImportLinks(self=f"/v1/imports/{job_id}", errors=f"/v1/imports/{job_id}/errors")


def create_job(
    session: Session,
    *,
    content: bytes,
    fmt: ImportFormat,
    filename: str | None,
    default_unit: str | None,
    created_by: str | None = None,
) -> ImportJob:
    """Store the job and its file in one transaction, queued for a runner."""
    job = ImportJob(
        id=str(uuid.uuid4()),
        status=ImportStatus.QUEUED.value,
        format=fmt.value,
        filename=filename,
        default_unit=default_unit,
        size_bytes=len(content),
        processed=0,
        imported=0,
        skipped_existing=0,
        failed=0,
        created_at=utcnow(),
        created_by=created_by,
    )
    with session.begin():
        ImportRepository(session).add(job, content)
    return job


def _error_read(error: ImportRowError) -> ImportRowErrorRead:
    return ImportRowErrorRead(
        line=error.line, external_id=error.external_id, field=error.field, reason=error.reason
    )


def read_job(session: Session, *, job_id: str) -> ImportJobRead:
    """A job's progress with its first errors; raises ImportNotFound."""
    repo = ImportRepository(session)
    job = repo.get(job_id)
    if job is None:
        raise ImportNotFound(f"no import job with id {job_id}")
    errors = repo.errors(job_id, after=None, limit=ERRORS_SHOWN + 1)
    return ImportJobRead(
        id=job.id,
        status=ImportStatus(job.status),
        format=ImportFormat(job.format),
        filename=job.filename,
        unit=job.default_unit,
        total=job.total,
        processed=job.processed,
        imported=job.imported,
        skipped_existing=job.skipped_existing,
        failed=job.failed,
        failure=job.failure,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        created_by=job.created_by,
        errors=[_error_read(e) for e in errors[:ERRORS_SHOWN]],
        errors_truncated=len(errors) > ERRORS_SHOWN,
        links=links(job.id),
    )


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        kind, _, value = text.partition(":")
        position = int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("not a cursor returned by this API") from exc
    if kind != "e" or position < 0:
        raise InvalidCursor("not a cursor returned by this API")
    return position


def error_page(session: Session, *, job_id: str, cursor: str | None, limit: int) -> ImportErrorPage:
    """A page of a job's row errors; raises ImportNotFound or InvalidCursor."""
    repo = ImportRepository(session)
    if repo.get(job_id) is None:
        raise ImportNotFound(f"no import job with id {job_id}")
    after = _decode_cursor(cursor) if cursor else None
    rows = repo.errors(job_id, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = base64.urlsafe_b64encode(f"e:{page[-1].id}".encode()).decode() if more and page else None
    return ImportErrorPage(items=[_error_read(e) for e in page], next_cursor=next_cursor)


def _given(value: Any) -> Any:
    """A step field the replay already required."""
    if value is None:  # pragma: no cover - replay refuses a step without its required fields
        raise AssertionError("a required step field is missing")
    return value


def _step_event(
    item: ReplayedStep, *, case_id: str, unit_code: str
) -> tuple[TopicSpec, BaseModel, dict[str, Any]]:
    """The topic, event payload and timeline detail of one historical step."""
    step = item.step
    base: dict[str, Any] = {"case_id": case_id, "unit_code": unit_code, "actor": ACTOR_IMPORT, "at": step.at}
    match step.kind:
        case StepKind.ACCEPTED:
            return CASE_ACCEPTED, CaseAccepted(**base), {"implied": True} if item.implied else {}
        case StepKind.DECLINED:
            reason = _given(step.reason)
            return CASE_DECLINED, CaseDeclined(**base, reason=reason), {"reason": reason}
        case StepKind.EXTENDED:
            detail = {
                "days": _given(step.days),
                "reason": _given(step.reason),
                "approver": _given(step.approver),
            }
            return CASE_EXTENDED, CaseExtended(**base, **detail), detail
        case StepKind.REPLIED:
            outcome = step.outcome.value if step.outcome else None
            replied = CaseReplied(
                **base, opinion=_given(step.opinion), outcome=step.outcome, stage=step.stage
            )
            detail = {
                "opinion": step.opinion,
                "outcome": outcome,
                "stage": step.stage.value,
                "reply_sequence": item.reply_sequence,
            }
            return CASE_REPLIED, replied, detail
        case StepKind.CLOSED:
            return CASE_CLOSED, CaseClosed(**base, reason=step.reason), {"reason": step.reason}
        case StepKind.RATED:
            satisfaction = _given(step.satisfaction)
            rated = CaseRated(
                case_id=case_id,
                unit_code=unit_code,
                reply_sequence=_given(item.reply_sequence),
                reply_stage=ReplyStage.REPLY,
                satisfaction=satisfaction,
                at=step.at,
            )
            detail = {"reply_sequence": item.reply_sequence, "satisfaction": satisfaction.value}
            return CASE_RATED, rated, detail
    raise AssertionError(f"unhandled step {step.kind}")  # pragma: no cover - the enum is closed


def import_case(
    session: Session,
    *,
    case: ImportedCase,
    history: Replayed,
    job_id: str,
    cipher: PersonalDataCipher,
    now: datetime,
) -> int:
    """Stage the case, its petitioners, timeline, ratings and events in the caller's transaction.

    Returns how many events were put in the outbox. Event ids derive from the case id (itself
    derived from the external id) and the step's place, so a re-run produces the same ids.
    """
    case_id = case_id_for(case.external_id)
    actor = f"import:{job_id}"
    unit = case.unit_code
    registered_at = history.registered_at
    petition = Petition(
        id=case_id,
        # Required of every case; an imported one's code is never shown (its petitioner was
        # answered in the legacy system).
        tracking_code_hash=hash_tracking_code(new_tracking_code()),
        status=history.status.value,
        channel=case.channel.value,
        petition_type=case.petition_type.value if case.petition_type else None,
        category=case.category,
        title=case.title,
        content=case.content,
        region=case.region,
        subject_unit=case.subject_unit,
        anonymous=case.anonymous,
        group_size=None,
        petitioner_count=len(case.petitioners),
        received_at=case.received_at,
        registered_at=registered_at,
        assigned_unit_code=unit,
        assigned_at=registered_at if unit else None,
        accepted_at=history.accepted_at,
        extended_days=history.extended_days,
        replied_at=history.replied_at,
        outcome=history.outcome,
        reply_sequence=history.reply_sequence,
        reply_stage=history.reply_stage,
        closed_at=history.closed_at,
        updated_at=now,
        imported=True,
        external_id=case.external_id,
        petitioners=[encrypted_petitioner(case_id, n, p, cipher) for n, p in enumerate(case.petitioners)],
    )
    registered = build_event(
        PetitionRegistered(
            case_id=case_id,
            channel=case.channel,
            petition_type=case.petition_type,
            category=case.category,
            region=case.region,
            subject_unit=case.subject_unit,
            title=case.title,
            content=case.content,
            anonymous=case.anonymous,
            petitioner_count=len(case.petitioners),
            received_at=case.received_at,
            registered_at=registered_at,
            imported=True,
            imported_unit=unit,
        ),
        event_type=PETITION_REGISTERED.event_type,
        source=PETITION_REGISTERED.source,
        case_id=case_id,
        event_id=derived_event_id(f"{case_id}/registered", PETITION_REGISTERED.event_type),
        time=registered_at,
    )
    petition.timeline.append(
        TimelineEntry(
            at=registered_at,
            kind="registered",
            actor=actor,
            detail={
                "channel": case.channel.value,
                "received_at": case.received_at.isoformat(),
                "imported": True,
                "external_id": case.external_id,
                "event_id": registered.id,
            },
        )
    )
    events: list[tuple[TopicSpec, CloudEvent[Any]]] = [(PETITION_REGISTERED, registered)]
    ratings: list[Rating] = []
    for position, item in enumerate(history.steps):
        if unit is None:  # pragma: no cover - replay refuses steps without a unit
            raise AssertionError("steps without a unit")
        spec, data, detail = _step_event(item, case_id=case_id, unit_code=unit)
        event = build_event(
            data,
            event_type=spec.event_type,
            source=spec.source,
            case_id=case_id,
            event_id=derived_event_id(f"{case_id}/{position}", spec.event_type),
            time=item.step.at,
        )
        petition.timeline.append(
            TimelineEntry(
                at=item.step.at,
                kind=item.step.kind.value,
                actor=actor,
                detail={"unit_code": unit, **detail, "imported": True, "event_id": event.id},
            )
        )
        if item.step.kind is StepKind.RATED and item.reply_sequence is not None and item.step.satisfaction:
            ratings.append(
                Rating(
                    petition_id=case_id,
                    reply_sequence=item.reply_sequence,
                    satisfaction=item.step.satisfaction.value,
                    comment=item.step.comment,
                    rated_at=item.step.at,
                )
            )
        events.append((spec, event))
    session.add(petition)
    session.flush()  # the petition row first: its ratings refer to it
    session.add_all(ratings)
    for spec, event in events:
        outbox.enqueue(session, topic=spec.name, event=event)
    return len(events)
