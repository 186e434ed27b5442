"""sla: the partial indexes of sla_ean_days, built concurrently

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-04 20:15:00

Two partial indexes of ``sla_ean_days`` (30 M rows a month at national scale), built with
``CREATE INDEX CONCURRENTLY`` so ingest keeps writing meanwhile, in a revision of their own:
a concurrent build runs outside the revision's transaction, so when it fails or is
cancelled, this revision is not recorded and runs again whole. A failed concurrent build
leaves an INVALID index behind, which ``IF NOT EXISTS`` would keep for good: it is dropped
first.

* ``ix_sla_ean_days_unclassified``: the rows written before classification at insert
  (revision 0034), which the roll-up of their day classifies; empty in steady state.
* ``ix_sla_ean_days_late_informative``: late-item pages read only the EAN-days that can be
  late under a target of at least a day: not delivered, or delivered more than 24 hours
  after the foreseen date (``repository.maybe_late`` states the same predicate). Validated
  data gets no such index: ``validated_at`` is set by an update of nearly every EAN-day, and
  a column in an index predicate makes those updates not heap-only (measured at 2 M
  EAN-days: 27-37 µs per validated EAN-day with it, 7-9 without).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FORESEEN = "((day + 1)::timestamp AT TIME ZONE 'Europe/Brussels')"
_MAYBE_LATE = f"delivered_at IS NULL OR delivered_at - {_FORESEEN} > interval '24 hours'"
INDEXES = {
    "ix_sla_ean_days_unclassified": ("day", "counted IS NULL"),
    "ix_sla_ean_days_late_informative": ("day, ean", _MAYBE_LATE),
    "ix_sla_ean_days_late_informative_by_ean": ("ean, day", _MAYBE_LATE),
}
_INVALID = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname = '{name}' AND NOT i.indisvalid) THEN
        DROP INDEX {name};
    END IF;
END
$$
"""


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, (columns, where) in INDEXES.items():
            op.execute(_INVALID.format(name=name))
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
                f"ON sla_ean_days ({columns}) WHERE {where}"
            )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="sla_ean_days")
