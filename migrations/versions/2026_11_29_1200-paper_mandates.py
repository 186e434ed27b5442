"""paper mandates: the record of each signed paper mandate, its check and hold, and the
daily bound of registrations

Revision ID: 0017
Revises: 0015
Create Date: 2026-11-29 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The signed mandates made before this revision were checked in the request (the signatory
# had to be the grid user on record, or signed as a customer): recorded as checked, no hold.
BACKFILL_NPS = """
INSERT INTO paper_mandates (
    mandate_id, organisation_id, ean, channel, registered_by, registered_at, signatory_name,
    signatory_enterprise_number, signed_by_grid_user, signed_on, document_sha256, name_check,
    checked_at, hold
)
SELECT DISTINCT ON (i.mandate_id)
    i.mandate_id, m.organisation_id, m.ean, m.channel, r.submitted_by, r.created_at,
    coalesce(i.signatory_name, ''), i.signatory_enterprise_number,
    i.signatory_capacity = 'grid_user', coalesce(i.signed_on, r.created_at::date),
    left(coalesce(i.document_sha256, ''), 64),
    CASE WHEN i.signatory_capacity = 'grid_user' THEN 'matched' ELSE 'not_applicable' END,
    r.created_at, NULL
FROM nps_request_items i
JOIN nps_requests r ON r.id = i.request_id
JOIN mandates m ON m.id = i.mandate_id
WHERE i.outcome = 'accepted' AND i.source = 'signed' AND m.source = 'signed'
ORDER BY i.mandate_id, i.id DESC
ON CONFLICT (mandate_id) DO NOTHING
"""
BACKFILL_HISTORY = """
INSERT INTO paper_mandates (
    mandate_id, organisation_id, ean, channel, registered_by, registered_at, signatory_name,
    signatory_enterprise_number, signed_by_grid_user, signed_on, document_sha256, name_check,
    checked_at, hold
)
SELECT DISTINCT ON (i.mandate_id)
    i.mandate_id, m.organisation_id, m.ean, m.channel, coalesce(i.added_by, e.requested_by),
    i.added_at, i.signatory_name, i.signatory_enterprise_number, true, i.signed_on,
    i.document_sha256, 'matched', i.added_at, NULL
FROM history_export_items i
JOIN history_exports e ON e.id = i.export_id
JOIN mandates m ON m.id = i.mandate_id
WHERE m.source = 'signed'
ORDER BY i.mandate_id, i.id DESC
ON CONFLICT (mandate_id) DO NOTHING
"""


def upgrade() -> None:
    op.create_table(
        "paper_mandates",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("mandate_id", sa.BigInteger(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("ean", sa.String(length=18), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signatory_name", sa.String(length=200), nullable=False),
        sa.Column("signatory_enterprise_number", sa.String(length=20), nullable=True),
        sa.Column("signed_by_grid_user", sa.Boolean(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "name_check",
            sa.Enum(
                "pending",
                "matched",
                "mismatched",
                "not_applicable",
                name="paper_name_check",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "hold",
            sa.Enum(
                "check_pending",
                "name_mismatch",
                "contested",
                name="paper_hold",
                native_enum=False,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("contested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contested_by_account_id", sa.Integer(), nullable=True),
        sa.Column("contest_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contested_by_account_id"],
            ["accounts.id"],
            name=op.f("fk_paper_mandates_contested_by_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["mandate_id"],
            ["mandates.id"],
            name=op.f("fk_paper_mandates_mandate_id_mandates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_paper_mandates_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_mandates")),
        sa.UniqueConstraint("mandate_id", name=op.f("uq_paper_mandates_mandate_id")),
    )
    op.create_index(op.f("ix_paper_mandates_ean"), "paper_mandates", ["ean"], unique=False)
    op.create_index(
        op.f("ix_paper_mandates_organisation_id"),
        "paper_mandates",
        ["organisation_id"],
        unique=False,
    )
    op.create_index(
        "ix_paper_mandates_pending",
        "paper_mandates",
        ["id"],
        unique=False,
        postgresql_where=sa.text("name_check = 'pending'"),
    )
    op.create_table(
        "paper_mandate_attempts",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_paper_mandate_attempts_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", "day", name=op.f("pk_paper_mandate_attempts")),
    )
    op.execute(BACKFILL_NPS)
    op.execute(BACKFILL_HISTORY)


def downgrade() -> None:
    op.drop_table("paper_mandate_attempts")
    op.drop_index(
        "ix_paper_mandates_pending",
        table_name="paper_mandates",
        postgresql_where=sa.text("name_check = 'pending'"),
    )
    op.drop_index(op.f("ix_paper_mandates_organisation_id"), table_name="paper_mandates")
    op.drop_index(op.f("ix_paper_mandates_ean"), table_name="paper_mandates")
    op.drop_table("paper_mandates")
