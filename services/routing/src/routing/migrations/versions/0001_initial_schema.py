"""initial schema

Revision ID: 0001
Revises: -
Create Date: 2026-11-25 05:27:31.191593
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
    )
    op.create_index(
        op.f("ix_processed_events_published_at"), "processed_events", ["published_at"], unique=False
    )

    op.create_table(
        "routed_cases",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("petition", sa.Text(), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("subject_unit", sa.String(length=64), nullable=True),
        sa.Column("petition_type", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=True),
        sa.Column("first_unit", sa.String(length=64), nullable=True),
        sa.Column("objectors", sa.JSON(), nullable=False),
        sa.Column("triage_reason", sa.Text(), nullable=True),
        sa.Column("triage_prediction", sa.String(length=100), nullable=True),
        sa.Column("triage_confidence", sa.Float(), nullable=True),
        sa.Column("triage_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_routed_cases")),
    )
    op.create_index(
        "ix_routed_cases_category_first_unit_registered_at",
        "routed_cases",
        ["category", "first_unit", "registered_at"],
        unique=False,
    )
    op.create_index(
        "ix_routed_cases_region_category_registered_at",
        "routed_cases",
        ["region", "category", "registered_at"],
        unique=False,
    )
    op.create_index(op.f("ix_routed_cases_status"), "routed_cases", ["status"], unique=False)
    op.create_index(op.f("ix_routed_cases_subject_unit"), "routed_cases", ["subject_unit"], unique=False)

    op.create_table(
        "surge_signals",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_surge_signals")),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("surge_signals")
    op.drop_table("routed_cases")
    op.drop_table("processed_events")
