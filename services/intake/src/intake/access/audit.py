"""The audit log of personal-data reads: who read which fields of which case, when, and how."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from intake.db import Base
from xinfang_common.auth import Principal
from xinfang_common.cloudevents import utcnow


class PersonalDataRead(Base):
    """One read of petitioners' personal data, masked or in full."""

    __tablename__ = "audit_personal_data_reads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64), index=True)
    actor_unit: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSON)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    fields: Mapped[list[str]] = mapped_column(JSON)
    masked: Mapped[bool]
    endpoint: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_audit_personal_data_reads_at_id", "at", "id"),)


def record_read(
    session: Session,
    *,
    principal: Principal,
    case_id: str,
    fields: list[str],
    masked: bool,
    endpoint: str,
) -> None:
    """Write the audit entry and commit it; the caller returns the data only after this succeeds."""
    session.add(
        PersonalDataRead(
            at=utcnow(),
            actor=principal.subject,
            actor_unit=principal.unit,
            roles=sorted(principal.roles),
            case_id=case_id,
            fields=fields,
            masked=masked,
            endpoint=endpoint,
        )
    )
    session.commit()


def read_fields(petitioner_fields: list[dict[str, Any]]) -> list[str]:
    """Names of the personal fields present, e.g. ``petitioners[0].name``."""
    return [
        f"petitioners[{position}].{name}"
        for position, fields in enumerate(petitioner_fields)
        for name, value in fields.items()
        if value is not None
    ]


def list_reads(
    session: Session,
    *,
    limit: int,
    after_id: int | None = None,
    case_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
) -> list[PersonalDataRead]:
    """Audit entries newest first, meeting every filter given."""
    query = select(PersonalDataRead).order_by(PersonalDataRead.id.desc()).limit(limit)
    if after_id is not None:
        query = query.where(PersonalDataRead.id < after_id)
    if case_id is not None:
        query = query.where(PersonalDataRead.case_id == case_id)
    if actor is not None:
        query = query.where(PersonalDataRead.actor == actor)
    if since is not None:
        query = query.where(PersonalDataRead.at >= since)
    return list(session.scalars(query))
