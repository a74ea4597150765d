"""Routing's database: engine, sessions, migrations."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from xinfang_common.db import make_engine
from xinfang_common.migrate import upgrade_to_head


class Database:
    """The engine and a session factory; callers run blocking work off the event loop."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url, pool_size=4, max_overflow=2)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    def create_tables(self) -> None:
        """Create or upgrade every table by applying routing's migrations (routing.migrations)."""
        upgrade_to_head(self.engine, "routing.migrations")

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def close(self) -> None:
        """Close every connection."""
        self.engine.dispose()


def transient(exc: BaseException) -> bool:
    """Whether a database failure may pass if tried again (connection lost, locked, server down).

    Anything else (a constraint or a programming error) would fail the same way every time.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
