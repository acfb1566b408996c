"""Answers of the metering endpoints: invoice preview, usage records with their Stripe state,
organization quotas."""

from __future__ import annotations

import uuid
from datetime import datetime

from saaskit.kit.schemas import Output


class PreviewLineOut(Output):
    description: str | None
    quantity: int | None
    amount_cents: int
    price_id: str | None
    metered: bool
    period_start: datetime | None
    period_end: datetime | None


class UsageStateOut(Output):
    """Units of a metric this period, by where their records stand with Stripe."""

    metric_name: str
    pending: int = 0
    sent: int = 0
    refused: int = 0
    failed: int = 0
    skipped: int = 0


class InvoicePreviewOut(Output):
    subscription_id: uuid.UUID
    stripe_customer_id: str
    currency: str | None
    subtotal_cents: int
    total_cents: int
    amount_due_cents: int
    period_start: datetime | None
    period_end: datetime | None
    lines: list[PreviewLineOut]
    usage: list[UsageStateOut]


class UsageRecordStateOut(Output):
    id: uuid.UUID
    metric_name: str
    quantity: int
    recorded_at: datetime
    stripe_status: str
    stripe_identifier: str | None
    stripe_attempts: int
    stripe_reported_at: datetime | None
    stripe_error: str | None


class QuotaOut(Output):
    name: str
    kind: str
    limit: int
    used: int
    remaining: int
    period_start: datetime | None
    period_end: datetime | None


class QuotasOut(Output):
    period_start: datetime
    period_end: datetime
    quotas: list[QuotaOut]
