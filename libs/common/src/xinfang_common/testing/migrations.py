"""Checks every service's migration test runs: the revisions build exactly what the models declare."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
from sqlalchemy import Column, Engine, MetaData, Table, inspect, text

from xinfang_common.db import make_engine
from xinfang_common.migrate import (
    VERSION_TABLE,
    MigrationRefused,
    alembic_config,
    current_revision,
    downgrade,
    schema_differences,
    target_metadata,
    upgrade_to_head,
)

__all__ = [
    "assert_adopts_create_all",
    "assert_migrations_match_models",
    "assert_refuses_foreign_schema",
    "assert_replicas_migrate_once",
]


def _head(package: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(package)).get_current_head()


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def assert_migrations_match_models(database_url: str, package: str) -> None:
    """Upgrade an empty database to head, find no difference from the models, downgrade to base."""
    engine = make_engine(database_url)
    try:
        upgrade_to_head(engine, package)
        with engine.connect() as connection:
            assert current_revision(connection) == _head(package)
            differences = schema_differences(connection, target_metadata(package))
        service = package.split(".")[0]
        assert not differences, (
            f"the models differ from what {package}'s migrations build; write a revision with "
            f'`xinfang-{service}-migrate revision -m "<what changed>"`, read it, then rerun: {differences}'
        )
        upgrade_to_head(engine, package)  # at head already: nothing to do, nothing fails
        downgrade(engine, package, "base")
        assert _tables(engine) <= {VERSION_TABLE}, "downgrade to base left tables behind"
        upgrade_to_head(engine, package)
        assert set(target_metadata(package).tables) <= _tables(engine)
    finally:
        engine.dispose()


def assert_adopts_create_all(database_url: str, package: str) -> None:
    """A database that ``create_all`` made before migrations is stamped; one that differs is refused."""
    metadata = target_metadata(package)
    engine = make_engine(database_url)
    try:
        metadata.create_all(engine)
        upgrade_to_head(engine, package)
        with engine.connect() as connection:
            assert current_revision(connection) == _head(package)
            assert not schema_differences(connection, metadata)
    finally:
        engine.dispose()


def assert_refuses_foreign_schema(database_url: str, package: str) -> None:
    """Unversioned tables that differ from the models (an older schema) are refused, not guessed at."""
    metadata = target_metadata(package)
    # The oldest possible schema of each table: its primary key alone.
    older = MetaData()
    for table in metadata.sorted_tables:
        Table(table.name, older, *(Column(c.name, c.type, primary_key=True) for c in table.primary_key))
    engine = make_engine(database_url)
    try:
        older.create_all(engine)
        with pytest.raises(MigrationRefused, match="differ from this version's models"):
            upgrade_to_head(engine, package)
        assert VERSION_TABLE not in _tables(engine)
    finally:
        engine.dispose()


def assert_replicas_migrate_once(database_url: str, package: str, replicas: int = 2) -> None:
    """Several replicas upgrading an empty database at once all succeed, and the schema is at head."""
    # Processes, as replicas are: threads of one process already take turns on a process lock.
    with ProcessPoolExecutor(replicas, mp_context=multiprocessing.get_context("spawn")) as pool:
        for result in [pool.submit(upgrade_to_head, database_url, package) for _ in range(replicas)]:
            result.result(timeout=120)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert current_revision(connection) == _head(package)
            count = connection.execute(text(f"SELECT COUNT(*) FROM {VERSION_TABLE}")).scalar_one()
            assert count == 1
    finally:
        engine.dispose()
