"""api source idempotency keys and kubernetes source watch state

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:00:00.000000

``api_requests``: a request's ``Idempotency-Key`` per api Source, the hash of its body and the
run it started, so a retried request answers with that run instead of starting another.
``kubernetes_watches`` and ``kubernetes_objects``: each kubernetes Source's last
resourceVersion and the objects it has seen, so a watch resumed after a restart (or relisted
after 410 Gone) reports each created/deleted object once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_requests",
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_runs.id"],
            name=op.f("fk_api_requests_run_id_workflow_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_name", "idempotency_key", name=op.f("pk_api_requests")),
    )
    op.create_index(op.f("ix_api_requests_run_id"), "api_requests", ["run_id"], unique=False)
    op.create_table(
        "kubernetes_watches",
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("selection", sa.Text(), nullable=False),
        sa.Column("resource_version", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source_name", name=op.f("pk_kubernetes_watches")),
    )
    op.create_table(
        "kubernetes_objects",
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("resource_version", sa.String(length=64), nullable=False),
        sa.Column("selected", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("source_name", "uid", name=op.f("pk_kubernetes_objects")),
    )


def downgrade() -> None:
    op.drop_table("kubernetes_objects")
    op.drop_table("kubernetes_watches")
    op.drop_index(op.f("ix_api_requests_run_id"), table_name="api_requests")
    op.drop_table("api_requests")
