"""Registering petitions, reading them back masked, and applying routing decisions."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from intake import metrics, outbox
from intake.access.policy import CaseScope
from intake.crypto import PersonalDataCipher
from intake.errors import PetitionNotFound
from intake.masking import mask_id_number, mask_name, mask_phone
from intake.petitions import lifecycle, links
from intake.petitions.models import (
    CaseDeadline,
    Petition,
    Petitioner,
    PetitionStatus,
    TimelineEntry,
    personal_data_context,
)
from intake.petitions.repository import PetitionFilters, PetitionRepository
from intake.petitions.schemas import (
    AssignedUnit,
    AttachmentMeta,
    DeadlineRead,
    PetitionCreate,
    PetitionCreated,
    PetitionerCreate,
    PetitionerMasked,
    PetitionerRead,
    PetitionersRead,
    PetitionPage,
    PetitionRead,
    PetitionSummary,
    TimelineEntryRead,
)
from intake.tracking_codes import hash_tracking_code, new_tracking_code
from xinfang_common.auth import Principal
from xinfang_common.cloudevents import CloudEvent, build_event, utcnow
from xinfang_common.domain import AssignmentStage, PetitionType
from xinfang_common.events import CaseAssigned, DeadlineScheduled, PetitionRegistered
from xinfang_common.topics import PETITION_REGISTERED

ACTOR_INTAKE = "intake"
ACTOR_ROUTING = "routing"


def register_petition(
    session: Session,
    *,
    data: PetitionCreate,
    cipher: PersonalDataCipher,
    within: Callable[[Session, PetitionCreated], None] | None = None,
    registrar: Principal | None = None,
) -> PetitionCreated:
    """Store the petition, its encrypted petitioners and its PetitionRegistered event atomically.

    ``within`` runs first in the same transaction (it remembers an Idempotency-Key's answer).
    """
    now = utcnow()
    case_id = str(uuid.uuid4())
    tracking_code = new_tracking_code()
    received_at = data.received_at or now
    petition = {
        "id": case_id,
        "tracking_code_hash": hash_tracking_code(tracking_code),
        "status": PetitionStatus.REGISTERED.value,
        "channel": data.channel.value,
        "petition_type": data.petition_type.value if data.petition_type else None,
        "category": data.category,
        "title": data.title,
        "content": data.content,
        "region": data.region,
        "subject_unit": data.subject_unit,
        "subject_address": data.subject_address,
        "attachments": [a.model_dump(mode="json") for a in data.attachments],
        "anonymous": data.anonymous,
        "group_size": data.group_size,
        "petitioner_count": data.petitioner_count,
        "received_at": received_at,
        "registered_at": now,
        "registered_by": registrar.subject if registrar else None,
        "registered_by_unit": registrar.unit if registrar else None,
        "updated_at": now,
    }
    petitioners = [encrypted_petitioner_values(case_id, n, p, cipher) for n, p in enumerate(data.petitioners)]
    registered = {
        "petition_id": case_id,
        "at": now,
        "kind": "registered",
        "actor": registrar.subject if registrar else ACTOR_INTAKE,
        "detail": {"channel": data.channel.value, "received_at": received_at.isoformat()},
    }
    event = build_event(
        PetitionRegistered(
            case_id=case_id,
            channel=data.channel,
            petition_type=data.petition_type,
            category=data.category,
            region=data.region,
            subject_unit=data.subject_unit,
            title=data.title,
            content=data.content,
            anonymous=data.anonymous,
            petitioner_count=data.petitioner_count,
            received_at=received_at,
            registered_at=now,
        ),
        event_type=PETITION_REGISTERED.event_type,
        source=PETITION_REGISTERED.source,
        case_id=case_id,
        time=now,
    )
    created = PetitionCreated(
        id=case_id,
        tracking_code=tracking_code,
        status=PetitionStatus.REGISTERED,
        channel=data.channel,
        region=data.region,
        received_at=received_at,
        registered_at=now,
    )
    with session.begin():
        if within is not None:
            within(session, created)
        PetitionRepository(session).insert_registered(petition, petitioners, registered)
        outbox.enqueue(session, topic=PETITION_REGISTERED.name, event=event)
    metrics.PETITIONS_REGISTERED.labels(data.channel.value).inc()
    metrics.OUTBOX_PENDING.inc()
    return created


def encrypted_petitioner(
    case_id: str, position: int, petitioner: PetitionerCreate, cipher: PersonalDataCipher
) -> Petitioner:
    """A petitioner row with every personal field encrypted and bound to its row and column."""
    return Petitioner(**encrypted_petitioner_values(case_id, position, petitioner, cipher))


def encrypted_petitioner_values(
    case_id: str, position: int, petitioner: PetitionerCreate, cipher: PersonalDataCipher
) -> dict[str, Any]:
    """The column values of ``encrypted_petitioner``'s row, for a bulk insert."""

    def context(field: str) -> str:
        return personal_data_context(case_id, position, field)

    return {
        "petition_id": case_id,
        "position": position,
        "name_enc": cipher.encrypt(petitioner.name, context=context("name")),
        "id_number_enc": cipher.encrypt_optional(petitioner.id_number, context=context("id_number")),
        "phone_enc": cipher.encrypt_optional(petitioner.phone, context=context("phone")),
        "address_enc": cipher.encrypt_optional(petitioner.address, context=context("address")),
    }


def _masked(petitioner: Petitioner, cipher: PersonalDataCipher) -> PetitionerMasked:
    id_number = cipher.decrypt_optional(petitioner.id_number_enc, context=petitioner.context("id_number"))
    phone = cipher.decrypt_optional(petitioner.phone_enc, context=petitioner.context("phone"))
    return PetitionerMasked(
        name=mask_name(cipher.decrypt(petitioner.name_enc, context=petitioner.context("name"))),
        id_number=mask_id_number(id_number) if id_number else None,
        phone=mask_phone(phone) if phone else None,
    )


def load_visible(session: Session, *, case_id: str, scope: CaseScope | None) -> Petition:
    """The case, if it exists and ``scope`` (None: unrestricted) covers it; PetitionNotFound otherwise."""
    petition = PetitionRepository(session).get(case_id)
    if petition is None or (scope is not None and not scope.sees(petition)):
        raise PetitionNotFound(f"no petition with id {case_id}")
    return petition


def get_petition(
    session: Session,
    *,
    case_id: str,
    cipher: PersonalDataCipher,
    now: datetime | None = None,
    scope: CaseScope | None = None,
) -> PetitionRead:
    """A case with its assigned unit, deadlines, timeline and masked petitioners."""
    petition = load_visible(session, case_id=case_id, scope=scope)
    assigned = None
    if petition.assigned_unit_code and petition.assigned_unit_name and petition.assigned_at:
        assigned = AssignedUnit(
            code=petition.assigned_unit_code,
            name=petition.assigned_unit_name,
            assigned_at=petition.assigned_at,
        )
    return PetitionRead(
        id=petition.id,
        status=petition.status,
        channel=petition.channel,
        petition_type=petition.petition_type,
        category=petition.category,
        title=petition.title,
        content=petition.content,
        region=petition.region,
        subject_unit=petition.subject_unit,
        subject_address=petition.subject_address,
        attachments=[AttachmentMeta.model_validate(a) for a in petition.attachments or []],
        anonymous=petition.anonymous,
        group_size=petition.group_size,
        petitioner_count=petition.petitioner_count,
        received_at=petition.received_at,
        registered_at=petition.registered_at,
        assigned_unit=assigned,
        extended_days=petition.extended_days,
        outcome=petition.outcome,
        linked_case_id=petition.linked_case_id,
        link_kind=petition.link_kind,
        allowed_actions=lifecycle.allowed_actions(case_state(petition), now=now or utcnow()),
        deadlines=[
            DeadlineRead(kind=d.kind, due_at=d.due_at, provisional=d.provisional, stopped=d.stopped)
            for d in petition.deadlines
        ],
        petitioners=[_masked(p, cipher) for p in petition.petitioners],
        timeline=[
            TimelineEntryRead(at=e.at, kind=e.kind, actor=e.actor, detail=e.detail) for e in petition.timeline
        ],
    )


def get_petitioners(
    session: Session, *, case_id: str, cipher: PersonalDataCipher, scope: CaseScope | None
) -> PetitionersRead:
    """The case's petitioners decrypted in full (the caller audits the read)."""
    petition = load_visible(session, case_id=case_id, scope=scope)
    return PetitionersRead(
        case_id=petition.id,
        petitioners=[
            PetitionerRead(
                name=cipher.decrypt(p.name_enc, context=p.context("name")),
                id_number=cipher.decrypt_optional(p.id_number_enc, context=p.context("id_number")),
                phone=cipher.decrypt_optional(p.phone_enc, context=p.context("phone")),
                address=cipher.decrypt_optional(p.address_enc, context=p.context("address")),
            )
            for p in petition.petitioners
        ],
    )


class InvalidCursor(ValueError):
    """A pagination cursor this service did not issue."""


def encode_cursor(registered_at: datetime, case_id: str) -> str:
    """An opaque cursor for the position after this petition."""
    return base64.urlsafe_b64encode(f"{registered_at.isoformat()}|{case_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position an opaque cursor stands for."""
    try:
        at, case_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        position = datetime.fromisoformat(at)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("not a cursor returned by this API") from exc
    if position.tzinfo is None or not case_id:
        raise InvalidCursor("not a cursor returned by this API")
    return position, case_id


def case_state(petition: Petition) -> lifecycle.CaseState:
    """What the state machine needs to know about a stored case."""
    return lifecycle.CaseState(
        status=lifecycle.PetitionStatus(petition.status),
        assigned_at=petition.assigned_at,
        extended_days=petition.extended_days,
        petition_type=PetitionType(petition.petition_type) if petition.petition_type else None,
    )


def list_petitions(
    session: Session, *, limit: int, cursor: str | None, filters: PetitionFilters | None = None
) -> PetitionPage:
    """A page of cases meeting ``filters``, newest first."""
    after = decode_cursor(cursor) if cursor else None
    rows = PetitionRepository(session).list_newest_first(limit=limit + 1, after=after, filters=filters)
    page, more = rows[:limit], len(rows) > limit
    return PetitionPage(
        items=[
            PetitionSummary(
                id=p.id,
                status=p.status,
                channel=p.channel,
                petition_type=p.petition_type,
                region=p.region,
                title=p.title,
                registered_at=p.registered_at,
                assigned_unit_code=p.assigned_unit_code,
            )
            for p in page
        ],
        next_cursor=encode_cursor(page[-1].registered_at, page[-1].id) if more and page else None,
    )


def apply_case_assigned(session: Session, *, event: CloudEvent[CaseAssigned]) -> None:
    """Record routing's decision on the case (in the caller's transaction).

    A decision that arrives after the unit accepted, declined, replied or closed the case (a
    late or replayed one) is noted in the timeline and otherwise ignored: status never regresses.
    An imported case already went through its history: the unit that handled it is recorded and
    the status stays where the history left it. A review or recheck assignment hands the case to
    the superior unit routing chose, and the case keeps waiting for that answer.
    """
    repo = PetitionRepository(session)
    data = event.data
    petition = repo.get_for_update(data.case_id)
    if petition is None:
        raise PetitionNotFound(f"CaseAssigned for unknown case {data.case_id}")
    if data.stage is not AssignmentStage.HANDLING:
        awaited = _AWAITING_STAGE[data.stage]
        if petition.status != awaited:
            reason = f"the case is {petition.status}, not waiting for a {data.stage.value}"
            _note_ignored(repo, petition, event, reason=reason, stage=data.stage.value)
            return
        _record_assignment(repo, petition, event, stage=data.stage.value)
        return
    if petition.imported and petition.status != PetitionStatus.REGISTERED:
        _record_assignment(repo, petition, event, imported=True, status_kept=petition.status)
        return
    if not lifecycle.accepts_assignment(lifecycle.PetitionStatus(petition.status)):
        _note_ignored(repo, petition, event, reason=f"the case is already {petition.status}")
        return
    _record_assignment(repo, petition, event)
    petition.status = PetitionStatus.ROUTED
    links.decline_if_final(session, petition, cause_event_id=event.id)


_AWAITING_STAGE = {
    AssignmentStage.REVIEW: PetitionStatus.REVIEW_REQUESTED,
    AssignmentStage.RECHECK: PetitionStatus.RECHECK_REQUESTED,
}


def _record_assignment(
    repo: PetitionRepository, petition: Petition, event: CloudEvent[CaseAssigned], **detail: Any
) -> None:
    """Put the case in the unit's hands and add the ``assigned`` step (its status is the caller's)."""
    data = event.data
    if petition.petition_type is None and data.petition_type is not None:
        # Registered without a type for routing to classify: keep its answer, which decides
        # whether a reply needs an outcome.
        petition.petition_type = data.petition_type.value
    petition.assigned_unit_code = data.unit_code
    petition.assigned_unit_name = data.unit_name
    petition.assigned_at = data.assigned_at
    petition.updated_at = utcnow()
    repo.add_timeline_entry(
        TimelineEntry(
            petition_id=petition.id,
            at=data.assigned_at,
            kind="assigned",
            actor=ACTOR_ROUTING,
            detail={
                "unit_code": data.unit_code,
                "unit_name": data.unit_name,
                "rule": data.rule,
                "explanation": data.explanation,
                **detail,
                "event_id": event.id,
            },
        )
    )


def _note_ignored(
    repo: PetitionRepository, petition: Petition, event: CloudEvent[CaseAssigned], **detail: Any
) -> None:
    """Keep a decision that no longer applies in the timeline, and change nothing else."""
    data = event.data
    repo.add_timeline_entry(
        TimelineEntry(
            petition_id=petition.id,
            at=data.assigned_at,
            kind="assignment_ignored",
            actor=ACTOR_ROUTING,
            detail={"unit_code": data.unit_code, "unit_name": data.unit_name, **detail, "event_id": event.id},
        )
    )


def apply_deadline_scheduled(session: Session, *, event: CloudEvent[DeadlineScheduled]) -> None:
    """Remember a deadline alerts scheduled for the case (in the caller's transaction).

    Keyed by alerts' stable deadline id: a later version of the same deadline (extended,
    stopped, recomputed from a newly published holiday calendar) replaces the earlier one, and
    an older version arriving late changes nothing.
    """
    data = event.data
    repo = PetitionRepository(session)
    if repo.get_for_update(data.case_id) is None:
        raise PetitionNotFound(f"DeadlineScheduled for unknown case {data.case_id}")
    deadline = repo.get_deadline(data.deadline_id)
    if deadline is None:
        deadline = CaseDeadline(petition_id=data.case_id, deadline_id=data.deadline_id)
        repo.add_deadline(deadline)
    elif deadline.version > data.version:
        return
    deadline.version = data.version
    deadline.provisional = data.provisional
    deadline.stopped = data.stopped
    deadline.kind = data.kind.value
    deadline.unit_code = data.unit_code
    deadline.starts_at = data.starts_at
    deadline.due_at = data.due_at
