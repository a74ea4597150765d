"""daily digests and the open deadlines they list

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 05:35:10.861146
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "deadlines",
        sa.Column("deadline_id", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("stopped", sa.Boolean(), nullable=False),
        sa.Column("alerting", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deadline_id", name=op.f("pk_deadlines")),
    )
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadlines_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deadlines_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "digests",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.Column("overdue_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("unit_code", "day", name="uq_digests_unit_code_day"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_id", sa.String(length=100), nullable=True))
        batch_op.alter_column("alert_id", existing_type=sa.VARCHAR(length=200), nullable=True)
        batch_op.create_index(batch_op.f("ix_deliveries_digest_id"), ["digest_id"], unique=False)
        batch_op.create_unique_constraint(
            "uq_deliveries_digest_subscription", ["digest_id", "subscription_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_digest_id_digests"), "digests", ["digest_id"], ["id"]
        )


def downgrade() -> None:
    """Undo this revision."""
    # Digest deliveries have no alert: they cannot stay once alert_id is required again.
    op.execute("DELETE FROM deliveries WHERE digest_id IS NOT NULL")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_deliveries_digest_id_digests"), type_="foreignkey")
        batch_op.drop_constraint("uq_deliveries_digest_subscription", type_="unique")
        batch_op.drop_index(batch_op.f("ix_deliveries_digest_id"))
        batch_op.alter_column("alert_id", existing_type=sa.VARCHAR(length=200), nullable=False)
        batch_op.drop_column("digest_id")

    op.drop_table("digests")
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadlines_unit_code"))
        batch_op.drop_index(batch_op.f("ix_deadlines_case_id"))

    op.drop_table("deadlines")
