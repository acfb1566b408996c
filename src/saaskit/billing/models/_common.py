"""Column helpers shared by the billing tables: the owner (a user or an organization)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

# At most one owner; none only once the owning user was erased: the record is kept for the law
# (docs/privacy.md) and the user's id is gone (ON DELETE SET NULL).
OWNER_CHECK = "num_nonnulls(user_id, organization_id) <= 1"


def owner_check() -> CheckConstraint:
    """One owner: the user or the organization (none once that user is erased)."""
    return CheckConstraint(OWNER_CHECK, name="one_owner")


def owner_user(
    comment: str = "Owning user (personal billing); null when an organization owns the row.",
) -> Mapped[Any]:
    return mapped_column(
        # SET NULL, not CASCADE: erasing a person must not delete the invoices kept for 7 years.
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
        comment=comment,
    )


def owner_org(
    comment: str = "Owning organization (tenant billing); null when a user owns the row.",
) -> Mapped[Any]:
    return mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=True,
        comment=comment,
    )


def optional_fk(target: str, comment: str, ondelete: str = "SET NULL") -> Mapped[uuid.UUID | None]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey(target, ondelete=ondelete), nullable=True, comment=comment
    )
