"""Request and response bodies of the billing API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from saaskit.kit.schemas import INT32_MAX, INT64_MAX, Answer, Input, Output, Timestamp

Interval = Literal["month", "year"]
NAME = Field(min_length=1, max_length=200)
METRIC = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.:-]+$")


def _count(value: Any, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


class PlanIn(Input):
    name: str = NAME
    tier: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_-]+$")
    description: str | None = Field(default=None, max_length=1000)
    billing_interval: Interval
    price_cents: int = Field(ge=0, le=100_000_000)
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    trial_period_days: int = Field(default=0, ge=0, le=730)
    features: dict[str, Any] = Field(default_factory=dict)
    limits: dict[str, Any] = Field(default_factory=dict)
    is_active: bool = True
    is_public: bool = True

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Both land in integer columns: users.max_dashboards (integer), and quotas are compared
        # with feature_usage.usage_count (bigint).
        max_dashboards = value.get("max_dashboards")
        if max_dashboards is not None and not _count(max_dashboards, INT32_MAX):
            raise ValueError(f"max_dashboards must be an integer from 0 to {INT32_MAX}")
        quotas = value.get("quotas", {})
        if not isinstance(quotas, dict) or not all(_count(v, INT64_MAX) for v in quotas.values()):
            raise ValueError(f"quotas must map feature names to integers from 0 to {INT64_MAX}")
        return value


class PlanUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    price_cents: int | None = Field(default=None, ge=0, le=100_000_000)
    trial_period_days: int | None = Field(default=None, ge=0, le=730)
    features: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None
    is_active: bool | None = None
    is_public: bool | None = None

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else PlanIn._limits(value)


class PlanOut(Output):
    id: uuid.UUID
    name: str
    tier: str
    description: str | None
    billing_interval: str
    price_cents: int
    currency: str
    trial_period_days: int
    features: dict[str, Any]
    limits: dict[str, Any]
    is_active: bool
    is_public: bool
    stripe_product_id: str | None
    stripe_price_id: str | None


class CouponIn(Input):
    code: str = Field(min_length=2, max_length=50, pattern=r"^[A-Za-z0-9_-]+$")
    name: str | None = Field(default=None, max_length=200)
    discount_type: Literal["percent", "fixed"]
    discount_value: int = Field(gt=0, le=100_000_000)
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    duration: Literal["once", "repeating", "forever"] = "once"
    duration_in_months: int | None = Field(default=None, ge=1, le=120)
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    max_redemptions: int | None = Field(default=None, ge=1, le=INT32_MAX)
    plan_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    is_active: bool = True

    @field_validator("code")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _consistent(self) -> CouponIn:
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if (self.duration == "repeating") != (self.duration_in_months is not None):
            raise ValueError("duration_in_months is required for, and only for, repeating coupons")
        return self


class CouponOut(Output):
    id: uuid.UUID
    code: str
    name: str | None
    discount_type: str
    discount_value: int
    currency: str
    duration: str
    duration_in_months: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    max_redemptions: int | None
    times_redeemed: int
    plan_ids: list[uuid.UUID]
    is_active: bool
    stripe_coupon_id: str | None


class SubscribeIn(Input):
    plan_id: uuid.UUID
    coupon_code: str | None = Field(default=None, min_length=2, max_length=50)


class ChangePlanIn(Input):
    plan_id: uuid.UUID


class CancelIn(Input):
    at_period_end: bool = True


class SubscriptionOut(Output):
    id: uuid.UUID
    user_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    plan_id: uuid.UUID | None
    plan_name: str
    tier: str
    billing_interval: str | None
    status: str
    stripe_subscription_id: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_end: datetime | None
    cancel_at_period_end: bool
    cancelled_at: datetime | None
    ended_at: datetime | None
    started_at: datetime
    ends_at: datetime | None
    discount_cents: int | None = None


class InvoiceLineOut(Output):
    id: uuid.UUID
    description: str | None
    amount_cents: int
    currency: str
    quantity: int
    proration: bool
    period_start: datetime | None
    period_end: datetime | None


class InvoiceOut(Output):
    id: uuid.UUID
    subscription_id: uuid.UUID | None
    stripe_invoice_id: str
    number: str | None
    status: str
    currency: str
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    amount_due_cents: int
    amount_paid_cents: int
    period_start: datetime | None
    period_end: datetime | None
    hosted_invoice_url: str | None
    paid_at: datetime | None
    created_at: datetime
    lines: list[InvoiceLineOut] = Field(default_factory=list)


class SetupIntentOut(Output):
    setup_intent_id: str
    client_secret: str | None
    stripe_customer_id: str


class PaymentMethodIn(Input):
    setup_intent_id: str | None = Field(default=None, pattern=r"^seti_[A-Za-z0-9_]+$")
    payment_method_id: str | None = Field(default=None, pattern=r"^pm_[A-Za-z0-9_]+$")
    make_default: bool = True

    @model_validator(mode="after")
    def _one(self) -> PaymentMethodIn:
        if (self.setup_intent_id is None) == (self.payment_method_id is None):
            raise ValueError("give exactly one of setup_intent_id and payment_method_id")
        return self


class PaymentMethodOut(Output):
    id: uuid.UUID
    type: str
    provider_payment_method_id: str
    card_brand: str | None
    card_last4: str | None
    card_exp_month: int | None
    card_exp_year: int | None
    is_default: bool
    created_at: datetime


class CreditsOut(Output):
    credits_cents: int
    total_spent_cents: int
    auto_topup_enabled: bool
    auto_topup_threshold_cents: int
    auto_topup_amount_cents: int
    has_payment_method: bool


class AutoTopupIn(Input):
    enabled: bool
    threshold_cents: int | None = Field(default=None, ge=0, le=10_000_000)
    amount_cents: int | None = Field(default=None, ge=50, le=10_000_000)


class SpendIn(Input):
    amount_cents: int = Field(gt=0, le=10_000_000)
    description: str | None = Field(default=None, max_length=200)


class SpendOut(Output):
    credits_cents: int
    topup_transaction_id: uuid.UUID | None


class TopUpIn(Input):
    amount_cents: int = Field(ge=50, le=10_000_000)


class TransactionOut(Output):
    id: uuid.UUID
    kind: str
    status: str
    amount_cents: int
    currency: str
    credits_cents: int
    refunded_cents: int
    stripe_payment_intent_id: str | None
    failure_code: str | None
    failure_message: str | None
    receipt_url: str | None
    created_at: datetime


class UsageIn(Input):
    metric_name: str = METRIC
    quantity: int = Field(default=1, ge=0, le=1_000_000_000)
    idempotency_key: str = Field(min_length=1, max_length=200)
    unique_key: str | None = Field(default=None, max_length=200)
    unit_price_cents: int | None = Field(default=None, ge=0, le=INT32_MAX)
    recorded_at: Timestamp | None = None
    feature_category: str | None = Field(default=None, max_length=100)
    success: bool = True
    duration_seconds: int = Field(default=0, ge=0, le=86_400 * 31)


class UsageOut(Output):
    id: uuid.UUID
    metric_name: str
    quantity: int
    unique_key: str | None
    idempotency_key: str
    billing_period_start: datetime
    billing_period_end: datetime
    recorded_at: datetime


class UsageTotal(Output):
    metric_name: str
    sum: int
    count: int
    max: int
    unique_count: int
    quota: int | None


class UsageTotalsOut(Output):
    period_start: datetime
    period_end: datetime
    metrics: list[UsageTotal]


class WebhookEventOut(Output):
    id: uuid.UUID
    stripe_event_id: str
    event_type: str
    processing_status: str
    retry_count: int
    error_message: str | None
    user_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    old_tier: str | None
    new_tier: str | None
    processed_at: datetime | None
    created_at: datetime


class WebhookReceived(Answer):
    """``POST /api/billing/stripe/webhook`` 200: the signed event is stored; a job processes it."""

    received: Literal[True] = Field(description="Always true.")
    duplicate: bool = Field(
        description="True when an event with this Stripe id was received before (a retry): "
        "nothing new is stored."
    )
    id: uuid.UUID | None = Field(
        description="The stored event (stripe_webhook_events.id); null for a duplicate."
    )
