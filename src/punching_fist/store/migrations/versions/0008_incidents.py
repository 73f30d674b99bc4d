"""incidents: correlation of alerts into incidents, storm control

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:00:00.000000

Placeholder: the schema the incidents work (issue 15) needs.
"""

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
