"""KPI rollups: counts per registration month and change day, handling days, the rollup zone

The tables start empty and without a zone row: the service builds them from ``case_facts`` at
start-up (``reporting.kpis.rollups.ensure_rollups``), because local days and months depend on
its ``REPORTING_TIMEZONE`` setting, which a migration does not know. Until then the KPIs are
counted case by case, as before.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the model's list may grow in a later revision.
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


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("case_facts") as batch:
        batch.add_column(sa.Column("last_unaligned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_case_facts_replied_at", "case_facts", ["replied_at"], unique=False)
    op.create_index(
        "ix_case_facts_handling_seconds",
        "case_facts",
        ["handling_seconds", "registered_at", "replied_at", "unit_code"],
        unique=False,
    )
    op.create_index("ix_case_facts_last_unaligned_at", "case_facts", ["last_unaligned_at"], unique=False)
    op.create_table(
        "kpi_counts",
        sa.Column("grain", sa.String(length=16), nullable=False),
        sa.Column("dim", sa.String(), nullable=False),
        sa.Column("reg_month", sa.Integer(), nullable=False),
        sa.Column("change_day", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in MEASURES),
        sa.PrimaryKeyConstraint("grain", "dim", "reg_month", "change_day", name=op.f("pk_kpi_counts")),
    )
    op.create_table(
        "kpi_handling_days",
        sa.Column("grain", sa.String(length=16), nullable=False),
        sa.Column("dim", sa.String(), nullable=False),
        sa.Column("reg_month", sa.Integer(), nullable=False),
        sa.Column("replied_month", sa.Integer(), nullable=False),
        sa.Column("handling_day", sa.Integer(), nullable=False),
        sa.Column("cases", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grain", "dim", "reg_month", "replied_month", "handling_day", name=op.f("pk_kpi_handling_days")
        ),
    )
    op.create_table(
        "kpi_rollup_zone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_rollup_zone")),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("kpi_rollup_zone")
    op.drop_table("kpi_handling_days")
    op.drop_table("kpi_counts")
    op.drop_index("ix_case_facts_last_unaligned_at", table_name="case_facts")
    op.drop_index("ix_case_facts_handling_seconds", table_name="case_facts")
    op.drop_index("ix_case_facts_replied_at", table_name="case_facts")
    with op.batch_alter_table("case_facts") as batch:
        batch.drop_column("last_unaligned_at")
