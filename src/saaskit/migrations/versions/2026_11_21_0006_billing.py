"""Billing: plans, subscriptions, invoices and lines, payment methods and transactions, coupons
and redemptions, usage records, feature usage counters and the Stripe webhook event log.

RLS: billing rows are owned by a user or an organization and visible to that owner
(``user_id = app_user_id()`` or ``organization_id = app_organization_id()``) and to the service;
the catalog (plans, coupons) is readable by everyone and written by the service (jobs, platform
admins) only; the webhook log is the service's alone. ``app_claim_coupon`` is the one way a
customer's transaction may count a coupon redemption: an atomic conditional increment.

Also: ``organizations.stripe_customer_id`` and the foreign key ``organizations.subscription_id``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 21:31:49
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNED_TABLES = (
    "subscriptions",
    "invoices",
    "invoice_line_items",
    "coupon_redemptions",
    "payment_methods",
    "payment_transactions",
    "usage_records",
)
CATALOG_TABLES = ("subscription_plans", "coupons")
OWNER = "app_is_service() OR user_id = app_user_id() OR organization_id = app_organization_id()"

RLS_UP = [
    *[f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY" for t in (*OWNED_TABLES, *CATALOG_TABLES)],
    *[f"CREATE POLICY {t}_owner ON {t} USING ({OWNER}) WITH CHECK ({OWNER})" for t in OWNED_TABLES],
    *[f"CREATE POLICY {t}_read ON {t} FOR SELECT USING (true)" for t in CATALOG_TABLES],
    *[
        f"CREATE POLICY {t}_write ON {t} FOR ALL USING (app_is_service()) WITH CHECK (app_is_service())"
        for t in CATALOG_TABLES
    ],
    "ALTER TABLE feature_usage ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY feature_usage_owner ON feature_usage "
    "USING (app_is_service() OR user_id = app_user_id()) WITH CHECK (app_is_service() OR user_id = app_user_id())",
    "ALTER TABLE stripe_webhook_events ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY stripe_webhook_events_service ON stripe_webhook_events "
    "USING (app_is_service()) WITH CHECK (app_is_service())",
]

# Customers may not write the catalog, yet redeeming a coupon must count: this function does
# the count as the owner, atomically (concurrent claims queue on the row lock and re-check).
CLAIM_COUPON = """
CREATE FUNCTION app_claim_coupon(p_coupon_id uuid) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH claimed AS (
    UPDATE coupons SET times_redeemed = times_redeemed + 1, updated_at = now()
    WHERE id = p_coupon_id AND is_active
      AND (valid_from IS NULL OR valid_from <= now())
      AND (valid_until IS NULL OR valid_until > now())
      AND (max_redemptions IS NULL OR times_redeemed < max_redemptions)
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM claimed)
$$;
COMMENT ON FUNCTION app_claim_coupon(uuid) IS
  'Counts one redemption of a coupon if it is active, in its window and under max_redemptions.';
