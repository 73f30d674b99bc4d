"""api source idempotency and kubernetes source watch state

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:00:00.000000

Placeholder: api and kubernetes source schema (issue 17).
"""

from collections.abc import Sequence

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
