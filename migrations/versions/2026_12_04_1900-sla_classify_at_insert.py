"""sla: EAN-days classified when written; registry changes mark the EAN-days to reclassify

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-04 19:00:00

The roll-up classified every EAN-day of every day it rolled up (``counted``,
``excluded_reason``, ``gvm_headpoint``, from the access point, its communication periods and
its meters): 14-18 µs of its ~45 µs per EAN-day. Ingest, the rebuild from day blocks and the
roll-up's missing EAN-days now write the classification with the row, and the classification
changes only when the registry does: triggers on ``access_points`` (created, deleted, or its
EAN, meter type or GVM flag changed), ``communication_periods`` and ``physical_meters`` (of
GVM installations) append marks (EAN, [from_day, to_day)) to ``sla_classification_marks``
(every path that writes the registry, the bulk ones included, does), and the job
reclassifies those EAN-days only, adds those now expected on the days already rolled up,
and rolls their days up again.

Rows already in ``sla_ean_days`` were classified by the roll-up of their day, but for the
days not rolled up since they were written (ingest marked those dirty); rows with ``counted``
NULL are found through a partial index (built concurrently by revision 0036) and classified
by the roll-up of their day.

The pages stay half full (migration 0033): ingest still updates each row when the day's
validated data arrives, and measured with ``bench/sla_fillfactor.py`` full pages make those
updates slower and the table larger unless a VACUUM runs between insert and update (see
docs/sla.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MARKS = "INSERT INTO sla_classification_marks (ean, from_day, to_day) {rows};"
_EVERY_DAY = "'-infinity'::date, 'infinity'::date"

# Only EANs that have EAN-days: a new access point without any (ingest takes only registered
# EANs) has nothing to reclassify, and its periods' trigger marks the days they make expected.
_HAS_DAYS = "EXISTS (SELECT 1 FROM sla_ean_days s WHERE s.ean = {ean})"
_TODAY = "(now() AT TIME ZONE 'Europe/Brussels')::date"

# access_points: a new or deleted access point, every day of its EAN; a changed one, when its
# EAN, meter type or GVM flag changed, every day of its old and new EAN.
_ACCESS_POINTS = f"""
CREATE FUNCTION sla_mark_access_points() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {
    _MARKS.format(
        rows=f"SELECT ean, {_EVERY_DAY} FROM new_rows r WHERE {_HAS_DAYS.format(ean='r.ean')}"
    )
}
    ELSIF TG_OP = 'DELETE' THEN
        {
    _MARKS.format(
        rows=f"SELECT ean, {_EVERY_DAY} FROM old_rows r WHERE {_HAS_DAYS.format(ean='r.ean')}"
    )
}
    ELSE
        {
    _MARKS.format(
        rows=f"SELECT e.ean, {_EVERY_DAY} FROM old_rows o JOIN new_rows n ON n.id = o.id "
        "CROSS JOIN LATERAL (VALUES (o.ean), (n.ean)) AS e(ean) "
        "WHERE (o.ean, o.meter_type, o.gvm) IS DISTINCT FROM (n.ean, n.meter_type, n.gvm)"
    )
}
    END IF;
    RETURN NULL;
END
$$
"""  # noqa: S608  fixed text


def _periods(table: str, first: str, stop: str, which: str) -> str:
    """The function marking the days of the periods of ``table`` written, changed or
    deleted (old and new periods of a changed row), of access points that ``which``, when
    the EAN has EAN-days or the period starts by today (it may make past EAN-days expected)
    once anything was rolled up: an import of new access points before any roll-up marks
    nothing. Not "covers a rolled-up day": the job's first roll-up of a day, not committed
    yet, is invisible here, and a period written meanwhile would go unmarked."""
    rows = (
        f"SELECT ap.ean, r.{first}, coalesce(r.{stop}, 'infinity') FROM {{rows}} r "  # noqa: S608
        f"JOIN access_points ap ON ap.id = r.access_point_id WHERE {which} "
        f"AND ({_HAS_DAYS.format(ean='ap.ean')} OR (r.{first} <= {_TODAY} "
        "AND EXISTS (SELECT 1 FROM sla_day_totals)))"
    )
    changed = f"{rows.format(rows='old_rows')} UNION ALL {rows.format(rows='new_rows')}"
    return f"""
CREATE FUNCTION sla_mark_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_MARKS.format(rows=rows.format(rows="new_rows"))}
    ELSIF TG_OP = 'DELETE' THEN
        {_MARKS.format(rows=rows.format(rows="old_rows"))}
    ELSE
        {_MARKS.format(rows=changed)}
    END IF;
    RETURN NULL;
END
$$
"""


_TABLES = {
    "access_points": _ACCESS_POINTS,
    # A communicating digital meter's days: only digital meters' periods count, but the
    # meter type may change later (then the access point's trigger marks every day).
    "communication_periods": _periods("communication_periods", "valid_from", "valid_to", "true"),
    # Meters count only on GVM installations (``gvm_headpoint``).
    "physical_meters": _periods("physical_meters", "installed_from", "installed_to", "ap.gvm"),
}
_EVENTS = (
    ("INSERT", "NEW TABLE AS new_rows"),
    ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("DELETE", "OLD TABLE AS old_rows"),
)


def upgrade() -> None:
    # Marks are appended, never unique: a registry write never waits on the job.
    op.create_table(
        "sla_classification_marks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ean", sa.String(length=18), nullable=False),
        sa.Column("from_day", sa.Date(), nullable=False),
        sa.Column("to_day", sa.Date(), nullable=False),
        sa.Column("seen", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "marked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_classification_marks")),
    )
    for table, function in _TABLES.items():
        op.execute(function)
        for event, rows in _EVENTS:
            op.execute(
                f"CREATE TRIGGER sla_{table}_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION sla_mark_{table}()"
            )


def downgrade() -> None:
    for table in _TABLES:
        for event, _ in _EVENTS:
            op.execute(f"DROP TRIGGER sla_{table}_{event.lower()} ON {table}")
        op.execute(f"DROP FUNCTION sla_mark_{table}()")
    op.drop_table("sla_classification_marks")
