"""Reporting's migrations build exactly the tables its models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from reporting.readmodel.models import KPI_MEASURES
from xinfang_common.db import make_engine
from xinfang_common.migrate import upgrade_to_head
from xinfang_common.testing.migrations import (
    assert_adopts_create_all,
    assert_migrations_match_models,
    assert_refuses_foreign_schema,
    assert_replicas_migrate_once,
)

PACKAGE = "reporting.migrations"

pytestmark = pytest.mark.database


def test_migrations_build_the_models_and_downgrade_to_base(database_url: str) -> None:
    assert_migrations_match_models(database_url, PACKAGE)


def test_database_made_by_create_all_is_stamped_not_rebuilt(database_url: str) -> None:
    assert_adopts_create_all(database_url, PACKAGE)


def test_older_unversioned_schema_is_refused(database_url: str) -> None:
    assert_refuses_foreign_schema(database_url, PACKAGE)


def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    assert_replicas_migrate_once(database_url, PACKAGE)


def test_rollups_are_read_by_key_range(database_url: str) -> None:
    """SQLite: tables without row ids. PostgreSQL: primary keys that include every value column."""
    engine = make_engine(database_url)
    try:
        upgrade_to_head(engine, PACKAGE)
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                tables = dict(
                    connection.exec_driver_sql(
                        "SELECT name, sql FROM sqlite_master "
                        "WHERE name IN ('kpi_counts', 'kpi_handling_days')"
                    ).all()
                )
                assert set(tables) == {"kpi_counts", "kpi_handling_days"}
                assert all(sql.rstrip().endswith("WITHOUT ROWID") for sql in tables.values()), tables
            else:
                keys = dict(
                    connection.exec_driver_sql(
                        "SELECT c.relname, i.indnatts - i.indnkeyatts FROM pg_index i "
                        "JOIN pg_class c ON c.oid = i.indexrelid "
                        "WHERE c.relname IN ('pk_kpi_counts', 'pk_kpi_handling_days')"
                    ).all()
                )
                assert keys == {"pk_kpi_counts": len(KPI_MEASURES), "pk_kpi_handling_days": 1}
    finally:
        engine.dispose()
