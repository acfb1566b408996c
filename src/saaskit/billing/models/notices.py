"""Which billing notices were sent: one row per notice, so that none is sent twice."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.billing.models._common import owner_check, owner_org, owner_user
from saaskit.kit.models import Base, created_at_column, uuid_pk

NOTICE_KINDS = (
    "payment_failed",
    "card_expiring",
    "trial_ending",
    "topup_failed",
    "subscription_cancelled",
)


class BillingNotice(Base):
    __tablename__ = "billing_notices"
    __table_args__ = (
        CheckConstraint(f"kind IN {NOTICE_KINDS}", name="kind_known"),
        owner_check(),
        Index("idx_billing_notices_user_id", "user_id"),
        Index("idx_billing_notices_organization_id", "organization_id"),
        {
            "comment": "Billing notices sent (payment failed, card expiring ...), one row per notice: its "
            "key makes a second event or job run about the same thing notify nobody. RLS: service only."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(Text, nullable=False, comment="The notification kind sent.")
    notice_key: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        unique=True,
        comment="What the notice is about, e.g. payment_failed:in_123:2 (invoice, attempt) or "
        "card_expiring:pm_123:2027-03 (card, expiry): sent once per key.",
    )
    user_id: Mapped[Any] = owner_user("The paying user (personal billing).")
    organization_id: Mapped[Any] = owner_org("The paying organization.")
    recipient_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Billing owners told."
    )
    created_at: Mapped[datetime] = created_at_column()
