"""Database engine, sessions and the declarative base of intake's own tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Engine, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from xinfang_common.db import UTCDateTime, make_engine, naming_metadata
from xinfang_common.migrate import upgrade_to_head

__all__ = ["Base", "create_tables", "database_ready", "make_engine", "make_session_factory"]


class Base(DeclarativeBase):
    """Base of every intake table."""

    metadata = naming_metadata()
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def create_tables(engine: Engine) -> None:
    """Create or upgrade every table by applying intake's migrations (intake.migrations)."""
    upgrade_to_head(engine, "intake.migrations")


def database_ready(engine: Engine) -> bool:
    """Whether the database answers a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True
