"""Routing's own tables: one row per case it routed, the events it processed, surge signals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xinfang_common.db import UTCDateTime, naming_metadata


class Base(DeclarativeBase):
    """Declarative base with the shared constraint naming convention."""

    metadata = naming_metadata()


class CaseStatus:
    """Where a case stands in routing."""

    ASSIGNED = "assigned"
    TRIAGE = "triage"


class RoutedCase(Base):
    """A case routing decided on: what it needs to decide again, and to find repeats."""

    __tablename__ = "routed_cases"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    petition: Mapped[str] = mapped_column(Text, doc="the PetitionRegistered payload (JSON; no identity)")
    region: Mapped[str] = mapped_column(String(6))
    category: Mapped[str | None] = mapped_column(
        String(100), doc="the petition's, a confident guess's, or triage's"
    )
    subject_unit: Mapped[str | None] = mapped_column(String(64), index=True)
    petition_type: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    unit_code: Mapped[str | None] = mapped_column(String(64), doc="the unit it is assigned to now")
    first_unit: Mapped[str | None] = mapped_column(String(64), doc="the unit of the first assignment")
    objectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    triage_reason: Mapped[str | None] = mapped_column(Text)
    triage_prediction: Mapped[str | None] = mapped_column(String(100))
    triage_confidence: Mapped[float | None] = mapped_column(Float)
    triage_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    answered: Mapped[bool] = mapped_column(Boolean, default=False, doc="a reply was issued")
    final: Mapped[bool] = mapped_column(Boolean, default=False, doc="answered after a recheck (复核)")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_routed_cases_region_category_registered_at", "region", "category", "registered_at"),
        Index("ix_routed_cases_category_first_unit_registered_at", "category", "first_unit", "registered_at"),
    )


class ProcessedEvent(Base):
    """An input event (or a manual triage decision) handled, with the events it caused.

    The outbox of routing: the decision and the events to publish are committed together, and
    ``published_at`` is set once the broker has acknowledged all of them; rows without it are
    published again at start. A redelivered input republishes the same events.
    """

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), doc="the input's topic, or manual-triage")
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None, index=True, doc="when every output was acknowledged; null: not yet"
    )


class SurgeSignal(Base):
    """When a surge was last signalled for a category and unit, so one surge is signalled once."""

    __tablename__ = "surge_signals"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
