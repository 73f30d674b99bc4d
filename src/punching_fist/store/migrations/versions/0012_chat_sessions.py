"""chat conversations per Slack thread

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:00:00.000000

``chat_turns``: one row per run a chat Source started, with the question, the answer posted
in the Slack thread and that reply's ``ts``; a thread's rows, oldest first, are the history a
follow-up in the thread continues (bounded when read, ``store.chat``), and whether a thread
is a conversation at all. A retried Slack event starts no second run because the run's id
derives from the message (``store.triggers``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_turns",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("reply_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_runs.id"],
            name=op.f("fk_chat_turns_run_id_workflow_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_chat_turns")),
    )
    op.create_index("ix_chat_turns_thread", "chat_turns", ["channel", "thread_ts"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_chat_turns_thread", table_name="chat_turns")
    op.drop_table("chat_turns")
