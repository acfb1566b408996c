"""The demo's meters and organization quotas (demo/metering.py): figures to show, consistent."""

from __future__ import annotations

from typing import Any

from tests.demo.conftest import BuiltDemo
from tests.demo.test_consistency import rows


def _rows(demo: BuiltDemo, statement: str) -> list[tuple[Any, ...]]:
    return rows(demo, statement)


def test_meters_and_quotas_have_figures_and_add_up(demo: BuiltDemo) -> None:
    states = dict(_rows(demo, "SELECT stripe_status, count(*) FROM usage_records GROUP BY 1"))
    assert {"sent", "skipped"} <= set(states) and states["sent"] > 10
    # Each counter is the sum of its organization's records of the period, within the plan's quota.
    mismatched = _rows(
        demo,
        """
        SELECT q.organization_id, q.quota_name FROM organization_quota_usage q
        JOIN subscriptions s ON s.organization_id = q.organization_id
             AND s.status IN ('trialing', 'active', 'past_due')
        JOIN subscription_plans p ON p.id = s.plan_id
        WHERE q.used <> (SELECT sum(u.quantity) FROM usage_records u WHERE u.organization_id = q.organization_id
                         AND u.metric_name = q.quota_name AND u.billing_period_start = q.period_start)
           OR q.used > (p.limits -> 'quotas' ->> q.quota_name)::bigint
        """,
    )
    assert mismatched == []
    assert _rows(demo, "SELECT count(*) FROM organization_quota_usage")[0][0] > 0
    paid = _rows(demo, "SELECT limits FROM subscription_plans WHERE price_cents > 0")
    assert paid and all(
        limits["meters"] == {"api_calls": "api_calls"} and limits["seats"] for (limits,) in paid
    )
