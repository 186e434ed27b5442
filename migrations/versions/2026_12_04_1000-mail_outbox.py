"""mail: the outbox's delivery state, organisation addressees, mail preferences

Revision ID: 0031
Revises: 0024
Create Date: 2026-12-04 10:00:00

``outbox_messages`` held letters nobody sent; the mail domain sends them now. A message is
addressed to an account or to an organisation (its contact address), and records its
attempts. Letters written before mail delivery existed are marked ``skipped`` rather than
sent late.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("outbox_messages", "account_id", existing_type=sa.Integer(), nullable=True)
    op.add_column("outbox_messages", sa.Column("organisation_id", sa.Integer(), nullable=True))
    op.add_column(
        "outbox_messages",
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sent",
                "failed",
                "skipped",
                name="outbox_status",
                native_enum=False,
                length=10,
            ),
            server_default="pending",
            nullable=False,
        ),
    )
    op.add_column(
        "outbox_messages",
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "outbox_messages",
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("outbox_messages", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column("outbox_messages", sa.Column("message_id", sa.String(length=250), nullable=True))
    op.add_column("outbox_messages", sa.Column("language", sa.String(length=2), nullable=True))
    op.add_column("outbox_messages", sa.Column("recipient", sa.String(length=320), nullable=True))
    op.add_column("outbox_messages", sa.Column("subject", sa.String(length=300), nullable=True))
    op.add_column("outbox_messages", sa.Column("eml_file", sa.String(length=200), nullable=True))
    op.execute(
        "UPDATE outbox_messages SET status = 'skipped', "
        "last_error = 'written before mail delivery existed'"
    )
    op.create_foreign_key(
        op.f("fk_outbox_messages_organisation_id_organisations"),
        "outbox_messages",
        "organisations",
        ["organisation_id"],
        ["id"],
    )
    op.create_index(
        op.f("ix_outbox_messages_organisation_id"),
        "outbox_messages",
        ["organisation_id"],
        unique=False,
    )
    op.create_unique_constraint(
        op.f("uq_outbox_messages_message_id"), "outbox_messages", ["message_id"]
    )
    op.create_check_constraint(
        op.f("ck_outbox_messages_one_addressee"),
        "outbox_messages",
        "num_nonnulls(account_id, organisation_id) = 1",
    )
    op.create_index(
        "ix_outbox_messages_pending",
        "outbox_messages",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "mail_preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("informational", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("unsubscribe_token", sa.String(length=64), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "num_nonnulls(account_id, organisation_id) = 1",
            name=op.f("ck_mail_preferences_one_addressee"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_mail_preferences_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_mail_preferences_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_preferences")),
        sa.UniqueConstraint("account_id", name=op.f("uq_mail_preferences_account_id")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_mail_preferences_organisation_id")),
        sa.UniqueConstraint(
            "unsubscribe_token", name=op.f("uq_mail_preferences_unsubscribe_token")
        ),
    )


def downgrade() -> None:
    op.drop_table("mail_preferences")
    op.drop_index(
        "ix_outbox_messages_pending",
        table_name="outbox_messages",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_constraint(op.f("ck_outbox_messages_one_addressee"), "outbox_messages", type_="check")
    op.drop_constraint(op.f("uq_outbox_messages_message_id"), "outbox_messages", type_="unique")
    op.drop_index(op.f("ix_outbox_messages_organisation_id"), table_name="outbox_messages")
    op.drop_constraint(
        op.f("fk_outbox_messages_organisation_id_organisations"),
        "outbox_messages",
        type_="foreignkey",
    )
    op.execute("DELETE FROM outbox_messages WHERE account_id IS NULL")
    for column in (
        "eml_file",
        "subject",
        "recipient",
        "language",
        "message_id",
        "last_error",
        "next_attempt_at",
        "attempts",
        "status",
        "organisation_id",
    ):
        op.drop_column("outbox_messages", column)
    op.alter_column("outbox_messages", "account_id", existing_type=sa.Integer(), nullable=False)
