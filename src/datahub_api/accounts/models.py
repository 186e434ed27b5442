"""People who log in: ESP staff, customers, grid users and operators."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base


class AccountRole(StrEnum):
    esp_user = "esp_user"  # staff of an ESP organisation
    customer = "customer"  # may consent for the access points they are a customer of
    grid_user = "grid_user"  # netgebruiker: co-consents when someone else consents
    operator = "operator"  # the DSO's staff


class Account(Base):
    """A person's login. A customer may also be the grid user of some of their access points:
    what they may do for an EAN follows from the access point's parties, not from the role."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[AccountRole] = mapped_column(
        Enum(AccountRole, name="account_role", native_enum=False, length=20)
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    # For B2B consent: the enterprise the customer acts for (canonical 10 digits).
    enterprise_number: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoginSession(Base):
    """A person's login session; the cookie carries the token, we keep its SHA-256."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
