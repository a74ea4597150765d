"""Tables of the read model: milestones per case, the unit tree, surges, and applied event ids.

No personal data lives here: the events carry none, and this model keeps only what the
aggregate statistics need (channel, type, category, region, units and times). No title, no
content, no petitioner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xinfang_common.db import UTCDateTime, naming_metadata


class Base(DeclarativeBase):
    """Base of every reporting table."""

    metadata = naming_metadata()
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class CaseFact(Base):
    """The milestones of one case, each filled in by the event that carries it, in any order.

    Every column has one merge rule that does not depend on arrival order (see
    ``readmodel.projector``): first time (min), last time (max), latest version, or a fixed
    owner event. Counts are safe because each event id is applied once.
    """

    __tablename__ = "case_facts"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # From PetitionRegistered.
    channel: Mapped[str | None] = mapped_column(String(32))
    petition_type: Mapped[str | None] = mapped_column(String(32))
    # Unbounded: CaseAssigned does not limit the category's length, and an assignment must not
    # fail on it.
    category: Mapped[str | None] = mapped_column(String)
    region: Mapped[str | None] = mapped_column(String(6))
    subject_unit: Mapped[str | None] = mapped_column(String(64))
    """The unit complained about (a unit code, not a person): Art. 41 asks which units most often."""
    registered_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    imported: Mapped[bool | None]
    # From CaseAssigned (handling stage; review and recheck assignments go to superior units and
    # do not move the case's unit).
    unit_code: Mapped[str | None] = mapped_column(String(64))
    unit_name: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[datetime | None]
    assignments: Mapped[int] = mapped_column(Integer, default=0)
    objections: Mapped[int] = mapped_column(Integer, default=0)
    # From DeadlineScheduled: the latest version of each deadline.
    acceptance_starts_at: Mapped[datetime | None]
    acceptance_due_at: Mapped[datetime | None]
    acceptance_version: Mapped[int | None]
    completion_due_at: Mapped[datetime | None]
    completion_version: Mapped[int | None]
    # From the case actions: first acceptance, decline, extension and reply; last closure.
    accepted_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    """The first acceptance or decline: what the acceptance period measures."""
    extended_at: Mapped[datetime | None]
    extension_days: Mapped[int | None]
    replied_at: Mapped[datetime | None]
    """The first written reply (stage reply), not a review or recheck answer."""
    handling_seconds: Mapped[int | None]
    """Registration to first reply, kept with the row so that percentiles need no arithmetic."""
    closed_at: Mapped[datetime | None]
    # From CaseRated: the rating of the earliest reply rated.
    rated_at: Mapped[datetime | None]
    rated_sequence: Mapped[int | None]
    satisfaction: Mapped[str | None] = mapped_column(String(32))
    # From ReviewRequested and the review/recheck replies.
    review_requested_at: Mapped[datetime | None]
    review_replied_at: Mapped[datetime | None]
    recheck_requested_at: Mapped[datetime | None]
    recheck_replied_at: Mapped[datetime | None]
    # From CaseLinked.
    linked_at: Mapped[datetime | None]
    link_kind: Mapped[str | None] = mapped_column(String(16))
    # From AlertRaised: first overdue alert and first escalation (督办), and alerts per tier.
    overdue_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    alerts_approaching: Mapped[int] = mapped_column(Integer, default=0)
    alerts_due: Mapped[int] = mapped_column(Integer, default=0)
    alerts_overdue: Mapped[int] = mapped_column(Integer, default=0)
    alerts_escalated: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
    last_unaligned_at: Mapped[datetime | None]
    """The latest instant at which a KPI of the case changes that is not a local midnight (see
    ``kpis.contributions``): a query as of a time of day re-counts on the per-case path only the
    cases that change between that time and the day's end."""

    __table_args__ = (
        Index("ix_case_facts_registered_at", "registered_at"),
        Index("ix_case_facts_replied_at", "replied_at"),
        # Covering the columns a percentile's values are filtered and grouped by (period, reply,
        # unit), so reading a few handling days never visits the wide case rows.
        Index(
            "ix_case_facts_handling_seconds", "handling_seconds", "registered_at", "replied_at", "unit_code"
        ),
        Index("ix_case_facts_last_unaligned_at", "last_unaligned_at"),
        Index("ix_case_facts_assigned_at", "assigned_at"),
        Index("ix_case_facts_unit_code", "unit_code", "registered_at"),
        Index("ix_case_facts_region", "region"),
        Index("ix_case_facts_category", "category", "registered_at"),
    )


