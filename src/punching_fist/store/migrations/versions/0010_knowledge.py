"""knowledge base of past incidents with full-text search

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 03:00:00.000000

``knowledge_entries`` (issue 16): one row per finished investigation or hand-written
postmortem, searched with each database's own full text. SQLite: an FTS5 table
``knowledge_fts`` (porter stemming) kept in step by triggers, keyed by the entry's id (a
table without an INTEGER PRIMARY KEY has no stable rowid to use as external content).
PostgreSQL: a stored generated ``search`` tsvector (english) with a GIN index. Neither is in
``tables.metadata``; tests comparing the metadata leave them out by name.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The text searched, weighted on PostgreSQL: what it is about (A), what was found (B), the rest.
_PG_SEARCH = (
    "setweight(to_tsvector('english', coalesce(alertname, '') || ' ' || coalesce(workload, '')"
    " || ' ' || title), 'A')"
    " || setweight(to_tsvector('english', root_cause || ' ' || fix), 'B')"
    " || setweight(to_tsvector('english', body || ' ' || coalesce(resolution, '')"
    " || ' ' || coalesce(notes, '')), 'C')"
)
_FTS_COLUMNS = "title, subject, root_cause, fix, body"
_FTS_VALUES = (
    "new.title, coalesce(new.alertname, '') || ' ' || coalesce(new.namespace, '') || ' '"
    " || coalesce(new.workload, '') || ' ' || coalesce(new.container, ''),"
    " new.root_cause, new.fix,"
    " new.body || ' ' || coalesce(new.resolution, '') || ' ' || coalesce(new.notes, '')"
)


def upgrade() -> None:
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    op.create_table(
        "knowledge_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("alertname", sa.String(length=255), nullable=True),
        sa.Column("namespace", sa.String(length=255), nullable=True),
        sa.Column("workload", sa.String(length=255), nullable=True),
        sa.Column("container", sa.String(length=255), nullable=True),
        sa.Column("labels", json, nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column("findings", json, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("workflow", sa.String(length=255), nullable=True),
        sa.Column("step_name", sa.String(length=255), nullable=True),
        sa.Column("result", json, nullable=True),
        sa.Column("evidence_digest", sa.String(length=64), nullable=True),
        sa.Column(
            "correct", sa.String(length=10), server_default=sa.text("'unknown'"), nullable=False
        ),
        sa.Column("feedback_by", sa.String(length=255), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("reused", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_entries")),
    )
    op.create_index("ix_knowledge_entries_run_id", "knowledge_entries", ["run_id"])
    op.create_index("ix_knowledge_entries_incident_id", "knowledge_entries", ["incident_id"])
    op.create_index(
        "ix_knowledge_entries_signature",
        "knowledge_entries",
        ["alertname", "workload", "created_at"],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE knowledge_entries ADD COLUMN search tsvector"
            f" GENERATED ALWAYS AS ({_PG_SEARCH}) STORED"
        )
        op.execute(
            "CREATE INDEX ix_knowledge_entries_search ON knowledge_entries USING gin (search)"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE knowledge_fts USING fts5("
        f"entry_id UNINDEXED, {_FTS_COLUMNS}, tokenize='porter unicode61')"
    )
    # Constants only: the statements are this module's text.
    insert = f"INSERT INTO knowledge_fts(entry_id, {_FTS_COLUMNS}) VALUES (new.id, {_FTS_VALUES});"  # noqa: S608
    op.execute(
        f"CREATE TRIGGER knowledge_fts_insert AFTER INSERT ON knowledge_entries BEGIN {insert} END"
    )
    op.execute(
        "CREATE TRIGGER knowledge_fts_update AFTER UPDATE OF title, alertname, namespace,"  # noqa: S608
        " workload, container, root_cause, fix, body, resolution, notes ON knowledge_entries"
        " BEGIN "
        f"DELETE FROM knowledge_fts WHERE entry_id = old.id; {insert} END"
    )
    op.execute(
        "CREATE TRIGGER knowledge_fts_delete AFTER DELETE ON knowledge_entries BEGIN "
        "DELETE FROM knowledge_fts WHERE entry_id = old.id; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS knowledge_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS knowledge_fts")
    op.drop_table("knowledge_entries")
