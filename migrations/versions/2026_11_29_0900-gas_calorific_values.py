"""gas calorific values and zones

Revision ID: 0021
Revises: 0015
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gas_calorific_values",
        sa.Column("zone", sa.String(length=40), nullable=False),
        sa.Column("gas_day", sa.Date(), nullable=False),
        sa.Column("kwh_per_m3", sa.Numeric(precision=8, scale=5), nullable=False),
        sa.Column("factor", sa.String(length=1), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "factor IN ('P', 'D', 'C')", name=op.f("ck_gas_calorific_values_factor_code")
        ),
        sa.CheckConstraint("kwh_per_m3 > 0", name=op.f("ck_gas_calorific_values_positive")),
        sa.PrimaryKeyConstraint("zone", "gas_day", name=op.f("pk_gas_calorific_values")),
    )
    op.create_table(
        "gas_zone_members",
        sa.Column("ean", sa.String(length=18), nullable=False),
        sa.Column("zone", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("ean", name=op.f("pk_gas_zone_members")),
    )


def downgrade() -> None:
    op.drop_table("gas_zone_members")
    op.drop_table("gas_calorific_values")
