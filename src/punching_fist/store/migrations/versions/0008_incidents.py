"""incidents: correlation keys, incident bookkeeping, relationships per incident

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:00:00.000000

Every stored alert joins an incident (``incidents.correlation``). ``incident_keys`` holds one
row per correlation key (Alertmanager group, workload, label set) pointing at
the incident that has it; its primary key is what makes two concurrent batches agree on
one incident. The incident gains its workload, the time of its last alert and the run that
investigates it; a relationship row names its incident and the rule that made it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REL_FK = "fk_alert_relationships_incident_id_incidents"


def upgrade() -> None:
    op.add_column("incidents", sa.Column("workload", sa.String(length=255), nullable=True))
    op.add_column(
        "incidents", sa.Column("last_alert_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("incidents", sa.Column("investigation_run_id", sa.Uuid(), nullable=True))
    op.create_index("ix_incidents_status", "incidents", ["status"], unique=False)
    op.create_index("ix_incidents_created_at", "incidents", ["created_at"], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        # In place, with its reference: batch mode would copy the table (see 0005).
        op.execute(
            "ALTER TABLE alert_relationships ADD COLUMN incident_id CHAR(32) "
            f"CONSTRAINT {REL_FK} REFERENCES incidents (id) ON DELETE CASCADE"
        )
    else:
        op.add_column("alert_relationships", sa.Column("incident_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            REL_FK, "alert_relationships", "incidents", ["incident_id"], ["id"], ondelete="CASCADE"
        )
    op.add_column("alert_relationships", sa.Column("reason", sa.String(length=255), nullable=True))

    op.create_table(
        "incident_keys",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_incident_keys_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name="pk_incident_keys"),
    )
    op.create_index("ix_incident_keys_incident_id", "incident_keys", ["incident_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_incident_keys_incident_id", table_name="incident_keys")
    op.drop_table("incident_keys")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE alert_relationships DROP COLUMN reason")
        op.execute("ALTER TABLE alert_relationships DROP COLUMN incident_id")
    else:
        op.drop_column("alert_relationships", "reason")
        op.drop_constraint(REL_FK, "alert_relationships", type_="foreignkey")
        op.drop_column("alert_relationships", "incident_id")
    op.drop_index("ix_incidents_created_at", table_name="incidents")
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_column("incidents", "investigation_run_id")
    op.drop_column("incidents", "last_alert_at")
    op.drop_column("incidents", "workload")
