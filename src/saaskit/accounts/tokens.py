"""One-time account links: password reset, e-mail verification, change of e-mail.

A link carries a random token (256 bits, ``kit.hashing.new_token``); only its SHA-256 is stored,
in ``account_tokens``, with what it is for, the address it was sent to and when it stops working.
The raw token exists in the request (or job) that made it, and sealed in the mail outbox until the
message is sent (``mail.secret_link``); nowhere else.

A token works once (``claim``: one conditional UPDATE, so two concurrent uses cannot both win),
until it expires, and only while nothing made it stale:

- a newer link of the same purpose for the same user revokes the older ones (only the latest
  mail's link works);
- a password reset revokes every live link of the user, a change of address too;
- a password set after a reset or change-of-address link was sent (``users.password_changed_at``,
  whatever set it: so changing the password cancels a pending change of address), or an address
  that is no longer the one a verification link was sent to, makes the link stale.

Answers for a bad token (docs/accounts.md): 400 ``invalid_token`` (unknown, forged, or for
another purpose), 410 ``token_expired``, ``token_used`` or ``token_revoked``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Text, func, text, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.errors import BadRequest, Gone
from saaskit.kit.hashing import new_token, token_hash
from saaskit.kit.models import Base, created_at_column, uuid_pk

PURPOSES = ("password_reset", "email_verification", "email_change")
PREFIXES = {"password_reset": "pwr_", "email_verification": "emv_", "email_change": "emc_"}
TOKEN_MAX_CHARS = 200


class AccountToken(Base):
    __tablename__ = "account_tokens"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('password_reset', 'email_verification', 'email_change')", name="purpose_known"
        ),
        Index("idx_account_tokens_user_id_purpose", "user_id", "purpose"),
        Index("idx_account_tokens_expires_at", "expires_at"),
        {
            "comment": "One-time links sent by e-mail (password reset, e-mail verification, change of "
            "e-mail): the SHA-256 of the token, never the token. RLS: the user's own rows, or service; "
            "a link's holder finds it through app_account_token()."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        comment="The account the link acts on.",
    )
    purpose: Mapped[str] = mapped_column(
        Text, nullable=False, comment="password_reset, email_verification or email_change."
    )
    token_hash: Mapped[str] = mapped_column(
        Text, unique=True, nullable=False, comment="SHA-256 of the link's token (the token is never stored)."
    )
    email: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="The address the link was sent to; for email_change, the new address it confirms.",
    )
    expires_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="The link stops working at this time (UTC)."
    )
    used_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When the link was used (it works once) (UTC)."
    )
    revoked_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="When the link was voided unused: a newer link, a password reset or an address change (UTC).",
    )
    ip_address_hash: Mapped[str | None] = mapped_column(
        Text, comment="Salted HMAC-SHA-256 of the client IP that asked for the link (never the raw IP)."
    )
    created_at: Mapped[datetime] = created_at_column("When the link was made and sent (UTC).")


@dataclass(frozen=True)
class Issued:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class FoundToken:
    id: uuid.UUID
    user_id: uuid.UUID
    purpose: str
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    user_email: str
    user_status: str
    user_deleted_at: datetime | None
    password_changed_at: datetime | None


FIND_SQL = text("SELECT * FROM app_account_token(:token_hash)")


async def issue(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    purpose: str,
    email: str,
    ttl: timedelta,
    ip_hash: str | None = None,
) -> Issued:
    """A new link for ``purpose``; the user's older live links of that purpose stop working.
    The session's context must be the user's or the service's. Flushes."""
    await revoke(session, user_id, (purpose,))
    token = new_token(PREFIXES[purpose])
    expires_at = datetime.now(UTC) + ttl
    session.add(
        AccountToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=token_hash(token),
            email=email,
            expires_at=expires_at,
            ip_address_hash=ip_hash,
        )
    )
    await session.flush()
    return Issued(token, expires_at)


async def revoke(session: AsyncSession, user_id: uuid.UUID, purposes: tuple[str, ...] = PURPOSES) -> int:
    """Void the user's live links of these purposes; how many were."""
    result = await session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose.in_(purposes),
            AccountToken.used_at.is_(None),
            AccountToken.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def find(session: AsyncSession, token: str) -> FoundToken | None:
    """The link's row, whoever asks (no context needed); None for an unknown token."""
    if not token or len(token) > TOKEN_MAX_CHARS:
        return None
    row = (await session.execute(FIND_SQL, {"token_hash": token_hash(token)})).one_or_none()
    return FoundToken(**row._asdict()) if row is not None else None


def usable(found: FoundToken | None, purposes: tuple[str, ...]) -> FoundToken:
    """The link, if it may be used now for one of ``purposes``; else the documented 4xx."""
    if found is None or found.purpose not in purposes:
        raise BadRequest(
            "token: this link is not valid (mistyped or cut short?): ask for a new one",
            field="token",
            code="invalid_token",
        )
    if found.used_at is not None:
        raise Gone("token: this link was already used: ask for a new one", field="token", code="token_used")
    stale = (
        found.revoked_at is not None
        or found.user_deleted_at is not None
        or (
            found.purpose in ("password_reset", "email_change")
            and found.password_changed_at is not None
            and found.password_changed_at > found.created_at
        )
        or (found.purpose == "email_verification" and found.email != found.user_email)
    )
    if stale:
        raise Gone(
            "token: this link was replaced by a newer one or no longer applies: use the latest one, "
            "or ask for a new one",
            field="token",
            code="token_revoked",
        )
    if found.expires_at <= datetime.now(UTC):
        raise Gone("token: this link has expired: ask for a new one", field="token", code="token_expired")
    return found


async def claim(session: AsyncSession, found: FoundToken) -> None:
    """Use the link, once: a concurrent use (or a revocation) that won first makes this 410."""
    claimed = await session.scalar(
        update(AccountToken)
        .where(
            AccountToken.id == found.id,
            AccountToken.used_at.is_(None),
            AccountToken.revoked_at.is_(None),
            AccountToken.expires_at > func.now(),
        )
        .values(used_at=func.now())
        .returning(AccountToken.id)
        .execution_options(synchronize_session=False)
    )
    if claimed is None:
        raise Gone("token: this link was already used: ask for a new one", field="token", code="token_used")
