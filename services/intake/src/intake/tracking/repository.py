"""Every query on ratings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.tracking.models import Rating


class RatingRepository:
    """Reads and writes ratings within the caller's session and transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, petition_id: str, reply_sequence: int) -> Rating | None:
        """The rating of one answer of a case, if given."""
        return self.session.scalar(
            select(Rating).where(Rating.petition_id == petition_id, Rating.reply_sequence == reply_sequence)
        )

    def add(self, rating: Rating) -> None:
        """Stage a new rating."""
        self.session.add(rating)
