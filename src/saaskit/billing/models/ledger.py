"""The credit ledger (every change of a credit balance is a row) and dunning cases (a failed
subscription invoice followed through Stripe's retries, a grace period, then an action)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from saaskit.billing.models._common import optional_fk, owner_check, owner_org, owner_user
from saaskit.kit.models import Base, created_at_column, updated_at_column, uuid_pk

LEDGER_KINDS = ("grant", "purchase", "topup", "spend", "refund", "expiry", "adjustment")
DUNNING_STATUSES = ("open", "action_required", "recovered", "downgraded", "suspended", "closed")
OPEN_DUNNING = ("open", "action_required")


class CreditLedgerEntry(Base):
    __tablename__ = "credit_ledger"
    __table_args__ = (
        owner_check(),
        CheckConstraint(f"kind IN {LEDGER_KINDS}", name="kind_known"),
        CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        CheckConstraint("balance_after_cents >= 0", name="balance_not_negative"),
        Index("idx_credit_ledger_user_id_created_at", "user_id", "created_at"),
        Index("idx_credit_ledger_organization_id_created_at", "organization_id", "created_at"),
        Index("idx_credit_ledger_actor_id", "actor_id"),
        Index("idx_credit_ledger_payment_transaction_id", "payment_transaction_id"),
        Index("idx_credit_ledger_expires_at", "expires_at", postgresql_where=text("expires_at IS NOT NULL")),
        {
            "comment": "Credit ledger: one row per grant, purchase, top-up, spend, refund, expiry or "
            "adjustment; an owner's balance (users.credits_cents / organizations.credits_cents) is "
            "the sum of its rows, written in the same statement sequence under the owner's row lock."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = owner_user("Owning user (personal credits).")
    organization_id: Mapped[uuid.UUID | None] = owner_org("Owning organization (organization credits).")
    kind: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="grant, purchase (Checkout credit pack), topup (manual or automatic), spend, refund, "
        "expiry or adjustment (a platform admin's, with a reason).",
    )
    amount_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="Signed change of the balance, cents (spends are negative)."
    )
    balance_after_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, comment="The owner's balance right after this row, cents."
    )
    reason: Mapped[str | None] = mapped_column(Text, comment="Why: shown in the owner's history.")
    idempotency_key: Mapped[str | None] = mapped_column(
        Text,
        unique=True,
        comment="Writing the same key twice records once (e.g. checkout:cs_123, topup:<transaction>).",
    )
    actor_id: Mapped[uuid.UUID | None] = optional_fk(
        "users.id", "Who caused it (the spender, the admin adjusting); null: Stripe or a job."
    )
    payment_transaction_id: Mapped[uuid.UUID | None] = optional_fk(
        "payment_transactions.id", "The payment that bought these credits, if any."
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="A grant's unspent credits are taken back at this time (UTC)."
    )
    created_at: Mapped[datetime] = created_at_column()


class DunningCase(Base):
    __tablename__ = "dunning_cases"
    __table_args__ = (
        owner_check(),
        CheckConstraint(f"status IN {DUNNING_STATUSES}", name="status_known"),
        Index("idx_dunning_cases_user_id", "user_id"),
        Index("idx_dunning_cases_organization_id", "organization_id"),
        Index("idx_dunning_cases_subscription_id", "subscription_id"),
        Index(
            "idx_dunning_cases_open_grace",
            "grace_ends_at",
            postgresql_where=text(f"status IN {OPEN_DUNNING}"),
        ),
        {
            "comment": "Dunning: an unpaid subscription invoice followed through Stripe's retries "
            "(attempt_count, next_payment_attempt), notices, a grace period, then the configured "
            "action (downgrade or suspend) by the dunning job; recovered when the invoice is paid."
        },
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[Any] = owner_user("The paying user (personal billing).")
    organization_id: Mapped[Any] = owner_org("The paying organization.")
    subscription_id: Mapped[uuid.UUID | None] = optional_fk("subscriptions.id", "The unpaid subscription.")
    stripe_invoice_id: Mapped[str] = mapped_column(
        Text, nullable=False, unique=True, comment="The unpaid Stripe invoice (in_...): one case per invoice."
    )
    stripe_subscription_id: Mapped[str | None] = mapped_column(Text, comment="Its subscription (sub_...).")
    status: Mapped[str] = mapped_column(
        Text,
        nullable=False,
        comment="open (Stripe retrying), action_required (the customer must authenticate), recovered "
        "(paid), downgraded or suspended (grace over), closed (voided or subscription gone).",
    )
    attempt_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Stripe's attempts so far."
    )
    next_payment_attempt: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Stripe's next retry (UTC); null: Stripe stopped retrying."
    )
    amount_due_cents: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0"), comment="Amount due, cents."
    )
    currency: Mapped[str] = mapped_column(Text, nullable=False, server_default="usd", comment="ISO 4217.")
    hosted_invoice_url: Mapped[str | None] = mapped_column(
        Text, comment="Stripe's page where the customer pays or authenticates."
    )
    first_failed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="First failed attempt seen (UTC)."
    )
    grace_ends_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        comment="first_failed_at + the grace period: the job acts after it if still unpaid.",
    )
    resolved_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="When it left open/action_required (UTC)."
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
