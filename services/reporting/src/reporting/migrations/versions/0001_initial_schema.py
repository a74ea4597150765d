"""initial schema

Revision ID: 0001
Revises: -
Create Date: 2026-11-25 05:33:17.025505
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
        "case_facts",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("petition_type", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("region", sa.String(length=6), nullable=True),
        sa.Column("subject_unit", sa.String(length=64), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("imported", sa.Boolean(), nullable=True),
        sa.Column("unit_code", sa.String(length=64), nullable=True),
        sa.Column("unit_name", sa.String(length=200), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assignments", sa.Integer(), nullable=False),
        sa.Column("objections", sa.Integer(), nullable=False),
        sa.Column("acceptance_starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acceptance_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acceptance_version", sa.Integer(), nullable=True),
        sa.Column("completion_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completion_version", sa.Integer(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_days", sa.Integer(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handling_seconds", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rated_sequence", sa.Integer(), nullable=True),
        sa.Column("satisfaction", sa.String(length=32), nullable=True),
        sa.Column("review_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recheck_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recheck_replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("link_kind", sa.String(length=16), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerts_approaching", sa.Integer(), nullable=False),
        sa.Column("alerts_due", sa.Integer(), nullable=False),
        sa.Column("alerts_overdue", sa.Integer(), nullable=False),
        sa.Column("alerts_escalated", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_facts")),
    )
    op.create_index("ix_case_facts_assigned_at", "case_facts", ["assigned_at"], unique=False)
    op.create_index("ix_case_facts_category", "case_facts", ["category", "registered_at"], unique=False)
    op.create_index("ix_case_facts_region", "case_facts", ["region"], unique=False)
    op.create_index("ix_case_facts_registered_at", "case_facts", ["registered_at"], unique=False)
    op.create_index("ix_case_facts_unit_code", "case_facts", ["unit_code", "registered_at"], unique=False)

    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
    )
    op.create_table(
        "surges",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("baseline_mean", sa.Double(), nullable=False),
        sa.Column("baseline_windows", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_surges")),
    )
    op.create_index("ix_surges_detected_at", "surges", ["detected_at"], unique=False)

    op.create_table(
        "units",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_units")),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("units")
    op.drop_table("surges")
    op.drop_table("processed_events")
    op.drop_table("case_facts")
