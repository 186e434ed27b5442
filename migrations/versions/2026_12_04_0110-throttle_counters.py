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
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A tallied refusal (failed logins, client authentications) may count up; every other
# change to the audit trail is still refused.
TALLYING_TRIGGER = """
CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.tally_key IS NOT NULL
       AND (NEW.id, NEW.at, NEW.actor, NEW.actor_role, NEW.action, NEW.outcome, NEW.target,
            NEW.client_ip, NEW.tally_key)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at, OLD.actor, OLD.actor_role, OLD.action, OLD.outcome, OLD.target,
            OLD.client_ip, OLD.tally_key)
       AND (NEW.detail - 'count' - 'last_at') = (OLD.detail - 'count' - 'last_at')
       AND (NEW.detail ->> 'count')::bigint > coalesce((OLD.detail ->> 'count')::bigint, 1)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$
"""

APPEND_ONLY_TRIGGER = """
CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$
"""


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
    op.add_column("audit_records", sa.Column("tally_key", sa.String(length=400), nullable=True))
    op.create_unique_constraint(op.f("uq_audit_records_tally_key"), "audit_records", ["tally_key"])
    op.execute(TALLYING_TRIGGER)


def downgrade() -> None:
    op.execute(APPEND_ONLY_TRIGGER)
    op.drop_constraint(op.f("uq_audit_records_tally_key"), "audit_records", type_="unique")
    op.drop_column("audit_records", "tally_key")
    op.drop_index(op.f("ix_throttle_counters_expires_at"), table_name="throttle_counters")
    op.drop_table("throttle_counters")