class Unit(Base):
    """A unit of the organisation tree as routing last published it (names and hierarchy)."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool]
    changed_at: Mapped[datetime]


class Surge(Base):
    """A surge signal from routing: petitions of one category at one unit well above usual."""

    __tablename__ = "surges"

    event_id: Mapped[str] = mapped_column(String, primary_key=True)
    category: Mapped[str] = mapped_column(String(100))
    unit_code: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)
    baseline_mean: Mapped[float]
    baseline_windows: Mapped[int] = mapped_column(Integer)
    detected_at: Mapped[datetime]

    __table_args__ = (Index("ix_surges_detected_at", "detected_at"),)


class ProcessedEvent(Base):
    """An event id already applied to the read model; a second delivery is dropped."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String, primary_key=True)
    processed_at: Mapped[datetime]


KPI_MEASURES = (
    "cases",
    "imported",
    "acc_num",
    "acc_den",
    "acc_undetermined",
    "comp_num",
    "comp_den",
    "comp_undetermined",
    "rated",
    "replied",
    "satisfied",
    "linked",
    "overdue_flagged",
    "supervised",
    "past_due_open",
    "handling_sum",
    "handling_count",
    "stage_awaiting_assignment",
    "stage_awaiting_acceptance",
    "stage_in_progress",
    "stage_replied",
    "stage_review",
    "stage_recheck",
    "stage_closed",
    "stage_declined",
)
"""The additive KPI counts kept per rollup cell, in the names the per-case query labels them."""

ROLLUP_TABLE_OPTIONS: dict[str, Any] = {"sqlite_with_rowid": False}
"""The rollups are read by key range and summed. SQLite keeps their rows in key order (no row
ids), so a range is read from the table itself; PostgreSQL's primary keys include every value
column (``postgresql_include``), so a range is read from the key's index alone. Either way the
rows of one unit or month sit together, instead of one table page per row."""

kpi_counts = Table(
    "kpi_counts",
    Base.metadata,
    Column("grain", String(16), nullable=False),
    Column("dim", String, nullable=False),
    Column("reg_month", Integer, nullable=False),
    Column("change_day", Integer, nullable=False),
    *(Column(name, BigInteger, nullable=False) for name in KPI_MEASURES),
    PrimaryKeyConstraint("grain", "dim", "reg_month", "change_day", postgresql_include=KPI_MEASURES),
    **ROLLUP_TABLE_OPTIONS,
)
"""Changes of the KPI counts per grain, dimension value, registration month and change day.

Summing the rows whose ``change_day`` is at most a day gives the counts as of that day's end
(see ``reporting.kpis.contributions``). ``grain`` is one of ``all``, ``unit``, ``category``,
``region``, ``channel``, ``type``; ``dim`` is ``""`` for a missing value (and for ``all``), else
``"="`` and the value; months are ``yyyymm`` and days ordinals of local dates (0: always).
Generated columns, hence a Core table rather than a mapped class.
"""

kpi_handling_days = Table(
    "kpi_handling_days",
    Base.metadata,
    Column("grain", String(16), nullable=False),
    Column("dim", String, nullable=False),
    Column("reg_month", Integer, nullable=False),
    Column("replied_month", Integer, nullable=False),
    Column("handling_day", Integer, nullable=False),
    Column("cases", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "grain", "dim", "reg_month", "replied_month", "handling_day", postgresql_include=["cases"]
    ),
    **ROLLUP_TABLE_OPTIONS,
)
"""Replied cases per whole day of handling time, to find which day holds a percentile's rank."""


class KpiRollupZone(Base):
    """The time zone the KPI rollups were built in; no row: not built (queries count per case)."""

    __tablename__ = "kpi_rollup_zone"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime]
