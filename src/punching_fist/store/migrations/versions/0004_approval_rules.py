"""approval rules: how many people must approve, who did, and the rule that asked

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "approvers_required", sa.Integer(), server_default=sa.text("1"), nullable=False
            )
        )
        batch_op.add_column(sa.Column("approved_by", JSON, nullable=True))
        batch_op.add_column(sa.Column("rule", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_column("rule")
        batch_op.drop_column("approved_by")
        batch_op.drop_column("approvers_required")
