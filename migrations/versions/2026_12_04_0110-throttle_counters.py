"""throttle counters: rate-limit and throttle budgets shared by every process

Revision ID: 0020
Revises: 0016
Create Date: 2026-12-04 01:10:00

Without Redis, the API rate limits and the login, registration and token-endpoint throttles
count in this table (atomic upserts), so that ``serve --workers N`` and several nodes on one
database share one budget per caller. Refusals of the token endpoint and of logins are
tallied (one audit row per caller and address per window, with a count).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "throttle_counters",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttle_counters")),
    )
    op.create_index(
        op.f("ix_throttle_counters_expires_at"), "throttle_counters", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_throttle_counters_expires_at"), table_name="throttle_counters")
    op.drop_table("throttle_counters")
