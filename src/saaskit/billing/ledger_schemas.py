"""Request and response bodies of the credit ledger, Checkout, the portal and dunning."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, model_validator

from saaskit.kit.schemas import Input, Output, Timestamp

URL = Field(default=None, max_length=2000, pattern=r"^https?://")


class LedgerEntryOut(Output):
    id: uuid.UUID
    kind: str
    amount_cents: int
    balance_after_cents: int
    reason: str | None
    actor_id: uuid.UUID | None
    payment_transaction_id: uuid.UUID | None
    expires_at: datetime | None
    created_at: datetime


class BalanceOut(Output):
    balance_cents: int
    ledger_sum_cents: int


class CheckoutIn(Input):
    """A plan (``plan_id``) or a credit pack (``credits_cents``): exactly one."""

    plan_id: uuid.UUID | None = None
    credits_cents: int | None = Field(default=None, ge=100, le=10_000_000)
    success_url: str | None = URL
    cancel_url: str | None = URL

    @model_validator(mode="after")
    def _one(self) -> CheckoutIn:
        if (self.plan_id is None) == (self.credits_cents is None):
            raise ValueError("give either plan_id or credits_cents")
        return self


class CheckoutOut(Output):
    id: str
    url: str | None
    mode: str


class PortalIn(Input):
    return_url: str | None = URL


class PortalOut(Output):
    id: str
    url: str


class AutoTopupSetupIn(Input):
    """Save a card and turn auto top-up on once Stripe confirms it (``setup_intent.succeeded``)."""

    threshold_cents: int = Field(default=600, ge=0, le=10_000_000)
    amount_cents: int = Field(default=2400, ge=50, le=10_000_000)


class AdjustIn(Input):
    user_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    amount_cents: int = Field(ge=-10_000_000, le=10_000_000)
    reason: str = Field(min_length=1, max_length=500)
    kind: str = Field(default="adjustment", pattern="^(adjustment|grant)$")
    expires_at: Timestamp | None = None

    @model_validator(mode="after")
    def _one(self) -> AdjustIn:
        if (self.user_id is None) == (self.organization_id is None):
            raise ValueError("give either user_id or organization_id")
        if self.amount_cents == 0:
            raise ValueError("amount_cents must not be 0")
        return self


class DunningCaseOut(Output):
    id: uuid.UUID
    status: str
    stripe_invoice_id: str
    attempt_count: int
    next_payment_attempt: datetime | None
    amount_due_cents: int
    currency: str
    hosted_invoice_url: str | None
    first_failed_at: datetime
    grace_ends_at: datetime
    resolved_at: datetime | None
