"""Every query on petitions, petitioners and timelines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from intake.petitions.models import Petition, TimelineEntry


class PetitionRepository:
    """Reads and writes petitions within the caller's session and transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, petition: Petition) -> None:
        """Stage a new petition with its petitioners and timeline."""
        self.session.add(petition)

    def get(self, case_id: str) -> Petition | None:
        """The petition with this id, its petitioners and timeline loaded; None if unknown."""
        return self.session.scalar(
            select(Petition)
            .where(Petition.id == case_id)
            .options(selectinload(Petition.petitioners), selectinload(Petition.timeline))
        )

    def get_for_update(self, case_id: str) -> Petition | None:
        """The petition with this id, row-locked where the database supports it."""
        return self.session.scalar(select(Petition).where(Petition.id == case_id).with_for_update())

    def add_timeline_entry(self, entry: TimelineEntry) -> None:
        """Append a step to a case's history."""
        self.session.add(entry)

    def list_newest_first(self, *, limit: int, after: tuple[datetime, str] | None = None) -> list[Petition]:
        """Up to ``limit`` petitions registered before the (registered_at, id) position ``after``."""
        query = select(Petition).order_by(Petition.registered_at.desc(), Petition.id.desc()).limit(limit)
        if after is not None:
            at, case_id = after
            query = query.where(
                or_(Petition.registered_at < at, and_(Petition.registered_at == at, Petition.id < case_id))
            )
        return list(self.session.scalars(query))
