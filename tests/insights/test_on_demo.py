"""Issue 7's correctness bar on demo data: ``saaskit demo`` (a few thousand users, a span that
crosses a month boundary and Paris's and New York's autumn clock changes) and then every
statistic, daily rollup, funnel and retention figure equals the independent computations of the
other tests (seed 002's SQL as written, Python over the raw rows)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.config import Settings
from saaskit.demo.config import DemoConfig, resolve_now
from saaskit.insights import stats
from saaskit.insights.funnels import FunnelDefinition, Step, compute_funnel, storage
from saaskit.insights.funnels.nightly import nightly_range
from saaskit.insights.models import PLATFORM, ConversionFunnel
from saaskit.insights.retention import compute_retention
from saaskit.kit.db import SERVICE
from tests.conftest import DbUnderTest
from tests.demo.conftest import BuiltDemo, app_runtime, build, cloned_database
from tests.insights import funnel_reference as ref
from tests.insights.funnel_data import Row
from tests.insights.test_rollups import assert_daily_rollups_match_python
from tests.insights.test_stats import check

UNTIL = date(2025, 11, 4)  # Paris turned its clocks back on Oct 26, New York on Nov 2
DAYS = 50  # from Sep 16: October 1st is inside
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kathmandu")


@pytest.fixture(scope="module")
async def demo_data(pg_server: str, migrated_db: DbUnderTest, settings: Settings) -> AsyncIterator[BuiltDemo]:
    config = DemoConfig(
        users=3_000,
        days=DAYS,
        seed=11,
        now=resolve_now(UNTIL, datetime.now().astimezone()),
        activity_events=60_000,
        jobs=1,
    )
    with cloned_database(pg_server, migrated_db) as db:
        yield await build(db, settings, config)


@pytest.fixture
async def demo_session(demo_data: BuiltDemo, settings: Settings) -> AsyncIterator[AsyncSession]:
    async with app_runtime(demo_data.db, settings) as runtime, runtime.db.session(SERVICE) as session:
        yield session
        await session.rollback()  # a test reads; nothing it might write survives


async def busiest_organization(session: AsyncSession) -> uuid.UUID:
    found = await session.scalar(
        text("SELECT organization_id FROM organization_members GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
    )
    assert found is not None
    return uuid.UUID(str(found))


async def test_statistics_equal_seed_002_sql(demo_data: BuiltDemo, demo_session: AsyncSession) -> None:
    org = await busiest_organization(demo_session)
    end = demo_data.config.now
    for now in (end - timedelta(minutes=1), end - timedelta(hours=30, minutes=7)):
        await check(demo_session, org, now)
    platform = await stats.compute(demo_session, scope_id=PLATFORM, organization_id=None, tz="UTC", now=end)
    # Not vacuous: the demo exercises every figure.
    for key in ("totalUsers", "activeUsersNow", "expiredUsers", "inactiveUsers", "activeSubscriptions"):
        assert platform[key] > 0, key
    assert all(day["logins"] > 0 for day in platform["activityByDay"][:-1])  # today has just begun
    booked = platform["bookingRevenue"]  # the demo's laundry (checked against its reference above)
    assert booked["paidBookings"] > 0 and booked["refundedCents"] > 0 and booked["netCents"] > 0


async def test_daily_rollups_equal_python(demo_session: AsyncSession) -> None:
    days = [date(2025, 9, 30), date(2025, 10, 1), date(2025, 10, 26), date(2025, 11, 2), UNTIL]
    await assert_daily_rollups_match_python(demo_session, days)


async def event_rows(session: AsyncSession) -> list[Row]:
    result = await session.execute(
        text(
            "SELECT id, timestamp, user_id, distinct_id, organization_id, event_name, properties FROM events"
        )
    )
    return [Row(*r) for r in result.all()]


async def test_funnels_and_retention_equal_python(demo_data: BuiltDemo, demo_session: AsyncSession) -> None:
    rows = await event_rows(demo_session)
    funnel = (await demo_session.execute(text("SELECT steps FROM conversion_funnels"))).scalar_one()
    steps = [ref.RefStep(s["name"], s["event"], s.get("properties") or {}) for s in funnel]
    definition_steps = tuple(Step(s.name, s.event, s.properties) for s in steps)
    reached_last = 0
    for start, end, tz in (
        (date(2025, 10, 1), date(2025, 11, 1), "Europe/Paris"),
        (date(2025, 9, 20), date(2025, 10, 27), "UTC"),
    ):
        for mode in ("ordered", "strict", "any"):
            expected = ref.funnel_people(
                rows, steps, window_days=14, mode=mode, start=start, end=end, tz=tz, organization_id=None
            )
            definition = FunnelDefinition(definition_steps, 14, mode)  # type: ignore[arg-type]
            result = await compute_funnel(demo_session, definition, start, end, tz)
            got = {p.person: ref.RefPerson(p.times, p.steps, p.user_id) for p in result.progress}
            assert got == expected, (start, end, tz, mode)
            assert result.as_json()["steps"] == ref.funnel_steps(steps, expected)
            reached_last = max(reached_last, result.steps[-1].people)
    assert reached_last > 0

    # The demo ran the nightly funnel job: the stored progress over its range reads back as the
    # live computation (and the admin page, which opens on that range, shows it at once).
    saved = await demo_session.scalar(select(ConversionFunnel))
    assert saved is not None
    first, end = nightly_range(demo_data.config.now.date())
    stored = await storage.stored_result(demo_session, saved, first, end, "UTC")
    live = await compute_funnel(demo_session, storage.definition_of(saved), first, end, "UTC")
    assert stored is not None and stored.source == "stored"
    assert stored.as_json()["steps"] == {**live.as_json(), "source": "stored"}["steps"]
    assert stored.steps[0].people > 0

    now = demo_data.config.now
    cases: list[dict[str, Any]] = [
        {"period": "week", "start": date(2025, 9, 22), "end": date(2025, 11, 3), "periods": 5},
        {"period": "day", "start": date(2025, 10, 20), "end": date(2025, 10, 30), "periods": 7},
        {"period": "month", "start": date(2025, 9, 16), "end": date(2025, 11, 5), "periods": 2},
    ]
    for case in cases:
        for tz in ("UTC", "Europe/Paris"):
            for mode in ("first_time", "recurring"):
                arguments = {
                    "start_event": "signup",
                    "return_event": "$pageview",
                    "mode": mode,
                    "tz": tz,
                    "now": now,
                    **case,
                }
                got = await compute_retention(demo_session, **arguments)
                assert got.as_json()["cohorts"] == ref.retention(rows, **arguments), arguments
                assert any(c.size for c in got.cohorts)
