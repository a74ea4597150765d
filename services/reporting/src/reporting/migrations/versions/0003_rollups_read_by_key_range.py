"""KPI rollups read by key range: SQLite tables without row ids, PostgreSQL keys with the values

A rollup query sums a key range (a unit's or a month's rows). SQLite reads such a range from the
table itself once the table has no row ids; it cannot change that option in place, so both
rollup tables are made again, empty, and the zone row is removed: the service rebuilds the
rollups from ``case_facts`` at its next start (``reporting.kpis.rollups.ensure_rollups``) and
counts case by case until then. On PostgreSQL the primary keys are rebuilt to include every
value column, so a range is read from the index alone (the tables are locked meanwhile: seconds
per million cases).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 09:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as in 0002.
MEASURES = (
    "cases",
    "imported",
    "acc_num",
    "acc_den",
    "acc_undetermined",
    "comp_num",
    "comp_den",
    "comp_undetermined",
    "rated",
    "replied",
    "satisfied",
    "linked",
    "overdue_flagged",
    "supervised",
    "past_due_open",
    "handling_sum",
    "handling_count",
    "stage_awaiting_assignment",
    "stage_awaiting_acceptance",
    "stage_in_progress",
    "stage_replied",
    "stage_review",
    "stage_recheck",
    "stage_closed",
    "stage_declined",
)


_KEYS = {
    "kpi_counts": (("grain", "dim", "reg_month", "change_day"), MEASURES),
    "kpi_handling_days": (("grain", "dim", "reg_month", "replied_month", "handling_day"), ("cases",)),
}
"""Each rollup table's key columns and value columns (the values are counts)."""

# Key columns other than these two are months or days, integers.
_TEXT_KEYS = {"grain": sa.String(length=16), "dim": sa.String()}


def _recreate_rollups(*, with_rowid: bool) -> None:
    op.execute("DELETE FROM kpi_rollup_zone")
    for table, (key, values) in _KEYS.items():
        op.drop_table(table)
        op.create_table(
            table,
            *(sa.Column(name, _TEXT_KEYS.get(name, sa.Integer()), nullable=False) for name in key),
            *(sa.Column(name, sa.BigInteger(), nullable=False) for name in values),
            sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{table}")),
            sqlite_with_rowid=with_rowid,
        )


def _rebuild_postgresql_keys(*, include: bool) -> None:
    for table, (key, values) in _KEYS.items():
        included = f" INCLUDE ({', '.join(values)})" if include else ""
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
            f"ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(key)}){included}"
        )


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name == "sqlite":
        _recreate_rollups(with_rowid=False)
    else:
        _rebuild_postgresql_keys(include=True)


def downgrade() -> None:
    """Undo this revision."""
    if op.get_bind().dialect.name == "sqlite":
        _recreate_rollups(with_rowid=True)
    else:
        _rebuild_postgresql_keys(include=False)
