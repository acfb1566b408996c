"""The KPIs, daily metrics and geographic answers are validated from the services' plain dicts
into response models (insights/schemas.py): the JSON sent must be exactly the dict's, byte for
byte (no key added or dropped, no int written as a float, dates and timestamps spelled alike)."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import httpx
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights import daily, kpis
from saaskit.insights.rollups import runner
from tests.insights.test_api import prepared, sql

PLAIN = TypeAdapter(dict[str, Any])  # how FastAPI wrote these answers without a model


async def test_answers_are_the_services_dicts_byte_for_byte(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    data, boss = await prepared(client, session)
    # Figures that are not all zero or null: prices for MRR and ARPU, ended sessions for averages.
    await sql(
        session,
        "INSERT INTO subscription_plans (name, tier, billing_interval, price_cents) VALUES "
        "('Basic', 'basic', 'month', 900), ('Pro', 'pro', 'month', 2900), ('Team', 'team', 'year', 99000)",
    )
    await sql(
        session,
        "UPDATE subscriptions s SET plan_id = p.id FROM subscription_plans p WHERE p.name = s.plan_name",
    )
    await sql(
        session,
        "UPDATE user_sessions SET ended_at = started_at + interval '17 minutes 13 seconds' "
        "WHERE ended_at IS NULL",
    )
    await runner.refresh_geographic_stats(session)
    today = data.now.astimezone(UTC).date()
    first, last = today - timedelta(days=12), today + timedelta(days=1)  # today and tomorrow: zeros
    for org in (None, data.organizations[0]):
        scope = {"organization_id": str(org)} if org else {}
        answer = await client.get("/api/insights/kpis", params=scope, headers=boss.headers)
        assert answer.status_code == 200, answer.text
        assert answer.content == PLAIN.dump_json(await kpis.compute(session, organization_id=org))
        answer = await client.get(
            "/api/insights/daily-metrics",
            params={**scope, "from": first.isoformat(), "to": last.isoformat()},
            headers=boss.headers,
        )
        assert answer.status_code == 200, answer.text
        days = await daily.series(session, first, last, org)
        assert answer.content == PLAIN.dump_json({"days": days})
    answer = await client.get("/api/insights/geographic", headers=boss.headers)
    assert answer.status_code == 200, answer.text
    countries = await daily.geographic(session)
    assert answer.content == PLAIN.dump_json({"countries": countries})
    assert any(isinstance(c["avg_session_duration_minutes"], float) for c in countries)
