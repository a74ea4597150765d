"""Tables of the read model: facts per case and the event ids already applied.

No personal data lives here: the events carry none, and this model keeps only what the
aggregate statistics need (channel, type, category, region, unit and times).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xinfang_common.db import UTCDateTime, naming_metadata


class Base(DeclarativeBase):
    """Base of every reporting table."""

    metadata = naming_metadata()
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class CaseFact(Base):
    """What reporting knows about one case; filled in by whichever event arrives first.

    Registration fields stay empty until PetitionRegistered is applied, assignment fields until
    CaseAssigned is: events of one case come on three topics and may arrive in any order.
    """

    __tablename__ = "case_facts"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str | None] = mapped_column(String(32))
    petition_type: Mapped[str | None] = mapped_column(String(32))
    # Unbounded: CaseAssigned does not limit the category's length, and an assignment must not
    # fail on it.
    category: Mapped[str | None] = mapped_column(String)
    region: Mapped[str | None] = mapped_column(String(6))
    registered_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    imported: Mapped[bool | None]
    unit_code: Mapped[str | None] = mapped_column(String(64))
    unit_name: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[datetime | None]
    acceptance_starts_at: Mapped[datetime | None]
    acceptance_due_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_case_facts_registered_at", "registered_at"),
        Index("ix_case_facts_assigned_at", "assigned_at"),
        Index("ix_case_facts_unit_code", "unit_code"),
        Index("ix_case_facts_region", "region"),
    )


class ProcessedEvent(Base):
    """An event id already applied to the read model; a second delivery is dropped."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String, primary_key=True)
    processed_at: Mapped[datetime]
