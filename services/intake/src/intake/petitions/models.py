"""Tables of registered petitions, their petitioners (encrypted) and their timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from intake.db import Base
from intake.petitions.lifecycle import PetitionStatus

__all__ = [
    "PERSONAL_FIELDS",
    "CaseDeadline",
    "Petition",
    "PetitionStatus",
    "Petitioner",
    "TimelineEntry",
    "personal_data_context",
]


class Petition(Base):
    """One petition (信访事项) as registered, with the unit it was assigned to."""

    __tablename__ = "petitions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tracking_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    petition_type: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(String(6))
    subject_unit: Mapped[str | None] = mapped_column(String(64))
    subject_address: Mapped[str | None] = mapped_column(String(200))
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Metadata of the materials handed in (file name, media type, size, digest, description)."""
    anonymous: Mapped[bool]
    group_size: Mapped[int | None] = mapped_column(Integer)
    petitioner_count: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime]
    registered_at: Mapped[datetime]
    registered_by: Mapped[str | None] = mapped_column(String(64))
    """Staff account that registered the case; None for the public (Open311) and imports."""
    registered_by_unit: Mapped[str | None] = mapped_column(String(64), index=True)
    linked_case_id: Mapped[str | None] = mapped_column(String(64))
    """The earlier case routing linked this one to as a repeat (重复信访), if any."""
    link_kind: Mapped[str | None] = mapped_column(String(16))
    """repeat, final (the earlier matter was closed after recheck) or in_progress."""
    assigned_unit_code: Mapped[str | None] = mapped_column(String(64))
    assigned_unit_name: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    extended_days: Mapped[int | None] = mapped_column(Integer)
    replied_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))
    reply_sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reply_stage: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    imported: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Brought in from a legacy system with its history (POST /v1/imports), not registered here."""
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    """An imported case's id in the legacy system; a second import of it is skipped."""

    petitioners: Mapped[list[Petitioner]] = relationship(
        back_populates="petition", order_by="Petitioner.position", cascade="all, delete-orphan"
    )
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="petition", order_by="TimelineEntry.id", cascade="all, delete-orphan"
    )
    deadlines: Mapped[list[CaseDeadline]] = relationship(
        order_by="CaseDeadline.due_at", cascade="all, delete-orphan"
    )

    # Newest-first listing pages by (registered_at, id).
    __table_args__ = (Index("ix_petitions_registered_at_id", "registered_at", "id"),)


PERSONAL_FIELDS = ("name", "id_number", "phone", "address")
"""The petitioner fields stored encrypted, each in its ``<field>_enc`` column."""


def personal_data_context(petition_id: str, position: int, field: str) -> str:
    """The associated data binding an encrypted field to its petitioner row and column."""
    return f"intake/petitioners/{petition_id}/{position}/{field}"


class Petitioner(Base):
    """A petitioner (信访人) or representative; every personal field is AES-GCM encrypted.

    Rows are identified for encryption by (petition_id, position), which never change, so the
    associated data does not depend on the autoincrement id assigned at insert.
    """

    __tablename__ = "petitioners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    petition_id: Mapped[str] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name_enc: Mapped[str] = mapped_column(Text)
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    address_enc: Mapped[str | None] = mapped_column(Text)

    petition: Mapped[Petition] = relationship(back_populates="petitioners")

    def context(self, field: str) -> str:
        """The associated data of one of this petitioner's encrypted fields."""
        return personal_data_context(self.petition_id, self.position, field)


class TimelineEntry(Base):
    """One step in a case's history: what happened, when, by whom, with details."""

    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    petition_id: Mapped[str] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)

    petition: Mapped[Petition] = relationship(back_populates="timeline")


class CaseDeadline(Base):
    """A legal deadline alerts scheduled for a case (from DeadlineScheduled), one per kind."""

    __tablename__ = "case_deadlines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    petition_id: Mapped[str] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    deadline_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    unit_code: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    due_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    provisional: Mapped[bool] = mapped_column(default=False, server_default=false())
    stopped: Mapped[bool] = mapped_column(default=False, server_default=false())

    # alerts' deadline id is stable (<case_id>:<kind>): a rescheduled deadline replaces the old one.
    __table_args__ = (UniqueConstraint("deadline_id"),)
