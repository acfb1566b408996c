"""Columns every bookings table shares: the owning organization and soft deletion."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

CURRENCY_CHECK = "currency ~ '^[a-z]{3}$'"


def organization_column(what: str) -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
        comment=f"The organization (the laundry business) {what}.",
    )


def deleted_at_column() -> Mapped[datetime | None]:
    return mapped_column(DateTime(timezone=True), comment="Soft deletion (UTC); null while the row is live.")


def currency_column() -> Mapped[str]:
    return mapped_column(
        Text,
        nullable=False,
        server_default="eur",
        comment="ISO 4217 currency code, lower case (eur, usd ...).",
    )
