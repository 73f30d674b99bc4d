"""sink delivery tracking: leases, attempt log, correlations, sink status

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("sink_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correlation_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempt_log", JSON, nullable=True))
        batch_op.create_index(
            "ix_sink_deliveries_status_next_attempt_at",
            ["status", "next_attempt_at"],
            unique=False,
        )
    op.create_table(
        "sink_correlations",
        sa.Column("sink_name", sa.String(length=255), nullable=False),
        sa.Column("correlation_key", sa.String(length=255), nullable=False),
        sa.Column("external_ref", sa.String(length=255), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sink_name", "correlation_key", name=op.f("pk_sink_correlations")),
    )
    op.create_table(
        "sink_status",
        sa.Column("sink_name", sa.String(length=255), nullable=False),
        sa.Column("sink_type", sa.String(length=50), nullable=False),
        sa.Column("messages_sent", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_sent_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sink_name", name=op.f("pk_sink_status")),
    )


def downgrade() -> None:
    op.drop_table("sink_status")
    op.drop_table("sink_correlations")
    with op.batch_alter_table("sink_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_sink_deliveries_status_next_attempt_at")
        batch_op.drop_column("attempt_log")
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("correlation_key")
