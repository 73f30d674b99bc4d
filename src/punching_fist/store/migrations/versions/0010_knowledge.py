"""knowledge base of past incidents with full-text search

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 03:00:00.000000

Placeholder: knowledge base schema (issue 16).
"""

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
