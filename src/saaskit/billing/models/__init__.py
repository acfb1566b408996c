"""Billing tables (seeds 000, 001, 003 and 004); docs/schema.md says where each seed column went."""

from saaskit.billing.models.catalog import Coupon, SubscriptionPlan
from saaskit.billing.models.ledger import CreditLedgerEntry, DunningCase
from saaskit.billing.models.notices import BillingNotice
from saaskit.billing.models.payments import PaymentMethod, PaymentTransaction
from saaskit.billing.models.quotas import OrganizationQuotaUsage
from saaskit.billing.models.subscriptions import CouponRedemption, Invoice, InvoiceLineItem, Subscription
from saaskit.billing.models.usage import FeatureUsage, UsageRecord
from saaskit.billing.models.webhooks import StripeWebhookEvent

__all__ = [
    "BillingNotice",
    "Coupon",
    "CouponRedemption",
    "CreditLedgerEntry",
    "DunningCase",
    "FeatureUsage",
    "Invoice",
    "InvoiceLineItem",
    "OrganizationQuotaUsage",
    "PaymentMethod",
    "PaymentTransaction",
    "StripeWebhookEvent",
    "Subscription",
    "SubscriptionPlan",
    "UsageRecord",
]
