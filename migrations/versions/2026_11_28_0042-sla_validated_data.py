"""sla validated data

When each day block and each EAN-day first held only validated values (the NPS channel's
historical-data service level), per-day delay counts for validated data, and GVM headpoint
days (counted on the NPS channel).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 00:42:57.088207
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = "ean, meter_id, direction, register, granularity, day"
_MATCH = (
    "t.ean = f.ean AND t.meter_id = f.meter_id AND t.direction = f.direction "
    "AND t.register = f.register AND t.granularity = f.granularity AND t.day = f.day"
)
# Per block: the first version (current or superseded) that held every slot with a
# validated (VAL = 3) value, one packed state byte, and when it was written.
_FIRST_VALIDATED = f"""
    SELECT DISTINCT ON ({_KEY}) {_KEY}, version, last_inserted_at AS at FROM (
        SELECT {_KEY}, version, last_inserted_at, filled_slots, expected_slots, packed_states
        FROM meter_day_blocks
        UNION ALL
        SELECT {_KEY}, version, last_inserted_at, filled_slots, expected_slots, packed_states
        FROM meter_day_block_history
    ) AS v
    WHERE filled_slots = expected_slots AND packed_states = decode('03', 'hex')
    ORDER BY {_KEY}, version
"""  # noqa: S608  fixed text


def upgrade() -> None:
    op.add_column(
        "meter_day_block_history",
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "meter_day_blocks", sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "sla_day_delays",
        sa.Column("data", sa.String(length=12), server_default="informative", nullable=False),
    )
    op.drop_constraint("pk_sla_day_delays", "sla_day_delays", type_="primary")
    op.create_primary_key("pk_sla_day_delays", "sla_day_delays", ["day", "data", "delay_hours"])
    op.add_column(
        "sla_day_totals", sa.Column("validated", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "sla_ean_days",
        sa.Column("validated_streams", sa.SmallInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "sla_ean_days", sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("sla_ean_days", sa.Column("gvm_headpoint", sa.Boolean(), nullable=True))
    # Blocks stored before: their first fully validated version, from the kept history.
    op.execute(
        f"""
        UPDATE meter_day_blocks t SET validated_at = f.at
        FROM ({_FIRST_VALIDATED}) AS f WHERE {_MATCH}
        """  # noqa: S608  fixed text
    )
    op.execute(
        f"""
        UPDATE meter_day_block_history t SET validated_at = f.at
        FROM ({_FIRST_VALIDATED}) AS f WHERE {_MATCH} AND t.version >= f.version
        """  # noqa: S608  fixed text
    )
    # Their EAN-days (as rebuilt from blocks), and every day rolled up again by the job.
    op.execute(
        """
        UPDATE sla_ean_days s SET validated_streams = b.validated, validated_at = b.at
        FROM (
            SELECT ean, day, count(validated_at) AS validated,
                   CASE WHEN bool_and(validated_at IS NOT NULL) THEN max(validated_at) END AS at
            FROM meter_day_blocks WHERE granularity IN (1, 2) GROUP BY ean, day
        ) AS b
        WHERE s.ean = b.ean AND s.day = b.day
        """
    )
    op.execute(
        "INSERT INTO sla_dirty_days (day) SELECT DISTINCT day FROM sla_ean_days "
        "ON CONFLICT (day) DO NOTHING"
    )


def downgrade() -> None:
    op.drop_column("sla_ean_days", "gvm_headpoint")
    op.drop_column("sla_ean_days", "validated_at")
    op.drop_column("sla_ean_days", "validated_streams")
    op.drop_column("sla_day_totals", "validated")
    op.execute("DELETE FROM sla_day_delays WHERE data <> 'informative'")
    op.drop_constraint("pk_sla_day_delays", "sla_day_delays", type_="primary")
    op.create_primary_key("pk_sla_day_delays", "sla_day_delays", ["day", "delay_hours"])
    op.drop_column("sla_day_delays", "data")
    op.drop_column("meter_day_blocks", "validated_at")
    op.drop_column("meter_day_block_history", "validated_at")
