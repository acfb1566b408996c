"""Retention cohorts against the reference (tests/insights/funnel_reference.py) on the funnel
dataset: days, ISO weeks and months, UTC and Paris (cohorts and periods that start at Paris
midnight, across the daylight-saving change and month ends), first-time and recurring, the
same or different start and return events, an organization's events only, periods not begun
yet. Then the API: shape, access, bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.retention import compute_retention
from tests.factories import make_admin, make_member, now_of
from tests.insights import funnel_reference as ref
from tests.insights.funnel_data import FunnelData, generate, insert

RANGES = [
    ("day", date(2026, 3, 1), date(2026, 4, 1), 10),
    ("week", date(2026, 2, 4), date(2026, 4, 10), 6),  # a Wednesday: widened to Monday 2026-02-02
    ("month", date(2026, 1, 15), date(2026, 5, 1), 3),
]
EVENTS = [("visit", "purchase"), ("visit", "visit"), ("signup", "open")]


@cache
def dataset() -> FunnelData:
    return generate()


@pytest.fixture
async def data(session: AsyncSession) -> FunnelData:
    generated = dataset()
    await insert(session, generated)
    return generated


async def check(session: AsyncSession, data: FunnelData, **kwargs: object) -> list[dict[str, object]]:
    got = await compute_retention(session, **kwargs)  # type: ignore[arg-type]
    expected = ref.retention(data.rows, **kwargs)  # type: ignore[arg-type]
    assert got.as_json()["cohorts"] == expected, kwargs
    return expected


async def test_cohorts_equal_the_reference(session: AsyncSession, data: FunnelData) -> None:
    now = datetime(2026, 4, 20, 12, tzinfo=UTC)
    for period, start, end, periods in RANGES:
        for tz in ("UTC", "Europe/Paris"):
            for mode in ("first_time", "recurring"):
                for start_event, return_event in EVENTS:
                    cohorts = await check(
                        session,
                        data,
                        start_event=start_event,
                        return_event=return_event,
                        period=period,
                        start=start,
                        end=end,
                        periods=periods,
                        mode=mode,
                        tz=tz,
                        now=now,
                    )
                    assert sum(c["size"] for c in cohorts) > 0  # type: ignore[misc]
    weeks = await check(
        session,
        data,
        start_event="visit",
        return_event="purchase",
        period="week",
        start=date(2026, 2, 4),
        end=date(2026, 4, 10),
        periods=6,
        mode="first_time",
        tz="UTC",
        now=now,
    )
    assert weeks[0]["cohort"] == "2026-02-02" and weeks[-1]["cohort"] == "2026-04-06"
    assert weeks[-1]["values"][-1] is None  # type: ignore[index]


async def test_organizations_and_periods_not_begun(session: AsyncSession, data: FunnelData) -> None:
    for org in data.organizations:
        for mode in ("first_time", "recurring"):
            await check(
                session,
                data,
                start_event="visit",
                return_event="open",
                period="day",
                start=date(2026, 3, 25),
                end=date(2026, 4, 2),
                periods=7,
                mode=mode,
                tz="Europe/Paris",
                now=datetime(2026, 3, 30, 21, 59, tzinfo=UTC),  # 23:59 in Paris, 2026-03-30
                organization_id=org,
            )
    months = await check(
        session,
        data,
        start_event="visit",
        return_event="visit",
        period="month",
        start=date(2026, 2, 1),
        end=date(2026, 4, 1),
        periods=2,
        mode="recurring",
        tz="Europe/Paris",
        now=datetime(2026, 2, 28, 23, 0, tzinfo=UTC),  # already 2026-03-01 in Paris
    )
    assert [c["values"][1] is not None for c in months] == [True, False]  # type: ignore[index]
    assert months[0]["values"][0] == months[0]["size"]  # type: ignore[index]
    quarter = await check(
        session,
        data,
        start_event="visit",
        return_event="purchase",
        period="month",
        start=date(2026, 1, 1),
        end=date(2026, 2, 1),
        periods=3,
        mode="first_time",
        tz="Europe/Paris",
        now=datetime(2026, 3, 31, 22, 0, tzinfo=UTC),  # the first instant of April in Paris
    )
    assert quarter[0]["values"][3] is not None  # type: ignore[index]


async def test_api(client: httpx.AsyncClient, session: AsyncSession, data: FunnelData) -> None:
    boss = await make_admin(client, session)
    params = {
        "start_event": "visit",
        "return_event": "purchase",
        "period": "week",
        "from": "2026-03-01",
        "to": "2026-04-01",
        "periods": "4",
        "mode": "recurring",
        "tz": "Europe/Paris",
    }
    response = await client.get("/api/insights/retention", params=params, headers=boss.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    now = await now_of(session)
    assert body["cohorts"] == ref.retention(
        data.rows,
        start_event="visit",
        return_event="purchase",
        period="week",
        start=date(2026, 3, 1),
        end=date(2026, 4, 1),
        periods=4,
        mode="recurring",
        tz="Europe/Paris",
        now=now,
    )
    assert {k: body[k] for k in ("period", "mode", "periods", "from", "to", "tz")} == {
        "period": "week",
        "mode": "recurring",
        "periods": 4,
        "from": "2026-03-01",
        "to": "2026-04-01",
        "tz": "Europe/Paris",
    }
    org = data.organizations[0]
    reader = await make_member(client, session, org, "owner")
    assert (
        await client.get("/api/insights/retention", params=params, headers=reader.headers)
    ).status_code == 403
    narrowed = await client.get(
        "/api/insights/retention", params={**params, "organization_id": str(org)}, headers=reader.headers
    )
    assert narrowed.status_code == 200
    assert narrowed.json()["cohorts"] == ref.retention(
        data.rows,
        start_event="visit",
        return_event="purchase",
        period="week",
        start=date(2026, 3, 1),
        end=date(2026, 4, 1),
        periods=4,
        mode="recurring",
        tz="Europe/Paris",
        now=now,
        organization_id=org,
    )
    for change, field in [
        ({"period": "year"}, "period"),
        ({"mode": "sometimes"}, "mode"),
        ({"to": "2026-03-01"}, "to"),
        ({"from": "2020-01-01", "period": "day"}, "to"),
        ({"periods": "-1"}, "periods"),
        ({"periods": "401"}, "periods"),
        ({"start_event": ""}, "start_event"),
        ({"tz": "Mars/Olympus"}, "tz"),
    ]:
        bad = await client.get("/api/insights/retention", params={**params, **change}, headers=boss.headers)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, (change, bad.text)
