"""throttle counters unlogged: no WAL and no commit flush per API request

Revision ID: 0024
Revises: 0020
Create Date: 2026-12-04 09:00:00

Every authenticated request may take budget from ``throttle_counters``. The counters are
short-lived and worth nothing after a crash (PostgreSQL empties an unlogged table then:
every caller starts a fresh window), so the table writes no WAL and a transaction touching
only it commits without waiting for a flush. Only the primary reads it; replicas never do.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE throttle_counters SET UNLOGGED")


def downgrade() -> None:
    op.execute("ALTER TABLE throttle_counters SET LOGGED")
