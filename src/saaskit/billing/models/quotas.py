"""Organization quota counters: one row per organization, quota and billing period."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.kit.models import Base, updated_at_column


class OrganizationQuotaUsage(Base):
    __tablename__ = "organization_quota_usage"
    __table_args__ = (
        CheckConstraint("used >= 0", name="used_not_negative"),
        {
            "comment": "How much of each counted plan quota an organization used in one billing period "
            "(billing/quotas.py): raised by one conditional upsert that cannot pass the limit; a new "
            "period is a new row, so counters reset with the period."
        },
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
        comment="The organization using its plan.",
    )
    quota_name: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="The limit counted, e.g. api_calls or events (a plan quota's name)."
    )
    period_start: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), primary_key=True, comment="Start of the billing period (UTC)."
    )
    period_end: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="End of the billing period: the reset (UTC)."
    )
    used: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("0"), comment="Units used in the period."
    )
    updated_at: Mapped[datetime] = updated_at_column()
