"""sla: mandate-day roll-ups (the NPS channel's DSO-wide figures)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-04 19:30:00

The two SLA reads still computed from ``sla_ean_days`` when asked grew with the month's
EAN-days (31 M at national scale). The DSO-wide figures of the NPS channel (each EAN-day
under any ESP's approved NPS mandate once) are now kept per day and mandate channel in
``sla_mandate_day_totals`` and ``sla_mandate_day_delays`` by the roll-up job, for the days it
rolls up and those that mandate changes mark (the marks of ``sla_esp_dirty_days``). The days
rolled up before this revision are marked there (for one organisation with approved NPS
mandates: the job redoes the marked days whole), so the job fills the new tables on its next
run. The late-item pages' partial index is built by revision 0036.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_mandate_day_totals",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", name=op.f("pk_sla_mandate_day_totals")),
    )
    op.create_table(
        "sla_mandate_day_delays",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("data", sa.String(length=12), nullable=False),
        sa.Column("delay_hours", sa.Integer(), nullable=False),
        sa.Column("ean_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "channel", "data", "delay_hours", name=op.f("pk_sla_mandate_day_delays")
        ),
    )
    op.execute(
        "INSERT INTO sla_esp_dirty_days (day, organisation_id) "
        "SELECT t.day, o.id FROM sla_day_totals t CROSS JOIN "
        "(SELECT min(organisation_id) AS id FROM mandates "
        " WHERE status = 'approved' AND channel = 'nps') AS o WHERE o.id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("sla_mandate_day_delays")
    op.drop_table("sla_mandate_day_totals")
