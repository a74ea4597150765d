"""Ratings petitioners give to written answers; the comment stays here, never in an event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from intake.db import Base


class Rating(Base):
    """The petitioner's rating of one answer of a case (one per answer)."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    petition_id: Mapped[str] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    reply_sequence: Mapped[int] = mapped_column(Integer)
    satisfaction: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(String(500))
    rated_at: Mapped[datetime]

    # Once per answer, even when two requests race: the second insert fails.
    __table_args__ = (UniqueConstraint("petition_id", "reply_sequence"),)
