"""Every query on the read model: claiming event ids, locking a case's row, counting."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Insert, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from reporting.readmodel.models import CaseFact, ProcessedEvent


def dialect_insert(session: Session, model: Any) -> Any:
    """An INSERT of ``model`` (a class or a table) that supports ON CONFLICT on the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model)
    if name == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"reporting supports SQLite and PostgreSQL, not {name}")


def claim_event(session: Session, *, event_id: str, at: datetime) -> bool:
    """Record ``event_id`` as processed; False when it already was (a duplicate delivery).

    Run first in the transaction: on SQLite this write takes the database's write lock, and on
    PostgreSQL a concurrent claim of the same id waits for ours, so the rest of the
    transaction never races another writer of the same event.
    """
    stmt: Insert = (
        dialect_insert(session, ProcessedEvent)
        .values(event_id=event_id, processed_at=at)
        .on_conflict_do_nothing(index_elements=[ProcessedEvent.event_id])
        .returning(ProcessedEvent.event_id)
    )
    # RETURNING, not rowcount: drivers disagree on the rowcount of a skipped insert.
    return session.execute(stmt).scalar_one_or_none() is not None


def case_for_update(session: Session, *, case_id: str, at: datetime) -> CaseFact:
    """The case's row, created empty if missing, locked until the transaction ends."""
    # Insert-if-missing then lock: two events of a new case applied at once both end up
    # updating the one row instead of one failing on the primary key.
    session.execute(
        dialect_insert(session, CaseFact)
        .values(case_id=case_id, updated_at=at)
        .on_conflict_do_nothing(index_elements=[CaseFact.case_id])
    )
    fact = session.scalars(
        select(CaseFact)
        .where(CaseFact.case_id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return fact


@dataclass(frozen=True)
class CaseFilter:
    """Which registered cases to count: by unit, region (with its subdivisions) and period.

    Every count is over the cases registered in the period (``start`` inclusive, ``end``
    exclusive), so registered = assigned + awaiting assignment under any filter. A case whose
    registration has not been applied yet (its assignment came first, or the registration was
    dead-lettered) is not counted at all.
    """

    unit_code: str | None = None
    region_prefix: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    unit_codes: frozenset[str] | None = None
    """Only cases whose current unit is one of these (a subtree, or a supervisor's scope)."""
    category: str | None = None
    channel: str | None = None
    petition_type: str | None = None

    def cases(self, *, unindexed: bool = False) -> ColumnElement[bool]:
        """The WHERE clause selecting the cases to count.

        ``unindexed`` (SQLite only): SQLite may use no index for these terms, so that it reads
        the cases through the index of another term of the query. Its planner has no range
        statistics and would otherwise, for instance, walk a year of registrations to find the
        few thousand cases of one handling day.
        """
        column: Callable[[Any], Any] = hidden_from_index if unindexed else _as_is
        clauses: list[ColumnElement[bool]] = [column(CaseFact.registered_at).is_not(None)]
        if self.unit_code is not None:
            clauses.append(column(CaseFact.unit_code) == self.unit_code)
        if self.unit_codes is not None:
            clauses.append(column(CaseFact.unit_code).in_(sorted(self.unit_codes)))
        if self.category is not None:
            clauses.append(column(CaseFact.category) == self.category)
        if self.channel is not None:
            clauses.append(column(CaseFact.channel) == self.channel)
        if self.petition_type is not None:
            clauses.append(column(CaseFact.petition_type) == self.petition_type)
        if self.region_prefix is not None:
            # Division codes are digits only, so the prefix needs no LIKE escaping.
            clauses.append(column(CaseFact.region).startswith(self.region_prefix))
        if self.start is not None:
            clauses.append(column(CaseFact.registered_at) >= self.start)
        if self.end is not None:
            clauses.append(column(CaseFact.registered_at) < self.end)
        return and_(*clauses)


def _as_is(column: Any) -> Any:
    return column


def hidden_from_index(column: Any) -> Any:
    """``column`` for SQLite, which then uses no index of it: only in SQLite queries.

    SQLite's unary + leaves every value as it is (PostgreSQL has none for text or timestamps).
    """
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


@dataclass(frozen=True)
class ChannelCount:
    """Registered cases that came in through one channel, and how many of them have a unit."""

    channel: str
    registered: int
    assigned: int

    @property
    def awaiting_assignment(self) -> int:
        return self.registered - self.assigned


@dataclass(frozen=True)
class UnitCount:
    """How many cases a unit was assigned."""

    unit_code: str
    unit_name: str
    assigned: int


@dataclass(frozen=True)
class CaseCounts:
    """Cases per channel and per unit; the totals come from the channel breakdown."""

    by_channel: list[ChannelCount]
    by_unit: list[UnitCount]

    @property
    def registered(self) -> int:
        return sum(c.registered for c in self.by_channel)

    @property
    def assigned(self) -> int:
        return sum(c.assigned for c in self.by_channel)

    @property
    def awaiting_assignment(self) -> int:
        return sum(c.awaiting_assignment for c in self.by_channel)

    def registered_by_channel(self) -> dict[str, int]:
        """Registered cases per channel (channels without cases are absent)."""
        return {c.channel: c.registered for c in self.by_channel}


def count_by_channel(session: Session, flt: CaseFilter | None = None) -> list[ChannelCount]:
    """Registered and assigned cases per channel under ``flt``."""
    flt = flt or CaseFilter()
    stmt = (
        select(CaseFact.channel, func.count(), func.count(CaseFact.unit_code))
        .where(flt.cases())
        .group_by(CaseFact.channel)
        .order_by(CaseFact.channel)
    )
    return [
        ChannelCount(channel=str(channel), registered=int(n), assigned=int(assigned))
        for channel, n, assigned in session.execute(stmt)
        if channel is not None
    ]


def count_by_unit(session: Session, flt: CaseFilter | None = None) -> list[UnitCount]:
    """Assigned cases per unit under ``flt``, most first, then by unit code."""
    flt = flt or CaseFilter()
    assigned = func.count().label("assigned")
    # A unit renamed between assignments keeps one line, under one of its names.
    stmt = (
        select(CaseFact.unit_code, func.max(CaseFact.unit_name), assigned)
        .where(flt.cases(), CaseFact.unit_code.is_not(None))
        .group_by(CaseFact.unit_code)
        .order_by(assigned.desc(), CaseFact.unit_code)
    )
    rows: Iterable[Any] = session.execute(stmt)
    return [UnitCount(unit_code=code, unit_name=name or code, assigned=int(n)) for code, name, n in rows]


def snapshot(session: Session) -> None:
    """Make every following query of ``session`` read one snapshot (call on a fresh session)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        # pysqlite starts a transaction only before a write; an explicit one makes the
        # SELECTs read the same WAL snapshot while an agent keeps writing.
        session.connection().exec_driver_sql("BEGIN")


def count_cases(session: Session, flt: CaseFilter | None = None) -> CaseCounts:
    """Every count under ``flt``, both queries reading one snapshot of the database.

    Call on a fresh session: the snapshot starts with its transaction.
    """
    snapshot(session)
    return CaseCounts(by_channel=count_by_channel(session, flt), by_unit=count_by_unit(session, flt))
