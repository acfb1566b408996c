"""The Analytics page over HTTP: it shows the rolled-up figures the insights API serves (one
source of truth), and a bad range is refused naming the field."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights import daily, kpis
from saaskit.insights.funnels.compute import compute_funnel
from saaskit.insights.funnels.definition import FunnelDefinition, Step
from saaskit.insights.retention import compute_retention
from saaskit.insights.rollups import runner
from tests.admin.conftest import AdminClient
from tests.factories import now_of
from tests.insights.dataset import build, build_usage


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


async def test_funnel_form_compute_and_retention(admin_client: AdminClient, session: AsyncSession) -> None:
    now = await now_of(session)
    data = await build(session, now=now, users=200, events=3000, days=40)
    await build_usage(session, data, seed=4)
    today = now.astimezone(UTC).date()
    first, last = today - timedelta(days=30), today - timedelta(days=1)
    span = {"from": first.isoformat(), "to": last.isoformat()}
    http = admin_client.http

    bad = await admin_client.post(
        "/admin/analytics/funnels", {"name": "x", "steps": "a\n" * 21}, params=span, follow_redirects=True
    )
    assert "steps: List should have at most 20 items" in bad.text
    assert await session.scalar(text("SELECT count(*) FROM conversion_funnels")) == 0

    saved = await admin_client.post(
        "/admin/analytics/funnels",
        {
            "name": "Activation",
            "steps": "$pageview\ndashboard_created\nwidget_added",
            "order_mode": "ordered",
        },
        params=span,
    )
    assert saved.status_code == 303
    funnel = (await session.execute(text("SELECT id, steps FROM conversion_funnels"))).one()
    assert [s["event"] for s in funnel.steps] == ["$pageview", "dashboard_created", "widget_added"]
    page = await http.get("/admin/analytics", params={**span, "funnel": str(funnel.id)})
    assert "Not computed for this range yet" in page.text and 'id="funnel-steps"' not in page.text

    # The page's own form carries the CSRF token (posted as the browser would, not by the helper).
    form = re.search(r'<form method="post" action="([^"]+/compute[^"]*)".*?</form>', page.text, re.S)
    assert form
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))
    assert fields["csrf_token"] == admin_client.csrf and fields["from"] == span["from"]
    computed = await http.post(form.group(1).replace("&amp;", "&"), data=fields)
    assert computed.status_code == 303 and f"funnel={funnel.id}" in computed.headers["location"]
    page = await http.get("/admin/analytics", params={**span, "funnel": str(funnel.id)})
    definition = FunnelDefinition(steps=tuple(Step(s["name"], s["event"]) for s in funnel.steps))
    want = await compute_funnel(session, definition, first, last + timedelta(days=1), "UTC")
    assert want.steps[0].people > want.steps[-1].people > 0
    table = re.search(r'id="funnel-steps">(.*?)</table>', page.text, re.S)
    assert table
    shown = re.findall(r'<td class="num">([\d,]+)</td>', table.group(1))
    assert shown == [f"{s.people:,}" for s in want.steps]
    audited = await session.scalar(text("SELECT count(*) FROM activities WHERE action = 'funnel.created'"))
    assert audited == 1

    cohorts = await http.get(
        "/admin/analytics", params={**span, "start_event": "$pageview", "return_event": "widget_added"}
    )
    result = await compute_retention(
        session,
        start_event="$pageview",
        return_event="widget_added",
        period="week",
        start=first,
        end=last + timedelta(days=1),
        periods=8,
    )
    table = re.search(r'id="retention-table">(.*?)</table>', cohorts.text, re.S)
    assert table and result.cohorts
    for cohort in result.cohorts:
        row = re.search(rf"<tr><td>{cohort.cohort.isoformat()}</td>(.*?)</tr>", table.group(1), re.S)
        assert row, cohort.cohort
        assert f'<td class="num">{cohort.size:,}</td>' in row.group(1)
        shaded = re.findall(r"--heat: ([\d.]+)\"[^>]*>([\d.]+) %", row.group(1))
        begun = [p for p in cohort.percentages if p is not None]
        assert [float(p) for _, p in shaded] == begun
    bad_period = await http.get("/admin/analytics", params={"start_event": "$pageview", "period": "year"})
    assert bad_period.status_code == 400 and "period: must be one of" in bad_period.text
