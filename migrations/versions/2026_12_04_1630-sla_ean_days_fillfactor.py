"""sla: sla_ean_days pages half full, so the roll-up's classification updates stay HOT

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-04 16:30:00

The roll-up writes every EAN-day once more when it classifies it (``counted``,
``excluded_reason``, ``gvm_headpoint``, none of them indexed), and ingest updates a row when
a day's later streams arrive. In full pages each such update is a new tuple on another page
and a new entry in both indexes; with room on the page it is a heap-only (HOT) update. The
heap ends the same size (each row is written twice either way) but the indexes no longer
grow with the updates: measured with ``bench/sla.py``-shaped data at 100,000 EAN-days, the
classification went from 36 to 14 µs per EAN-day and the table from 339 to 297 bytes per
EAN-day with its indexes. Pages written before this revision keep their layout until the
table is rewritten (``VACUUM FULL sla_ean_days``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE sla_ean_days SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE sla_ean_days RESET (fillfactor)")
