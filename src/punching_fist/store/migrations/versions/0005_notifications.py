"""notifications: a notification's group fields stored once, referenced by its runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00.000000

Each run used to hold the whole notification in ``source_context``: a notification of
10,000 alerts was stored 10,000 times. Runs written before this revision keep their copy;
runs written after it refer to their notification by ``notification_id``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
FK_NAME = "fk_workflow_runs_notification_id_notifications"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference in place; a separate ALTER ... ADD
        # CONSTRAINT does not exist there, and batch mode would copy the whole runs table.
        op.execute(
            "ALTER TABLE workflow_runs ADD COLUMN notification_id CHAR(32) "
            f"CONSTRAINT {FK_NAME} REFERENCES notifications (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("workflow_runs", sa.Column("notification_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            FK_NAME,
            "workflow_runs",
            "notifications",
            ["notification_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(
        op.f("ix_workflow_runs_notification_id"),
        "workflow_runs",
        ["notification_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_workflow_runs_notification_id"), table_name="workflow_runs")
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite 3.35+): batch mode's copy would drop the runs table, and with
        # foreign keys on that deletes every step result, delivery and approval with it.
        op.execute("ALTER TABLE workflow_runs DROP COLUMN notification_id")
    else:
        op.drop_constraint(FK_NAME, "workflow_runs", type_="foreignkey")
        op.drop_column("workflow_runs", "notification_id")
    op.drop_table("notifications")
