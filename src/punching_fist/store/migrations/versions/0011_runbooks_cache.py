"""runbooks: no schema (issue 16)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 03:00:00.000000

Runbooks need no table: each replica keeps its own copy of the repository in its state
directory (a failed sync keeps it, across restarts too), the sync's status lives in memory
and is served per replica (``GET /api/v1/runbooks``, metrics), and which runbook an
investigation used (path, commit) is recorded in its step result. The response cache's
schema is in 0010. The revision stays so the chain 0010 -> 0012 is unbroken.
"""

from collections.abc import Sequence

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to create: see the module docstring."""


def downgrade() -> None:
    """Nothing to drop."""
