"""Database engine, sessions and the declarative base of intake's own tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Engine, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from xinfang_common.db import UTCDateTime, make_engine, naming_metadata

__all__ = ["Base", "create_tables", "database_ready", "make_engine", "make_session_factory"]


class Base(DeclarativeBase):
    """Base of every intake table."""

    metadata = naming_metadata()
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def create_tables(engine: Engine) -> None:
    """Create every missing table (until migrations take over)."""
    # Imported for their side effect: each module registers its tables on Base.metadata.
    from intake import consumers, idempotency, outbox  # noqa: F401
    from intake.access import audit, units  # noqa: F401
    from intake.imports import models as import_models  # noqa: F401
    from intake.petitions import models  # noqa: F401
    from intake.tracking import models as tracking_models  # noqa: F401

    Base.metadata.create_all(engine)


def database_ready(engine: Engine) -> bool:
    """Whether the database answers a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True
