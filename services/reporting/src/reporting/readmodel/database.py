"""The read model's database: engine, sessions, and a small thread pool for async callers."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from reporting.readmodel.models import Base
from xinfang_common.db import make_engine as make_common_engine

T = TypeVar("T")

# Few threads: the agents apply one event at a time per topic and the statistics are a handful
# of COUNT queries, so more threads would only contend for the same database.
DB_THREADS = 4


class OutdatedReadModel(RuntimeError):
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
        """Create every missing table (until migrations take over); refuse an outdated schema."""
        Base.metadata.create_all(self.engine)
        # create_all adds no column to an existing table: a read model from an older version
        # would fail on every event. It is rebuilt from the topics instead of migrated.
        existing = inspect(self.engine)
        for table in Base.metadata.sorted_tables:
            missing = {c.name for c in table.columns} - {c["name"] for c in existing.get_columns(table.name)}
            if missing:
                raise OutdatedReadModel(
                    f"table {table.name} lacks {', '.join(sorted(missing))}: the read model is from an "
                    "older version; stop reporting and run `xinfang-reporting rebuild --yes`"
                )

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
