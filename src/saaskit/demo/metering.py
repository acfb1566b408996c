"""Metered usage and organization quotas in the demo, so the pages and endpoints show figures.

Paid plans meter ``api_calls`` to Stripe (``limits.meters``) and limit organizations (seats,
``api_calls`` and ``events`` per billing period). Each organization with an entitled
subscription gets usage records in its current period (always within its quotas), most of them
acknowledged by Stripe, a few pending, refused or failed, the unmetered ``events`` skipped; its
quota counters are the sums of those records. Written through the application role in the
service context, after the tables are loaded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from saaskit.billing import meters, usage
from saaskit.billing.models import OrganizationQuotaUsage, UsageRecord
from saaskit.billing.owners import Owner
from saaskit.demo.config import DemoConfig
from saaskit.demo.rand import new_uuid, rng_for
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime

# A catalog that was there before the demo gets the same limits, once.
PLAN_LIMITS = text(
    """
UPDATE subscription_plans
SET limits = limits || jsonb_build_object(
        'meters', jsonb_build_object('api_calls', 'api_calls'),
        'seats', CASE WHEN price_cents >= 5000 THEN 50 ELSE 10 END,
        'quotas', coalesce(limits -> 'quotas', '{}'::jsonb)
                  || jsonb_build_object('api_calls', price_cents * 100, 'events', price_cents * 20))
WHERE price_cents > 0 AND NOT limits ? 'meters'
"""
)


def plan_limits(dashboards: int, price_cents: int) -> dict[str, Any]:
    """The demo catalog's limits (demo/ledger.py): the same as PLAN_LIMITS gives a paid plan."""
    limits: dict[str, Any] = {"max_dashboards": dashboards, "quotas": {}}
    if price_cents > 0:
        limits["meters"] = {"api_calls": "api_calls"}
        limits["seats"] = 50 if price_cents >= 5000 else 10
        limits["quotas"] = {"api_calls": price_cents * 100, "events": price_cents * 20}
    return limits


ORGANIZATIONS = text(
    """
SELECT DISTINCT ON (s.organization_id) s.organization_id, s.id, p.limits
FROM subscriptions s JOIN subscription_plans p ON p.id = s.plan_id
WHERE s.organization_id IS NOT NULL AND s.status IN ('trialing', 'active', 'past_due')
ORDER BY s.organization_id, s.started_at DESC
"""
)
REFUSAL = "resource_missing: No active meter was found for event_name api_calls"


async def add(runtime: Runtime, config: DemoConfig) -> int:
    """Usage records written; 0 when no organization subscribes."""
    rng = rng_for(config.seed, "metering")
    now = datetime.now(UTC)
    written = 0
    async with runtime.db.session(SERVICE) as session:
        await session.execute(PLAN_LIMITS)
        for org_id, _, limits in (await session.execute(ORGANIZATIONS)).all():
            period = await usage.current_period(session, Owner(organization_id=org_id), now)
            quotas = limits.get("quotas", {})
            span = max(60.0, (now - period.start).total_seconds() - 60)
            for metric, share, size in (("api_calls", 0.2 + 0.7 * rng.random(), 500), ("events", 0.5, 200)):
                budget = int(quotas.get(metric, 0) * share)
                used = 0
                rows = []
                for n in range(rng.randint(5, 40)):
                    quantity = rng.randint(1, size * 2)
                    if used + quantity > budget:
                        break
                    used += quantity
                    recorded = period.start + timedelta(seconds=rng.random() * span)
                    record_id = new_uuid(rng)
                    reported = recorded + timedelta(minutes=1)
                    status, error = "sent", None
                    if metric == "events":
                        status, error = "skipped", "the plan does not meter events"
                    elif now - recorded < timedelta(minutes=30):
                        status = "pending"
                    elif rng.random() < 0.04:
                        status, error = "refused", REFUSAL
                    elif rng.random() < 0.02:
                        status, error = "failed", "500: An unknown error occurred"
                    rows.append(
                        {
                            "id": record_id,
                            "organization_id": org_id,
                            "subscription_id": period.subscription_id,
                            "metric_name": metric,
                            "quantity": quantity,
                            "idempotency_key": f"demo-{metric}-{n}",
                            "billing_period_start": period.start,
                            "billing_period_end": period.end,
                            "recorded_at": recorded,
                            "stripe_status": status,
                            "stripe_identifier": meters.identifier_of(record_id),
                            "stripe_attempts": {"sent": 1, "refused": 1, "failed": 3}.get(status, 0),
                            "stripe_reported_at": reported if status == "sent" else None,
                            "stripe_error": error,
                        }
                    )
                if not rows:
                    continue
                await session.execute(insert(UsageRecord), rows)
                await session.execute(
                    insert(OrganizationQuotaUsage).values(
                        organization_id=org_id,
                        quota_name=metric,
                        period_start=period.start,
                        period_end=period.end,
                        used=used,
                    )
                )
                written += len(rows)
    return written
