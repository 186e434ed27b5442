"""sla: mandate-day roll-ups (the NPS channel's DSO-wide figures) and a partial index of the
EAN-days that can be late

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
run. A page of late items read every EAN-day of the period until it found the page; a
partial index in (day, EAN) order now holds only the EAN-days that can be late under a
target of at least a day: not delivered, or delivered later than that. It is built
concurrently (``sla_ean_days`` stays writable meanwhile). Validated data gets no such index:
``validated_at`` is set by an update of nearly every EAN-day, and a column in an index
predicate makes such updates not heap-only (measured at 2 M EAN-days: 27-37 µs per
validated EAN-day with it, 7-9 without).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FORESEEN = "((day + 1)::timestamp AT TIME ZONE 'Europe/Brussels')"
_LATE = {
    "ix_sla_ean_days_late_informative": (
        f"delivered_at IS NULL OR delivered_at - {_FORESEEN} > interval '24 hours'"
    ),
}


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
    with op.get_context().autocommit_block():
        for name, where in _LATE.items():
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
                f"ON sla_ean_days (day, ean) WHERE {where}"
            )


def downgrade() -> None:
    for name in _LATE:
        op.drop_index(name, table_name="sla_ean_days")
    op.drop_table("sla_mandate_day_delays")
    op.drop_table("sla_mandate_day_totals")
