"""mandate tenure: the tenure bounds of the people who gave a mandate

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 21:00:00

Live mandates get the bounds of the tenure (customer and grid-user periods merged where they
touch) that held the day they were made, of both the customer who gave them and the grid
user who co-signed them; a mandate one of whose people held no role that day gets an empty
window (it reads nothing, and the daily job finishes it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
WITH parties AS (
    SELECT ap.ean, p.account_id, p.valid_from,
           coalesce(p.valid_to, 'infinity'::date) AS valid_to
    FROM access_point_parties p JOIN access_points ap ON ap.id = p.access_point_id
),
marked AS (
    SELECT ean, account_id, valid_from, valid_to,
           CASE WHEN valid_from <= max(valid_to) OVER (
                    PARTITION BY ean, account_id ORDER BY valid_from, valid_to
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                THEN 0 ELSE 1 END AS opens
    FROM parties
),
numbered AS (
    SELECT ean, account_id, valid_from, valid_to,
           sum(opens) OVER (PARTITION BY ean, account_id ORDER BY valid_from, valid_to
                            ROWS UNBOUNDED PRECEDING) AS island
    FROM marked
),
spans AS (
    SELECT ean, account_id, min(valid_from) AS span_from, max(valid_to) AS span_to
    FROM numbered GROUP BY ean, account_id, island
),
people AS (
    SELECT m.id, m.ean, (m.created_at AT TIME ZONE 'Europe/Brussels')::date AS consent_day,
           a.account_id
    FROM mandates m
    CROSS JOIN LATERAL (VALUES (m.given_by_account_id), (m.grid_user_account_id))
        AS a(account_id)
    WHERE m.status IN ('requested', 'approved') AND a.account_id IS NOT NULL
),
held AS (
    SELECT p.id, p.consent_day, s.span_from, s.span_to
    FROM people p LEFT JOIN spans s
      ON s.ean = p.ean AND s.account_id = p.account_id
     AND s.span_from <= p.consent_day AND p.consent_day < s.span_to
),
bounds AS (
    SELECT id,
           CASE WHEN bool_and(span_from IS NOT NULL) THEN max(span_from)
                ELSE min(consent_day) END AS b_from,
           CASE WHEN bool_and(span_from IS NOT NULL) THEN min(span_to)
                ELSE min(consent_day) END AS b_to
    FROM held GROUP BY id
)
UPDATE mandates m SET
    tenure_from = b.b_from::timestamp AT TIME ZONE 'Europe/Brussels',
    tenure_to = CASE WHEN b.b_to = 'infinity'::date THEN NULL
                     ELSE b.b_to::timestamp AT TIME ZONE 'Europe/Brussels' END
FROM bounds b WHERE m.id = b.id
"""


def upgrade() -> None:
    op.add_column("mandates", sa.Column("tenure_from", sa.DateTime(timezone=True), nullable=True))
    op.add_column("mandates", sa.Column("tenure_to", sa.DateTime(timezone=True), nullable=True))
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_column("mandates", "tenure_to")
    op.drop_column("mandates", "tenure_from")
