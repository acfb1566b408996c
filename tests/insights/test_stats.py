"""GET /api/admin/stats equals seed 002's naive SQL over the raw tables, whatever the rollups
have done so far, in several time zones, around a DST change and a month boundary, for the
platform and for one organization."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights import stats
from saaskit.insights.models import PLATFORM
from saaskit.insights.rollups import runner
from tests.bookings.reference import booking_rows, reference
from tests.insights.dataset import build
from tests.insights.expected import expected_stats

ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kathmandu")
AFTER_DST_CHANGE = datetime(2026, 10, 27, 9, 7, 30, tzinfo=UTC)  # Paris's 25-hour day is in the week
MONTH_TURNS_IN_PARIS = datetime(2026, 10, 31, 23, 40, tzinfo=UTC)  # 00:40 on November 1st in Paris


async def roll_everything(session: AsyncSession, now: datetime) -> None:
    """What the periodic jobs would have done by ``now``."""
    while True:
        done = await runner.roll_recent(session, now)
        if done.quarters_to is None or done.quarters_to >= runner.floor_quarter(now - runner.GRACE):
            break
    for day in await runner.pending_days(session, now):
        await runner.roll_day(session, day, now)


async def check(session: AsyncSession, organization: uuid.UUID, now: datetime) -> None:
    """The platform's and ``organization``'s statistics equal seed 002's SQL in every zone."""
    for tz in ZONES:
        for organization_id in (None, organization):
            got = await stats.compute(
                session,
                scope_id=organization_id or PLATFORM,
                organization_id=organization_id,
                tz=tz,
                now=now,
            )
            want = await expected_stats(session, now=now, tz=tz, organization_id=organization_id)
            # Beside seed 002's keys: the bookings' money up to now, by its plain-Python reference.
            booked = got.pop("bookingRevenue")
            assert booked == reference(await booking_rows(session, organization_id), None, now)
            assert got == want, (tz, organization_id)


@pytest.mark.parametrize("now", [AFTER_DST_CHANGE, MONTH_TURNS_IN_PARIS], ids=["dst", "month"])
async def test_stats_match_naive_sql_before_during_and_after_rollups(
    session: AsyncSession, now: datetime
) -> None:
    data = await build(session, now=now)
    await check(session, data.organizations[0], now)  # nothing rolled up: everything raw
    await roll_everything(session, now - timedelta(days=3, hours=5, minutes=7))
    await check(session, data.organizations[0], now)  # rollups three days behind
    await roll_everything(session, now)
    await check(session, data.organizations[0], now)  # up to date: only the last minutes raw


async def test_figures_are_not_all_zero(session: AsyncSession) -> None:
    """The comparison above would pass on an empty answer: the dataset must exercise each key."""
    now = AFTER_DST_CHANGE
    data = await build(session, now=now)
    await roll_everything(session, now)
    got = await stats.compute(session, scope_id=PLATFORM, organization_id=None, tz="Europe/Paris", now=now)
    for key in (
        "totalUsers",
        "activeUsersNow",
        "expiredUsers",
        "inactiveUsers",
        "activeSubscriptions",
        "expiredSubscriptions",
        "cancelledSubscriptions",
        "totalVisitors",
        "visitorsNow",
        "visitorsToday",
    ):
        assert got[key] > 0, key
    assert all(day["logins"] > 0 and day["actions"] > 0 for day in got["dailyActivity"])
    assert all(month["logins"] > 0 for month in got["monthlyLogins"])
    assert len(got["planDistribution"]) == 3
    # Seed 002 rounds each percentage on its own: the sum is 100 within the rounding.
    plan_sum = sum(p["percentage"] for p in got["plansPercentage"])
    assert abs(plan_sum - 100.0) <= 0.05 * len(got["plansPercentage"]) + 1e-9
    # The seed's user groups overlap (an expired user may be active now); the partition does not.
    assert got["expiredUsers"] + got["inactiveUsers"] + got["activeUsersNow"] >= got["totalUsers"]
    assert sum(got["usersPartition"].values()) == got["totalUsers"]
    shares = got["usersPartitionPercentage"]
    assert round(shares["active"] + shares["lapsed"] + shares["idle"], 1) == 100.0
    assert all(n > 0 for n in got["usersPartition"].values())
    assert got["subscriptionsByState"]["cancelled"] == got["cancelledSubscriptions"]
    # Ended cancelled subscriptions are expired for the seed, cancelled in the state view.
    assert got["expiredSubscriptions"] > got["subscriptionsByState"]["expired"]
    # Paris's day of the DST change lasts 25 hours: its count differs from the UTC day's.
    utc = await stats.compute(session, scope_id=PLATFORM, organization_id=None, tz="UTC", now=now)
    paris_25 = next(d for d in got["dailyActivity"] if d["date"] == "2026-10-25")
    utc_25 = next(d for d in utc["dailyActivity"] if d["date"] == "2026-10-25")
    assert paris_25 != utc_25
    assert data.members[data.organizations[0]]
