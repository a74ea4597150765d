"""The read model's database: engine, sessions, and a small thread pool for async callers."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from xinfang_common.db import make_engine as make_common_engine
from xinfang_common.migrate import MigrationRefused, upgrade_to_head

T = TypeVar("T")

# Few threads: the agents apply one event at a time per topic and the statistics are a handful
# of COUNT queries, so more threads would only contend for the same database.
DB_THREADS = 4


class OutdatedReadModel(MigrationRefused):
    """The database holds reporting tables of an older version."""


def make_engine(url: str) -> Engine:
    """An engine sized to the thread pool that runs the queries."""
    return make_common_engine(url, pool_size=DB_THREADS, max_overflow=2)


class Database:
    """The engine, a session factory, and the thread pool that async code runs queries in."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self._executor: ThreadPoolExecutor | None = None

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def create_tables(self) -> None:
        """Create or upgrade every table by applying reporting's migrations; refuse an outdated schema."""
        try:
            upgrade_to_head(self.engine, "reporting.migrations")
        except MigrationRefused as exc:
            # Tables from before migrations that differ from the models: nothing in them that the
            # topics cannot give again, so the way out is a rebuild rather than a hand migration.
            raise OutdatedReadModel(
                f"{exc} The read model is rebuilt from the topics instead: stop reporting and run "
                "`xinfang-reporting rebuild --yes`"
            ) from exc

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking database work in the pool, so the event loop (and faust) keeps going."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="reporting-db")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for running queries, stop the pool and close every connection."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.engine.dispose()
