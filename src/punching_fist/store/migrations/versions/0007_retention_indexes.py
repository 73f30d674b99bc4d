"""retention indexes: find old rows by age, and check foreign keys when rows are deleted

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:00:00.000000

Retention (``store.retention``) selects rows older than a cutoff, and deleting a run or an
alert makes the database check every column that refers to it: without an index on the
referring column each deleted row costs a scan of that whole table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_workflow_runs_completed_at", "workflow_runs", "completed_at"),
    ("ix_workflow_runs_parent_run_id", "workflow_runs", "parent_run_id"),
    ("ix_alerts_resolved_at", "alerts", "resolved_at"),
    ("ix_alerts_parent_alert_id", "alerts", "parent_alert_id"),
    ("ix_audit_events_created_at", "audit_events", "created_at"),
    ("ix_notifications_received_at", "notifications", "received_at"),
    ("ix_approvals_run_id", "approvals", "run_id"),
    ("ix_alert_relationships_parent_alert_id", "alert_relationships", "parent_alert_id"),
    ("ix_alert_relationships_child_alert_id", "alert_relationships", "child_alert_id"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
