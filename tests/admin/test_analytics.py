"""The Analytics page over HTTP: it shows the rolled-up figures the insights API serves (one
source of truth), and a bad range is refused naming the field."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights import daily, kpis
from saaskit.insights.rollups import runner
from tests.admin.conftest import AdminClient
from tests.insights.dataset import build, build_usage
from tests.insights.test_api import now_of


def cells(html: str, day: str) -> list[str]:
    row = re.search(rf"<tr><td>{day}</td>(.*?)</tr>", html)
    assert row, f"no row for {day}"
    return re.findall(r'<td class="num">([^<]*)</td>', row.group(1))


async def test_analytics_shows_the_rollups_and_kpis(admin_client: AdminClient, session: AsyncSession) -> None:
    now = await now_of(session)
    data = await build(session, now=now, users=200, events=3000, days=40)
    await build_usage(session, data)
    for day in await runner.pending_days(session, now):
        await runner.roll_day(session, day, now)
    await runner.refresh_geographic_stats(session)
    today = now.astimezone(UTC).date()
    first, last = today - timedelta(days=20), today - timedelta(days=1)
    page = await admin_client.http.get(
        "/admin/analytics", params={"from": first.isoformat(), "to": last.isoformat()}
    )
    assert page.status_code == 200, page.text
    html = page.text
    series = await daily.series(session, first, last, None)
    assert sum(d["active_users"] for d in series) > 0  # the comparison below is not vacuous
    for d in series:
        shown = cells(html, d["date"])
        assert shown[0] == f"{d['active_users']:,}" and shown[3] == f"{d['new_signups']:,}", d
    figures = await kpis.compute(session, organization_id=None)
    assert f'<span class="value">{figures["mau"]:,}</span><span class="label">MAU</span>' in html
    countries = await daily.geographic(session)
    assert countries and f"<td>{countries[0]['country_code']}</td>" in html
    assert f"{len(countries):,} countries" in html


async def test_a_bad_range_names_the_field(admin_client: AdminClient) -> None:
    backwards = await admin_client.http.get(
        "/admin/analytics", params={"from": "2026-05-02", "to": "2026-05-01"}
    )
    assert backwards.status_code == 400 and "to: must not be before from" in backwards.text
    too_long = await admin_client.http.get(
        "/admin/analytics", params={"from": "2020-01-01", "to": "2026-01-01"}
    )
    assert too_long.status_code == 400 and "at most 400 days" in too_long.text
    garbage = await admin_client.http.get("/admin/analytics", params={"from": "yesterday"})
    assert 400 <= garbage.status_code < 500 and "from" in garbage.text