"""


def upgrade() -> None:
    op.create_table(
        "coupons",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "code", sa.Text(), nullable=False, comment="What customers type, upper case, e.g. WELCOME20."
        ),
        sa.Column("name", sa.Text(), nullable=True, comment="Internal description of the campaign."),
        sa.Column("discount_type", sa.Text(), nullable=False, comment="percent or fixed."),
        sa.Column(
            "discount_value",
            sa.Integer(),
            nullable=False,
            comment="Percent off (1-100) for percent coupons; cents off for fixed ones.",
        ),
        sa.Column(
            "currency",
            sa.Text(),
            server_default="usd",
            nullable=False,
            comment="Currency of a fixed discount (ISO 4217).",
        ),
        sa.Column(
            "duration",
            sa.Text(),
            server_default="once",
            nullable=False,
            comment="How long the discount lasts on a subscription: once, repeating or forever.",
        ),
        sa.Column(
            "duration_in_months",
            sa.Integer(),
            nullable=True,
            comment="Months of discount when duration is repeating.",
        ),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Redeemable from this time (UTC); null: already.",
        ),
        sa.Column(
            "valid_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Redeemable until this time (UTC); null: no end.",
        ),
        sa.Column(
            "max_redemptions",
            sa.Integer(),
            nullable=True,
            comment="Redemptions allowed in total; null: unlimited.",
        ),
        sa.Column(
            "times_redeemed",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Redemptions so far (incremented atomically, never above max_redemptions).",
        ),
        sa.Column(
            "plan_ids",
            sa.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'::uuid[]"),
            nullable=False,
            comment="Plans the coupon is restricted to; empty: every plan.",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
            comment="Switch to turn the coupon off.",
        ),
        sa.Column(
            "stripe_coupon_id",
            sa.Text(),
            nullable=True,
            comment="The matching Stripe coupon, created by sync-plans.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "discount_type IN ('percent', 'fixed')", name=op.f("ck_coupons_discount_type_known")
        ),
        sa.CheckConstraint(
            "discount_value > 0 AND (discount_type <> 'percent' OR discount_value <= 100)",
            name=op.f("ck_coupons_discount_value_range"),
        ),
        sa.CheckConstraint(
            "duration IN ('once', 'repeating', 'forever')", name=op.f("ck_coupons_duration_known")
        ),
        sa.CheckConstraint("code = upper(code)", name=op.f("ck_coupons_code_upper_case")),
        sa.CheckConstraint(
            "max_redemptions IS NULL OR times_redeemed <= max_redemptions",
            name=op.f("ck_coupons_redemptions_within_max"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_coupons_code")),
        sa.UniqueConstraint("stripe_coupon_id", name=op.f("uq_coupons_stripe_coupon_id")),
        comment="Discount codes: percent or fixed, valid in a window, limited in redemptions and plans.",
    )
    op.create_table(
        "subscription_plans",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="Display name, unique, e.g. Pro (monthly)."),
        sa.Column(
            "tier",
            sa.Text(),
            nullable=False,
            comment="Tier granted while subscribed (written to users.tier), e.g. pro.",
        ),
        sa.Column(
            "description", sa.Text(), nullable=True, comment="One-line pitch shown on the pricing page."
        ),
        sa.Column("billing_interval", sa.Text(), nullable=False, comment="month or year."),
        sa.Column("price_cents", sa.Integer(), nullable=False, comment="Price per interval, in cents."),
        sa.Column(
            "currency",
            sa.Text(),
            server_default="usd",
            nullable=False,
            comment="ISO 4217 currency, lower case (usd, eur).",
        ),
        sa.Column(
            "trial_period_days",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Free trial length in days (0: none).",
        ),
        sa.Column(
            "features",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment='Feature flags of the plan as a JSON object, e.g. {"exports": true}.',
        ),
        sa.Column(
            "limits",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment='Limits: {"max_dashboards": n, "quotas": {feature_name: uses per billing period}}.',
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
            comment="New subscriptions may choose it.",
        ),
        sa.Column(
            "is_public",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
            comment="Listed on the public pricing endpoint.",
        ),
        sa.Column(
            "stripe_product_id",
            sa.Text(),
            nullable=True,
            comment="Stripe product (prod_...) created by sync-plans.",
        ),
        sa.Column(
            "stripe_price_id",
            sa.Text(),
            nullable=True,
            comment="Stripe price (price_...) for the current amount and interval; a plan id on servers without Prices.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "billing_interval IN ('month', 'year')", name=op.f("ck_subscription_plans_billing_interval_known")
        ),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_subscription_plans_price_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_plans")),
        sa.UniqueConstraint("name", name=op.f("uq_subscription_plans_name")),
        sa.UniqueConstraint("stripe_price_id", name=op.f("uq_subscription_plans_stripe_price_id")),
        sa.UniqueConstraint("stripe_product_id", name=op.f("uq_subscription_plans_stripe_product_id")),
        comment="What can be bought: a tier at a price per month or year, with its features and limits.",
    )
    op.create_index("idx_subscription_plans_tier", "subscription_plans", ["tier"], unique=False)
    op.create_table(
        "feature_usage",
        sa.Column("user_id", sa.UUID(), nullable=False, comment="User consuming the feature."),
        sa.Column(
            "feature_name",
            sa.Text(),
            nullable=False,
            comment="Feature counted, e.g. photo_uploads, api_calls.",
        ),
        sa.Column("period_start", sa.Date(), nullable=False, comment="First day of the period."),
        sa.Column(
            "reset_date",
            sa.Date(),
            nullable=False,
            comment="Day the counter resets (the next period's start).",
        ),
        sa.Column("feature_category", sa.Text(), nullable=True, comment="Group of the feature (seed 004)."),
        sa.Column(
            "usage_count",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Uses in the period (checked against the quota).",
        ),
        sa.Column(
            "success_count",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Uses that succeeded (seed 004's success).",
        ),
        sa.Column(
            "failure_count",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Uses that failed.",
        ),
        sa.Column(
            "total_duration_seconds",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Seconds spent in the feature, summed (seed 004's duration_seconds).",
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True, comment="Latest use (UTC)."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_feature_usage_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "feature_name", "period_start", name=op.f("pk_feature_usage")),
        comment="Per-user, per-feature counters for one period (seed 000), with seed 004's category, success and duration figures as counters; plan quotas are checked against usage_count.",
    )
    op.create_index("idx_feature_usage_reset_date", "feature_usage", ["reset_date"], unique=False)
    op.create_table(
        "payment_methods",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=True,
            comment="Owning user (personal billing); null when an organization owns the row.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Owning organization (tenant billing); null when a user owns the row.",
        ),
        sa.Column("type", sa.Text(), server_default="card", nullable=False, comment="card, sepa_debit ..."),
        sa.Column(
            "provider",
            sa.Text(),
            server_default="stripe",
            nullable=False,
            comment="Payment provider holding the token.",
        ),
        sa.Column(
            "provider_payment_method_id",
            sa.Text(),
            nullable=False,
            comment="The provider's token for it (Stripe pm_...).",
        ),
        sa.Column(
            "stripe_customer_id", sa.Text(), nullable=True, comment="Stripe customer it is attached to."
        ),
        sa.Column("card_brand", sa.Text(), nullable=True, comment="visa, mastercard, amex ..."),
        sa.Column("card_last4", sa.Text(), nullable=True, comment="Last four digits of the card number."),
        sa.Column("card_exp_month", sa.Integer(), nullable=True, comment="Expiry month (1-12)."),
        sa.Column("card_exp_year", sa.Integer(), nullable=True, comment="Expiry year (4 digits)."),
        sa.Column(
            "card_fingerprint_hash",
            sa.Text(),
            nullable=True,
            comment="Salted HMAC of Stripe's card fingerprint: the same card across accounts (abuse checks).",
        ),
        sa.Column(
            "is_default",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Charged for renewals and top-ups.",
        ),
        sa.Column(
            "detached_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Removed from the customer at this time (UTC).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "num_nonnulls(user_id, organization_id) = 1", name=op.f("ck_payment_methods_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_payment_methods_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_payment_methods_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint(
            "provider_payment_method_id", name=op.f("uq_payment_methods_provider_payment_method_id")
        ),
        comment="Cards saved at Stripe (never the number): brand, last 4 digits, hashed fingerprint.",
    )
    op.create_index(
        "idx_payment_methods_card_fingerprint_hash",
        "payment_methods",
        ["card_fingerprint_hash"],
        unique=False,
    )
    op.create_index(
        "idx_payment_methods_organization_id", "payment_methods", ["organization_id"], unique=False
    )
    op.create_index("idx_payment_methods_user_id", "payment_methods", ["user_id"], unique=False)
    op.create_index(
        "uq_payment_methods_default_organization",
        "payment_methods",
        ["organization_id"],
        unique=True,
        postgresql_where=sa.text("is_default AND organization_id IS NOT NULL"),
    )
    op.create_index(
        "uq_payment_methods_default_user",
        "payment_methods",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("is_default AND user_id IS NOT NULL"),
    )
    op.create_table(
        "stripe_webhook_events",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "stripe_event_id",
            sa.Text(),
            nullable=False,
            comment="Stripe's event id (evt_...): a re-delivery is a no-op.",
        ),
        sa.Column("event_type", sa.Text(), nullable=False, comment="e.g. invoice.paid."),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=True,
            comment="User the event was about, once processing found out.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization the event was about, once processing found out.",
        ),
        sa.Column(
            "old_tier", sa.Text(), nullable=True, comment="Tier before the event, when it changed one."
        ),
        sa.Column("new_tier", sa.Text(), nullable=True, comment="Tier after the event, when it changed one."),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When processing finished (UTC).",
        ),
        sa.Column(
            "event_data",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The whole event as Stripe sent it.",
        ),
        sa.Column(
            "processing_status",
            sa.Text(),
            server_default="pending",
            nullable=False,
            comment="pending (queued or retrying), processed, failed (retries exhausted) or ignored (type not handled).",
        ),
        sa.Column("error_message", sa.Text(), nullable=True, comment="The latest processing error."),
        sa.Column(
            "retry_count",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Failed processing attempts so far.",
        ),
        sa.Column(
            "stripe_created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When Stripe created the event (its ordering clock).",
        ),
        sa.Column(
            "api_version", sa.Text(), nullable=True, comment="Stripe API version the payload is shaped by."
        ),
        sa.Column(
            "livemode", sa.Boolean(), nullable=True, comment="True for live-mode events, false for test mode."
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the webhook was received (UTC).",
        ),
        sa.CheckConstraint(
            "processing_status IN ('pending', 'processed', 'failed', 'ignored')",
            name=op.f("ck_stripe_webhook_events_processing_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_stripe_webhook_events_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_stripe_webhook_events_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_webhook_events")),
        sa.UniqueConstraint("stripe_event_id", name=op.f("uq_stripe_webhook_events_stripe_event_id")),
        comment="Stripe webhook events as received (audit trail, kept 7 years) and how processing went.",
    )
    op.create_index(
        "idx_stripe_webhook_events_created_at", "stripe_webhook_events", ["created_at"], unique=False
    )
    op.create_index(
        "idx_stripe_webhook_events_event_type", "stripe_webhook_events", ["event_type"], unique=False
    )
    op.create_index(
        "idx_stripe_webhook_events_processing_status",
        "stripe_webhook_events",
        ["processing_status"],
        unique=False,
    )
    op.create_index("idx_stripe_webhook_events_user_id", "stripe_webhook_events", ["user_id"], unique=False)
    op.create_table(
        "subscriptions",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=True,
            comment="Owning user (personal billing); null when an organization owns the row.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Owning organization (tenant billing); null when a user owns the row.",
        ),
        sa.Column(
            "plan_id",
            sa.UUID(),
            nullable=True,
            comment="The plan subscribed to (null if Stripe names a price saaskit does not know).",
        ),
        sa.Column(
            "plan_name",
            sa.Text(),
            nullable=False,
            comment="The plan's name when subscribed, kept beside plan_id for reports.",
        ),
        sa.Column("tier", sa.Text(), nullable=False, comment="Tier the plan grants, e.g. pro."),
        sa.Column(
            "billing_interval", sa.Text(), nullable=True, comment="month or year (seed 002's duration)."
        ),
        sa.Column(
            "status",
            sa.Text(),
            nullable=False,
            comment="trialing, active, past_due, cancelled, expired or incomplete (Stripe's, in our words).",
        ),
        sa.Column(
            "stripe_status",
            sa.Text(),
            nullable=True,
            comment="Stripe's own status word (canceled, unpaid, incomplete_expired ...).",
        ),
        sa.Column(
            "stripe_subscription_id", sa.Text(), nullable=True, comment="Stripe subscription (sub_...)."
        ),
        sa.Column(
            "stripe_subscription_item_id",
            sa.Text(),
            nullable=True,
            comment="The subscription's item (si_...) whose price changes on a plan change.",
        ),
        sa.Column(
            "stripe_customer_id", sa.Text(), nullable=True, comment="Stripe customer (cus_...) billed."
        ),
        sa.Column(
            "stripe_price_id", sa.Text(), nullable=True, comment="Stripe price (or legacy plan) subscribed."
        ),
        sa.Column(
            "quantity",
            sa.Integer(),
            server_default=sa.text("1"),
            nullable=False,
            comment="Units of the plan (seats).",
        ),
        sa.Column(
            "current_period_start",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Start of the period being billed (UTC).",
        ),
        sa.Column(
            "current_period_end",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="End of the period being billed: next renewal (UTC).",
        ),
        sa.Column("trial_start", sa.DateTime(timezone=True), nullable=True, comment="Trial start (UTC)."),
        sa.Column("trial_end", sa.DateTime(timezone=True), nullable=True, comment="Trial end (UTC)."),
        sa.Column(
            "cancel_at_period_end",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Ends when the current period ends instead of renewing.",
        ),
        sa.Column(
            "cancel_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Scheduled end (UTC), when one is set.",
        ),
        sa.Column(
            "cancelled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the cancellation was requested (UTC).",
        ),
        sa.Column(
            "ended_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the subscription actually ended (UTC).",
        ),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the subscription started (UTC) (seed 002).",
        ),
        sa.Column(
            "ends_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When access ends unless renewed (UTC): trial end, period end, cancel date or end (seed 002).",
        ),
        sa.Column(
            "stripe_updated_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Time of the Stripe state last applied (event creation or API answer): older events are ignored.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "status IN ('trialing', 'active', 'past_due', 'cancelled', 'expired', 'incomplete')",
            name=op.f("ck_subscriptions_status_known"),
        ),
        sa.CheckConstraint(
            "num_nonnulls(user_id, organization_id) = 1", name=op.f("ck_subscriptions_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_subscriptions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["subscription_plans.id"],
            name=op.f("fk_subscriptions_plan_id_subscription_plans"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_subscriptions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("stripe_subscription_id", name=op.f("uq_subscriptions_stripe_subscription_id")),
        comment="A user's or an organization's subscription to a plan, mirrored from Stripe.",
    )
    op.create_index(
        "idx_subscriptions_current_period_end", "subscriptions", ["current_period_end"], unique=False
    )
    op.create_index("idx_subscriptions_ends_at", "subscriptions", ["ends_at"], unique=False)
    op.create_index("idx_subscriptions_organization_id", "subscriptions", ["organization_id"], unique=False)
    op.create_index("idx_subscriptions_status", "subscriptions", ["status"], unique=False)
    op.create_index(
        "idx_subscriptions_stripe_customer_id", "subscriptions", ["stripe_customer_id"], unique=False
    )
    op.create_index("idx_subscriptions_user_id", "subscriptions", ["user_id"], unique=False)
    op.create_table(
        "coupon_redemptions",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("coupon_id", sa.UUID(), nullable=False, comment="The coupon redeemed."),
        sa.Column("user_id", sa.UUID(), nullable=True, comment="User who redeemed it (personal billing)."),
        sa.Column("organization_id", sa.UUID(), nullable=True, comment="Organization that redeemed it."),
        sa.Column(
            "subscription_id", sa.UUID(), nullable=True, comment="Subscription the discount applies to."
        ),
        sa.Column("coupon_code", sa.Text(), nullable=False, comment="The code, kept for reports."),
        sa.Column(
            "discount_amount_cents",
            sa.Integer(),
            nullable=False,
            comment="Discount on the first charge of the plan, in cents.",
        ),
        sa.Column(
            "redeemed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When it was redeemed (UTC).",
        ),
        sa.CheckConstraint(
            "num_nonnulls(user_id, organization_id) = 1", name=op.f("ck_coupon_redemptions_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"],
            ["coupons.id"],
            name=op.f("fk_coupon_redemptions_coupon_id_coupons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_coupon_redemptions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_coupon_redemptions_subscription_id_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_coupon_redemptions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_redemptions")),
        comment="A coupon used by a user or an organization: at most once each.",
    )
    op.create_index("idx_coupon_redemptions_coupon_id", "coupon_redemptions", ["coupon_id"], unique=False)
    op.create_index(
        "idx_coupon_redemptions_organization_id", "coupon_redemptions", ["organization_id"], unique=False
    )
    op.create_index(
        "uq_coupon_redemptions_coupon_id_organization_id",
        "coupon_redemptions",
        ["coupon_id", "organization_id"],
        unique=True,
        postgresql_where=sa.text("organization_id IS NOT NULL"),
    )
    op.create_index(
        "uq_coupon_redemptions_coupon_id_user_id",
        "coupon_redemptions",
        ["coupon_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_table(
        "invoices",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=True,
            comment="Owning user (personal billing); null when an organization owns the row.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Owning organization (tenant billing); null when a user owns the row.",
        ),
        sa.Column("subscription_id", sa.UUID(), nullable=True, comment="Subscription billed, if any."),
        sa.Column("stripe_invoice_id", sa.Text(), nullable=False, comment="Stripe invoice (in_...)."),
        sa.Column("stripe_customer_id", sa.Text(), nullable=True, comment="Stripe customer billed."),
        sa.Column(
            "stripe_subscription_id",
            sa.Text(),
            nullable=True,
            comment="Stripe subscription billed (links the invoice when it arrives before the subscription).",
        ),
        sa.Column(
            "stripe_payment_intent_id",
            sa.Text(),
            nullable=True,
            comment="PaymentIntent that paid the invoice, when Stripe says.",
        ),
        sa.Column("number", sa.Text(), nullable=True, comment="Invoice number shown to the customer."),
        sa.Column("status", sa.Text(), nullable=False, comment="draft, open, paid, void or uncollectible."),
        sa.Column(
            "billing_reason",
            sa.Text(),
            nullable=True,
            comment="Why Stripe issued it: subscription_create, subscription_cycle, manual ...",
        ),
        sa.Column("currency", sa.Text(), server_default="usd", nullable=False, comment="ISO 4217."),
        sa.Column(
            "subtotal_cents",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Sum of the lines before discounts, cents.",
        ),
        sa.Column(
            "discount_cents",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Discounts applied, cents.",
        ),
        sa.Column(
            "total_cents",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Total after discounts and tax, cents.",
        ),
        sa.Column(
            "amount_due_cents",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="What is owed, cents.",
        ),
        sa.Column(
            "amount_paid_cents",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="What was paid, cents.",
        ),
        sa.Column(
            "attempt_count",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Payment attempts made by Stripe.",
        ),
        sa.Column(
            "period_start",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Start of the billed period (UTC).",
        ),
        sa.Column(
            "period_end", sa.DateTime(timezone=True), nullable=True, comment="End of the billed period (UTC)."
        ),
        sa.Column(
            "hosted_invoice_url", sa.Text(), nullable=True, comment="Stripe page where it can be paid."
        ),
        sa.Column("invoice_pdf_url", sa.Text(), nullable=True, comment="Stripe's PDF of the invoice."),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True, comment="Finalized (UTC)."),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True, comment="Paid (UTC)."),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True, comment="Voided (UTC)."),
        sa.Column(
            "last_payment_error",
            sa.Text(),
            nullable=True,
            comment="Why the latest payment attempt failed, if it did.",
        ),
        sa.Column(
            "stripe_created_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When Stripe created the invoice (UTC).",
        ),
        sa.Column(
            "stripe_updated_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Time of the Stripe state last applied; older events are ignored.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'void', 'uncollectible')",
            name=op.f("ck_invoices_status_known"),
        ),
        sa.CheckConstraint("num_nonnulls(user_id, organization_id) = 1", name=op.f("ck_invoices_one_owner")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invoices_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoices_subscription_id_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invoices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_invoices_stripe_invoice_id")),
        comment="Invoices issued by Stripe for a subscription or a one-off charge, mirrored here.",
    )
    op.create_index("idx_invoices_created_at", "invoices", ["created_at"], unique=False)
    op.create_index("idx_invoices_organization_id", "invoices", ["organization_id"], unique=False)
    op.create_index("idx_invoices_subscription_id", "invoices", ["subscription_id"], unique=False)
    op.create_index("idx_invoices_user_id", "invoices", ["user_id"], unique=False)
    op.create_table(
        "usage_records",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=True,
            comment="Owning user (personal billing); null when an organization owns the row.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Owning organization (tenant billing); null when a user owns the row.",
        ),
        sa.Column(
            "subscription_id",
            sa.UUID(),
            nullable=True,
            comment="Subscription whose period the usage falls in, if any.",
        ),
        sa.Column("metric_name", sa.Text(), nullable=False, comment="What was used, e.g. api_calls."),
        sa.Column("quantity", sa.BigInteger(), nullable=False, comment="How much (units of the metric)."),
        sa.Column(
            "unit_price_cents",
            sa.Integer(),
            nullable=True,
            comment="Price per unit in cents when the usage is billed.",
        ),
        sa.Column(
            "unique_key",
            sa.Text(),
            nullable=True,
            comment="What the unique count counts (a device, a document ...), if the metric has one.",
        ),
        sa.Column(
            "idempotency_key",
            sa.Text(),
            nullable=False,
            comment="Client key: the same key twice records once.",
        ),
        sa.Column(
            "billing_period_start",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Start of the billing period the usage counts in (UTC).",
        ),
        sa.Column(
            "billing_period_end",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="End of that billing period (UTC).",
        ),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the usage happened (UTC).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.CheckConstraint(
            "num_nonnulls(user_id, organization_id) = 1", name=op.f("ck_usage_records_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_usage_records_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_records_subscription_id_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_records_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        comment="Metered usage reported by the product, one row per report (idempotent by key).",
    )
    op.create_index(
        "idx_usage_records_organization_id_metric_name_recorded_at",
        "usage_records",
        ["organization_id", "metric_name", "recorded_at"],
        unique=False,
    )
    op.create_index("idx_usage_records_subscription_id", "usage_records", ["subscription_id"], unique=False)
    op.create_index(
        "idx_usage_records_user_id_metric_name_recorded_at",
        "usage_records",
        ["user_id", "metric_name", "recorded_at"],
        unique=False,
    )
    op.create_index(
        "uq_usage_records_organization_id_idempotency_key",
        "usage_records",
        ["organization_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("organization_id IS NOT NULL"),
    )
    op.create_index(
        "uq_usage_records_user_id_idempotency_key",
        "usage_records",
        ["user_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_table(
        "invoice_line_items",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column("invoice_id", sa.UUID(), nullable=False, comment="Invoice the line belongs to."),
        sa.Column(
            "user_id", sa.UUID(), nullable=True, comment="Owning user (copied from the invoice, for RLS)."
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Owning organization (copied from the invoice).",
        ),
        sa.Column("subscription_id", sa.UUID(), nullable=True, comment="Subscription charged, if any."),
        sa.Column("plan_id", sa.UUID(), nullable=True, comment="Plan charged, if known."),
        sa.Column("stripe_line_item_id", sa.Text(), nullable=False, comment="Stripe line item (il_...)."),
        sa.Column(
            "stripe_price_id", sa.Text(), nullable=True, comment="Stripe price (or legacy plan) charged."
        ),
        sa.Column("description", sa.Text(), nullable=True, comment="Text of the line as Stripe shows it."),
        sa.Column(
            "amount_cents",
            sa.Integer(),
            nullable=False,
            comment="Line amount in cents (negative for credits).",
        ),
        sa.Column("currency", sa.Text(), server_default="usd", nullable=False, comment="ISO 4217."),
        sa.Column("quantity", sa.Integer(), server_default=sa.text("1"), nullable=False, comment="Units."),
        sa.Column(
            "proration",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="A proration from a plan change in the middle of a period.",
        ),
        sa.Column(
            "period_start",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Start of the period the line covers (UTC).",
        ),
        sa.Column(
            "period_end",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="End of the period the line covers (UTC).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.CheckConstraint(
            "num_nonnulls(user_id, organization_id) = 1", name=op.f("ck_invoice_line_items_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_line_items_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invoice_line_items_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["subscription_plans.id"],
            name=op.f("fk_invoice_line_items_plan_id_subscription_plans"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoice_line_items_subscription_id_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_invoice_line_items_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_line_items")),
        sa.UniqueConstraint("stripe_line_item_id", name=op.f("uq_invoice_line_items_stripe_line_item_id")),
        comment="The lines of an invoice: plan charges, prorations (credits are negative), one-offs.",
    )
    op.create_index("idx_invoice_line_items_invoice_id", "invoice_line_items", ["invoice_id"], unique=False)
    op.create_index(
        "idx_invoice_line_items_organization_id", "invoice_line_items", ["organization_id"], unique=False
    )
    op.create_index("idx_invoice_line_items_user_id", "invoice_line_items", ["user_id"], unique=False)
    op.create_table(
        "payment_transactions",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=True,
            comment="Owning user (personal billing); null when an organization owns the row.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Owning organization (tenant billing); null when a user owns the row.",
        ),
        sa.Column("kind", sa.Text(), nullable=False, comment="subscription, topup or auto_topup."),
        sa.Column(
            "status",
            sa.Text(),
            nullable=False,
            comment="pending (no PaymentIntent yet), processing, succeeded, failed, refunded, partially_refunded.",
        ),
        sa.Column("amount_cents", sa.Integer(), nullable=False, comment="Amount charged, cents."),
        sa.Column("currency", sa.Text(), server_default="usd", nullable=False, comment="ISO 4217."),
        sa.Column(
            "credits_cents",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Credits granted when it succeeds, cents.",
        ),
        sa.Column(
            "refunded_cents",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Refunded so far, cents.",
        ),
        sa.Column(
            "stripe_payment_intent_id",
            sa.Text(),
            nullable=True,
            comment="Stripe PaymentIntent (pi_...): one row per payment intent.",
        ),
        sa.Column(
            "stripe_charge_id", sa.Text(), nullable=True, comment="Stripe charge (ch_...) that moved it."
        ),
        sa.Column(
            "stripe_invoice_id",
            sa.Text(),
            nullable=True,
            comment="Stripe invoice paid by it (subscription payments).",
        ),
        sa.Column("invoice_id", sa.UUID(), nullable=True, comment="Invoice paid, if any."),
        sa.Column("subscription_id", sa.UUID(), nullable=True, comment="Subscription paid for, if any."),
        sa.Column("receipt_url", sa.Text(), nullable=True, comment="Stripe's receipt page."),
        sa.Column("failure_code", sa.Text(), nullable=True, comment="Stripe's decline code when it failed."),
        sa.Column("failure_message", sa.Text(), nullable=True, comment="Why it failed, in Stripe's words."),
        sa.Column(
            "credited_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When its credits were added (set once: credits are added exactly once).",
        ),
        sa.Column(
            "succeeded_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the payment succeeded (UTC); counted in total_spent_cents once.",
        ),
        sa.Column("description", sa.Text(), nullable=True, comment="What the payment was for."),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Extra facts (the PaymentIntent's metadata).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint(
            "kind IN ('subscription', 'topup', 'auto_topup')", name=op.f("ck_payment_transactions_kind_known")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'succeeded', 'failed', 'refunded', 'partially_refunded')",
            name=op.f("ck_payment_transactions_status_known"),
        ),
        sa.CheckConstraint(
            "num_nonnulls(user_id, organization_id) = 1", name=op.f("ck_payment_transactions_one_owner")
        ),
        sa.CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= amount_cents",
            name=op.f("ck_payment_transactions_refund_within_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_payment_transactions_invoice_id_invoices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_payment_transactions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_payment_transactions_subscription_id_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_payment_transactions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_transactions")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_payment_transactions_stripe_invoice_id")),
        sa.UniqueConstraint(
            "stripe_payment_intent_id", name=op.f("uq_payment_transactions_stripe_payment_intent_id")
        ),
        comment="Money moved: subscription invoice payments and credit top-ups, with refunds.",
    )
    op.create_index(
        "idx_payment_transactions_created_at", "payment_transactions", ["created_at"], unique=False
    )
    op.create_index(
        "idx_payment_transactions_organization_id", "payment_transactions", ["organization_id"], unique=False
    )
    op.create_index("idx_payment_transactions_user_id", "payment_transactions", ["user_id"], unique=False)
    op.create_index(
        "uq_payment_transactions_in_flight_topup",
        "payment_transactions",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("kind IN ('topup', 'auto_topup') AND status IN ('pending', 'processing')"),
    )
    op.add_column(
        "organizations",
        sa.Column(
            "stripe_customer_id",
            sa.Text(),
            nullable=True,
            comment="Stripe customer id (cus_...) billed for the organization.",
        ),
    )
    op.create_unique_constraint(
        op.f("uq_organizations_stripe_customer_id"), "organizations", ["stripe_customer_id"]
    )
    op.create_foreign_key(
        op.f("fk_organizations_subscription_id_subscriptions"),
        "organizations",
        "subscriptions",
        ["subscription_id"],
        ["id"],
        ondelete="SET NULL",
        use_alter=True,
    )
    for statement in RLS_UP:
        op.execute(statement)
    op.execute(CLAIM_COUPON)


def downgrade() -> None:
    op.execute("DROP FUNCTION app_claim_coupon(uuid)")
    op.drop_constraint(
        op.f("fk_organizations_subscription_id_subscriptions"), "organizations", type_="foreignkey"
    )
    op.drop_constraint(op.f("uq_organizations_stripe_customer_id"), "organizations", type_="unique")
    op.drop_column("organizations", "stripe_customer_id")
    op.drop_index(
        "uq_payment_transactions_in_flight_topup",
        table_name="payment_transactions",
        postgresql_where=sa.text("kind IN ('topup', 'auto_topup') AND status IN ('pending', 'processing')"),
    )
    op.drop_index("idx_payment_transactions_user_id", table_name="payment_transactions")
    op.drop_index("idx_payment_transactions_organization_id", table_name="payment_transactions")
    op.drop_index("idx_payment_transactions_created_at", table_name="payment_transactions")
    op.drop_table("payment_transactions")
    op.drop_index("idx_invoice_line_items_user_id", table_name="invoice_line_items")
    op.drop_index("idx_invoice_line_items_organization_id", table_name="invoice_line_items")
    op.drop_index("idx_invoice_line_items_invoice_id", table_name="invoice_line_items")
    op.drop_table("invoice_line_items")
    op.drop_index(
        "uq_usage_records_user_id_idempotency_key",
        table_name="usage_records",
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_usage_records_organization_id_idempotency_key",
        table_name="usage_records",
        postgresql_where=sa.text("organization_id IS NOT NULL"),
    )
    op.drop_index("idx_usage_records_user_id_metric_name_recorded_at", table_name="usage_records")
    op.drop_index("idx_usage_records_subscription_id", table_name="usage_records")
    op.drop_index("idx_usage_records_organization_id_metric_name_recorded_at", table_name="usage_records")
    op.drop_table("usage_records")
    op.drop_index("idx_invoices_user_id", table_name="invoices")
    op.drop_index("idx_invoices_subscription_id", table_name="invoices")
    op.drop_index("idx_invoices_organization_id", table_name="invoices")
    op.drop_index("idx_invoices_created_at", table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(
        "uq_coupon_redemptions_coupon_id_user_id",
        table_name="coupon_redemptions",
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_coupon_redemptions_coupon_id_organization_id",
        table_name="coupon_redemptions",
        postgresql_where=sa.text("organization_id IS NOT NULL"),
    )
    op.drop_index("idx_coupon_redemptions_organization_id", table_name="coupon_redemptions")
    op.drop_index("idx_coupon_redemptions_coupon_id", table_name="coupon_redemptions")
    op.drop_table("coupon_redemptions")
    op.drop_index("idx_subscriptions_user_id", table_name="subscriptions")
    op.drop_index("idx_subscriptions_stripe_customer_id", table_name="subscriptions")
    op.drop_index("idx_subscriptions_status", table_name="subscriptions")
    op.drop_index("idx_subscriptions_organization_id", table_name="subscriptions")
    op.drop_index("idx_subscriptions_ends_at", table_name="subscriptions")
    op.drop_index("idx_subscriptions_current_period_end", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("idx_stripe_webhook_events_user_id", table_name="stripe_webhook_events")
    op.drop_index("idx_stripe_webhook_events_processing_status", table_name="stripe_webhook_events")
    op.drop_index("idx_stripe_webhook_events_event_type", table_name="stripe_webhook_events")
    op.drop_index("idx_stripe_webhook_events_created_at", table_name="stripe_webhook_events")
    op.drop_table("stripe_webhook_events")
    op.drop_index(
        "uq_payment_methods_default_user",
        table_name="payment_methods",
        postgresql_where=sa.text("is_default AND user_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_payment_methods_default_organization",
        table_name="payment_methods",
        postgresql_where=sa.text("is_default AND organization_id IS NOT NULL"),
    )
    op.drop_index("idx_payment_methods_user_id", table_name="payment_methods")
    op.drop_index("idx_payment_methods_organization_id", table_name="payment_methods")
    op.drop_index("idx_payment_methods_card_fingerprint_hash", table_name="payment_methods")
    op.drop_table("payment_methods")
    op.drop_index("idx_feature_usage_reset_date", table_name="feature_usage")
    op.drop_table("feature_usage")
    op.drop_index("idx_subscription_plans_tier", table_name="subscription_plans")
    op.drop_table("subscription_plans")
    op.drop_table("coupons")
