"""Alerts' migrations build exactly the tables its models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from xinfang_common.testing.migrations import (
    assert_adopts_create_all,
    assert_migrations_match_models,
    assert_refuses_foreign_schema,
    assert_replicas_migrate_once,
)

PACKAGE = "alerts.migrations"

pytestmark = pytest.mark.database


def test_migrations_build_the_models_and_downgrade_to_base(database_url: str) -> None:
    assert_migrations_match_models(database_url, PACKAGE)


def test_database_made_by_create_all_is_stamped_not_rebuilt(database_url: str) -> None:
    assert_adopts_create_all(database_url, PACKAGE)


def test_older_unversioned_schema_is_refused(database_url: str) -> None:
    assert_refuses_foreign_schema(database_url, PACKAGE)


def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    assert_replicas_migrate_once(database_url, PACKAGE)
