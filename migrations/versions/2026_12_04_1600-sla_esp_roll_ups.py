"""sla: per-ESP roll-ups (per day, organisation and channel), and the days they must redo

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04 16:00:00

The per-ESP SLA figures were computed live from every ESP's mandate-days joined to
``sla_ean_days``: seconds at a few million EAN-days. The roll-up job now keeps them per
(day, organisation, mandate channel) in ``sla_esp_day_totals`` and ``sla_esp_day_delays``,
next to the DSO-wide ``sla_day_totals``. A mandate written, revoked, ended or moved marks its
organisation's days in ``sla_esp_dirty_days`` (a trigger, so that every path that writes
mandates does), and the job redoes those. The days rolled up before this revision are marked
there for every organisation with approved mandates, so the job fills the new tables on its
next run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The (organisation, day) pairs a change of approved mandates touches: the days from the
# first data period start to the last end of the organisation's changed mandates (up to
# today), those already rolled up or recent enough that a roll-up may be running on them.
_MARK = """
    INSERT INTO sla_esp_dirty_days (day, organisation_id)
    SELECT g.day::date, r.organisation_id
    FROM (SELECT organisation_id,
                 min((data_period_from AT TIME ZONE 'Europe/Brussels')::date) AS first,
                 least(max((data_period_to AT TIME ZONE 'Europe/Brussels')::date),
                       (now() AT TIME ZONE 'Europe/Brussels')::date) AS last
          FROM ({rows}) AS m GROUP BY organisation_id) AS r
    CROSS JOIN LATERAL generate_series(r.first, r.last, interval '1 day') AS g(day)
    WHERE g.day::date >= (now() AT TIME ZONE 'Europe/Brussels')::date - 45
       OR EXISTS (SELECT 1 FROM sla_day_totals t WHERE t.day = g.day::date)
       OR EXISTS (SELECT 1 FROM sla_dirty_days d WHERE d.day = g.day::date);
"""
_DIFFER = (
    "(o.organisation_id, o.ean, o.channel, o.status, o.data_period_from, o.data_period_to, "
    "o.tenure_from, o.tenure_to) IS DISTINCT FROM (n.organisation_id, n.ean, n.channel, "
    "n.status, n.data_period_from, n.data_period_to, n.tenure_from, n.tenure_to)"
)
_CHANGED = f"""
    SELECT o.organisation_id, o.data_period_from, o.data_period_to FROM old_rows o
    JOIN new_rows n ON n.id = o.id
    WHERE o.status = 'approved' AND {_DIFFER}
    UNION ALL
    SELECT n.organisation_id, n.data_period_from, n.data_period_to FROM new_rows n
    JOIN old_rows o ON o.id = n.id
    WHERE n.status = 'approved' AND {_DIFFER}
"""  # noqa: S608  fixed text
_FUNCTION = f"""
CREATE FUNCTION sla_mark_mandate_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_MARK.format(rows="SELECT * FROM new_rows WHERE status = 'approved'")}
    ELSIF TG_OP = 'DELETE' THEN
        {_MARK.format(rows="SELECT * FROM old_rows WHERE status = 'approved'")}
    ELSE
        {_MARK.format(rows=_CHANGED)}
    END IF;
    RETURN NULL;
END
$$
"""  # noqa: S608  fixed text


def upgrade() -> None:
    for table, extra in (
        ("sla_esp_day_totals", [sa.Column("expected", sa.Integer(), nullable=False)]),
        (
            "sla_esp_day_delays",
            [
                sa.Column("data", sa.String(length=12), nullable=False),
                sa.Column("delay_hours", sa.Integer(), nullable=False),
                sa.Column("ean_days", sa.Integer(), nullable=False),
            ],
        ),
    ):
        key = ["day", "organisation_id", "channel"]
        if table == "sla_esp_day_delays":
            key += ["data", "delay_hours"]
        op.create_table(
            table,
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("organisation_id", sa.Integer(), nullable=False),
            sa.Column("channel", sa.String(length=20), nullable=False),
            *extra,
            sa.ForeignKeyConstraint(
                ["organisation_id"],
                ["organisations.id"],
                name=op.f(f"fk_{table}_organisation_id_organisations"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{table}")),
        )
    # Marks are appended, never unique: a mandate write never waits on the job's claim (a
    # DELETE) nor on another open write that marked the same days; the job deduplicates.
    op.create_table(
        "sla_esp_dirty_days",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column(
            "marked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_esp_dirty_days")),
    )
    op.execute(_FUNCTION)
    for event, rows in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER sla_mandate_days_{event.lower()} AFTER {event} ON mandates "
            f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION sla_mark_mandate_days()"
        )
    # The days rolled up before this revision get their per-ESP roll-ups from the job's next
    # run: only the per-ESP part (the EAN-days keep their classification), not the DSO-wide
    # roll-up of every day again.
    op.execute(
        "INSERT INTO sla_esp_dirty_days (day, organisation_id) "
        "SELECT t.day, o.organisation_id FROM sla_day_totals t CROSS JOIN "
        "(SELECT DISTINCT organisation_id FROM mandates WHERE status = 'approved') AS o"
    )


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER sla_mandate_days_{event} ON mandates")
    op.execute("DROP FUNCTION sla_mark_mandate_days()")
    op.drop_table("sla_esp_dirty_days")
    op.drop_table("sla_esp_day_delays")
    op.drop_table("sla_esp_day_totals")
