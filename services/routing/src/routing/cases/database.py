"""Routing's database: engine, sessions, table creation."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from routing.cases.models import Base
from xinfang_common.db import make_engine


class Database:
    """The engine and a session factory; callers run blocking work off the event loop."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url, pool_size=4, max_overflow=2)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    def create_tables(self) -> None:
        """Create every missing table (until migrations take over)."""
        Base.metadata.create_all(self.engine)

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def close(self) -> None:
        """Close every connection."""
        self.engine.dispose()
