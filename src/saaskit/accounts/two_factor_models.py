"""Tables of two-factor sign-in (TOTP): the sealed secret of each account that enrolled, and
its one-time recovery codes (docs/accounts.md, "Two-factor sign-in")."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, LargeBinary, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk


class UserTwoFactor(Base):
    __tablename__ = "user_two_factor"
    __table_args__ = (
        {
            "comment": "TOTP two-factor sign-in of a user, one row per user who started enrolling "
            "(RLS: the user's own, or service)."
        },
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        comment="The user.",
    )
    secret_sealed: Mapped[bytes] = mapped_column(
        LargeBinary,
        nullable=False,
        comment="The TOTP secret (RFC 6238, base32), sealed with AES-256-GCM under a key derived from the "
        "instance secret (kit/crypto.py, purpose totp, bound to user_id): the database alone cannot "
        "open it.",
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When the user proved their app makes codes (UTC): from then on sign-in asks for one. "
        "Null: enrolment started, not confirmed (sign-in is unchanged).",
    )
    last_used_step: Mapped[int | None] = mapped_column(
        BigInteger,
        comment="The 30-second time step of the last accepted code: a code of that step or an older "
        "one is refused (no replay within its window).",
    )
    created_at: Mapped[datetime] = created_at_column("When enrolment started (UTC).")
    updated_at: Mapped[datetime] = updated_at_column()


class UserRecoveryCode(Base):
    __tablename__ = "user_recovery_codes"
    __table_args__ = (
        UniqueConstraint("user_id", "code_hash"),
        Index("idx_user_recovery_codes_user_id_unused", "user_id", postgresql_where=text("used_at IS NULL")),
        {
            "comment": "One-time codes that stand in for a TOTP code (lost phone), ten per enrolment, "
            "shown once and stored hashed (RLS: the user's own, or service)."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The user the code belongs to.",
    )
    code_hash: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="HMAC-SHA-256 of the code under a key derived from the instance secret (never the code).",
    )
    used_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the code was spent (UTC); null: still usable."
    )
    created_at: Mapped[datetime] = created_at_column()
