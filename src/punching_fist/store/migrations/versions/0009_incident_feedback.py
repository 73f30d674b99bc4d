"""incident feedback: whether an investigation was right, for AI and escalation accuracy

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:00:00.000000

People tell the system, per incident, whether the root cause it found was right, whether a
person was needed and what fixed it (API, Slack buttons, CLI). One row per answer: several
people may answer, and the KPIs count each. The alert columns that record the rest (triage
times, escalation, auto resolution, human actions) are in the initial schema already.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("root_cause_correct", sa.Boolean(), nullable=False),
        sa.Column("human_needed", sa.Boolean(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("given_by", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_feedback_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_feedback")),
    )
    op.create_index(
        op.f("ix_incident_feedback_incident_id"),
        "incident_feedback",
        ["incident_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_feedback_incident_id"), table_name="incident_feedback")
    op.drop_table("incident_feedback")
