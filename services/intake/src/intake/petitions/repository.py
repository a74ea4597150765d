"""Every query on petitions, petitioners and timelines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, insert, not_, or_, select
from sqlalchemy.orm import Session, selectinload

from intake.petitions.models import CaseDeadline, Petition, Petitioner, TimelineEntry
from xinfang_common.cloudevents import utcnow
from xinfang_common.domain import DeadlineKind


@dataclass(frozen=True)
class PetitionFilters:
    """Conditions a listed petition must all meet; None means any."""

    unit_code: str | None = None
    status: str | None = None
    petition_type: str | None = None
    text: str | None = None
    visible: ColumnElement[bool] | None = None
    """The caller's scope (see intake.access.policy); None: no restriction."""
    overdue: bool | None = None
    """True: only cases past a deadline the unit still owes; False: only cases that are not."""
    now: datetime | None = None
    """The instant ``overdue`` is judged at."""


OWED_KINDS = (
    DeadlineKind.FORWARD,
    DeadlineKind.ACCEPTANCE,
    DeadlineKind.COMPLETION,
    DeadlineKind.REVIEW,
    DeadlineKind.RECHECK,
)
"""Deadlines a unit must meet; the petitioner's request windows and the objection limit are not."""


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """A running deadline the unit owes has passed, on a case not yet closed."""
    past_due = (
        select(CaseDeadline.id)
        .where(
            CaseDeadline.petition_id == Petition.id,
            CaseDeadline.kind.in_([k.value for k in OWED_KINDS]),
            CaseDeadline.stopped.is_(False),
            CaseDeadline.due_at < now,
        )
        .exists()
    )
    return and_(past_due, Petition.status != "closed")


_PETITIONS = cast(Table, Petition.__table__)
_PETITIONERS = cast(Table, Petitioner.__table__)
_TIMELINE = cast(Table, TimelineEntry.__table__)


class PetitionRepository:
    """Reads and writes petitions within the caller's session and transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_registered(
        self, petition: dict[str, Any], petitioners: list[dict[str, Any]], registered: dict[str, Any]
    ) -> None:
        """Insert a new petition, its petitioners and its first timeline step, now.

        Plain INSERTs of column values: the ORM's unit of work (state tracking, dependency
        sorting, relationship bookkeeping) was most of the CPU a registration cost.
        """
        self.session.execute(insert(_PETITIONS), petition)
        if petitioners:
            self.session.execute(insert(_PETITIONERS), petitioners)
        self.session.execute(insert(_TIMELINE), registered)

    def get(self, case_id: str) -> Petition | None:
        """The petition with this id, its petitioners and timeline loaded; None if unknown."""
        return self.session.scalar(
            select(Petition)
            .where(Petition.id == case_id)
            .options(
                selectinload(Petition.petitioners),
                selectinload(Petition.timeline),
                selectinload(Petition.deadlines),
            )
        )

    def get_by_tracking_hash(self, code_hash: str, *, for_update: bool = False) -> Petition | None:
        """The petition whose tracking code has this SHA-256 hash, timeline and deadlines loaded."""
        query = (
            select(Petition)
            .where(Petition.tracking_code_hash == code_hash)
            .options(selectinload(Petition.timeline), selectinload(Petition.deadlines))
        )
        return self.session.scalar(query.with_for_update() if for_update else query)

    def get_deadline(self, deadline_id: str) -> CaseDeadline | None:
        """The stored deadline with alerts' id, if any."""
        return self.session.scalar(select(CaseDeadline).where(CaseDeadline.deadline_id == deadline_id))

    def add_deadline(self, deadline: CaseDeadline) -> None:
        """Stage a new deadline of a case."""
        self.session.add(deadline)

    def get_for_update(self, case_id: str) -> Petition | None:
        """The petition with this id, row-locked where the database supports it."""
        return self.session.scalar(select(Petition).where(Petition.id == case_id).with_for_update())

    def add_timeline_entry(self, entry: TimelineEntry) -> None:
        """Append a step to a case's history."""
        self.session.add(entry)

    def list_newest_first(
        self,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        filters: PetitionFilters | None = None,
    ) -> list[Petition]:
        """Up to ``limit`` petitions meeting ``filters``, registered before the position ``after``."""
        query = select(Petition).order_by(Petition.registered_at.desc(), Petition.id.desc()).limit(limit)
        if filters is not None:
            if filters.visible is not None:
                query = query.where(filters.visible)
            if filters.overdue is not None:
                condition = overdue_condition(filters.now or utcnow())
                query = query.where(condition if filters.overdue else not_(condition))
            if filters.unit_code is not None:
                query = query.where(Petition.assigned_unit_code == filters.unit_code)
            if filters.status is not None:
                query = query.where(Petition.status == filters.status)
            if filters.petition_type is not None:
                query = query.where(Petition.petition_type == filters.petition_type)
            if filters.text is not None:
                # autoescape: a % or _ typed by the user matches itself, not any text.
                query = query.where(
                    or_(
                        Petition.title.icontains(filters.text, autoescape=True),
                        Petition.content.icontains(filters.text, autoescape=True),
                    )
                )
        if after is not None:
            at, case_id = after
            query = query.where(
                or_(Petition.registered_at < at, and_(Petition.registered_at == at, Petition.id < case_id))
            )
        return list(self.session.scalars(query))
