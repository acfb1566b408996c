"""Funnels against the reference (tests/insights/funnel_reference.py) on a few thousand people:
every order mode, property filters, repeated steps, window edges, strict interruptions, ranges
whose ends are UTC and Paris midnights, the daylight-saving day, an organization's events only.
Then the API: CRUD, compute and stored progress, results, access, bad definitions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from functools import cache
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.insights.funnels import FunnelDefinition, Step, compute_funnel
from tests.factories import insert_org, make_admin, make_member
from tests.insights import funnel_reference as ref
from tests.insights.funnel_data import FunnelData, generate, insert

MODES = ("ordered", "strict", "any")
DEFINITIONS: dict[str, list[ref.RefStep]] = {
    "four steps": [
        ref.RefStep("Visited", "visit", {}),
        ref.RefStep("Signed up", "signup", {}),
        ref.RefStep("Activated", "activate", {}),
        ref.RefStep("Purchased", "purchase", {}),
    ],
    "filters": [
        ref.RefStep("Pro visit", "visit", {"plan": "pro"}),
        ref.RefStep("Signed up", "signup", {}),
        ref.RefStep("Bought two", "purchase", {"n": 2}),
        ref.RefStep("Beta activation", "activate", {"beta": True, "plan": "team"}),
    ],
    "repeated event": [
        ref.RefStep("Visit", "visit", {}),
        ref.RefStep("Visit again", "visit", {}),
        ref.RefStep("Sign up", "signup", {}),
    ],
    "overlapping filters": [
        ref.RefStep("Visit", "visit", {}),
        ref.RefStep("Pro sign-up", "signup", {"plan": "pro"}),
        ref.RefStep("Any sign-up", "signup", {}),
        ref.RefStep("Open", "open", {}),
    ],
    "one step": [ref.RefStep("Purchase", "purchase", {"n": "2"})],
}
RANGES = [
    (date(2026, 3, 1), date(2026, 4, 1), "Europe/Paris"),
    (date(2026, 3, 1), date(2026, 4, 1), "UTC"),
    (date(2026, 3, 29), date(2026, 3, 30), "Europe/Paris"),  # 23 hours long
    (date(2026, 2, 1), date(2026, 5, 1), "UTC"),
]


@cache
def dataset() -> FunnelData:
    return generate()


@pytest.fixture
async def data(session: AsyncSession) -> FunnelData:
    generated = dataset()
    await insert(session, generated)
    return generated


def definition(
    steps: list[ref.RefStep], mode: str, window: int, org: uuid.UUID | None = None
) -> FunnelDefinition:
    return FunnelDefinition(
        steps=tuple(Step(s.name, s.event, s.properties) for s in steps),
        conversion_window_days=window,
        order_mode=mode,  # type: ignore[arg-type]
        organization_id=org,
    )


def steps_json(steps: list[ref.RefStep]) -> list[dict[str, Any]]:
    return [{"name": s.name, "event": s.event, "properties": s.properties} for s in steps]


async def check(
    session: AsyncSession,
    data: FunnelData,
    steps: list[ref.RefStep],
    mode: str,
    window: int,
    start: date,
    end: date,
    tz: str,
    org: uuid.UUID | None = None,
) -> dict[str, ref.RefPerson]:
    expected = ref.funnel_people(
        data.rows, steps, window_days=window, mode=mode, start=start, end=end, tz=tz, organization_id=org
    )
    result = await compute_funnel(session, definition(steps, mode, window, org), start, end, tz)
    label = (mode, window, start, end, tz, org, [s.name for s in steps])
    got = {p.person: ref.RefPerson(p.times, p.steps, p.user_id) for p in result.progress}
    assert got == expected, label
    assert result.as_json()["steps"] == ref.funnel_steps(steps, expected), label
    return expected


async def test_every_figure_equals_the_reference(session: AsyncSession, data: FunnelData) -> None:
    converted = set()
    for name, steps in DEFINITIONS.items():
        for mode in MODES:
            for start, end, tz in RANGES:
                people = await check(session, data, steps, mode, 14, start, end, tz)
                converted.add((name, mode, max((len(p.times) for p in people.values()), default=0)))
    # The dataset is not trivial: in each mode, some people go all the way through four steps.
    assert {("four steps", mode, 4) for mode in MODES} <= converted
    assert ("filters", "ordered", 4) in converted


async def test_windows_and_organizations(session: AsyncSession, data: FunnelData) -> None:
    steps = DEFINITIONS["four steps"]
    for mode in MODES:
        for window in (1, 3, 365):
            await check(
                session, data, steps, mode, window, date(2026, 3, 1), date(2026, 4, 1), "Europe/Paris"
            )
        for org in data.organizations:
            await check(session, data, steps, mode, 14, date(2026, 2, 1), date(2026, 4, 1), "UTC", org)


async def test_crafted_edges(session: AsyncSession, data: FunnelData) -> None:
    steps = DEFINITIONS["four steps"][:2]

    async def reached(
        mode: str, start: date, end: date, tz: str, steps: list[ref.RefStep] = steps
    ) -> dict[str, int]:
        result = await compute_funnel(session, definition(steps, mode, 14), start, end, tz)
        return {
            p.person.removeprefix("crafted-"): p.reached
            for p in result.progress
            if p.person.startswith("crafted-")
        }

    march = await reached("ordered", date(2026, 3, 1), date(2026, 4, 1), "Europe/Paris")
    assert march["window-out"] == 1 and march["window-in"] == 2
    assert march["strict-broken"] == 2 and march["tie-before"] == 1 and march["tie-after"] == 2
    assert march["mar-1"] == 1 and "apr-1" not in march
    strict = await reached("strict", date(2026, 3, 1), date(2026, 4, 1), "Europe/Paris")
    assert strict["strict-broken"] == 1 and strict["strict-ok"] == 2 and strict["window-in"] == 2
    four = DEFINITIONS["four steps"]
    assert (await reached("strict", date(2026, 3, 1), date(2026, 4, 1), "UTC", four))["strict-ok"] == 2
    any_order = await reached("any", date(2026, 3, 1), date(2026, 4, 1), "UTC", four)
    assert any_order["any-order"] == 3  # activate came 14 days after the purchase: outside
    utc = await reached("ordered", date(2026, 3, 1), date(2026, 4, 1), "UTC")
    assert "mar-1" not in utc and utc["apr-1"] == 1  # 2026-03-01 00:00 Paris is still February in UTC


async def test_api_compute_stores_the_progress_and_results_read_it(
    client: httpx.AsyncClient, session: AsyncSession, data: FunnelData
) -> None:
    boss = await make_admin(client, session)
    steps = DEFINITIONS["filters"]
    created = await client.post(
        "/api/insights/funnels",
        json={"name": "Pro path", "steps": steps_json(steps), "order_mode": "ordered"},
        headers=boss.headers,
    )
    assert created.status_code == 201, created.text
    funnel = created.json()
    assert funnel["conversion_window_days"] == 14 and funnel["organization_id"] is None
    assert funnel["created_by"] == str(boss.id) and funnel["last_computed_at"] is None
    url = f"/api/insights/funnels/{funnel['id']}"
    march = {"from": "2026-03-01", "to": "2026-04-01", "tz": "Europe/Paris"}
    expected_people = ref.funnel_people(
        data.rows,
        steps,
        window_days=14,
        mode="ordered",
        start=date(2026, 3, 1),
        end=date(2026, 4, 1),
        tz="Europe/Paris",
    )
    expected_steps = ref.funnel_steps(steps, expected_people)

    live = await client.get(f"{url}/results", params=march, headers=boss.headers)
    assert live.status_code == 200, live.text
    assert live.json()["source"] == "live" and live.json()["steps"] == expected_steps

    computed = await client.post(f"{url}/compute", params=march, headers=boss.headers)
    assert computed.status_code == 200, computed.text
    assert computed.json()["steps"] == expected_steps and computed.json()["people"] == len(expected_people)
    stored = await session.execute(
        text(
            "SELECT distinct_id, user_id, step_order, step_name, completed, completed_at, completion_time_seconds "
            "FROM conversion_funnel_events WHERE funnel_id = :f"
        ),
        {"f": funnel["id"]},
    )
    assert {tuple(r) for r in stored} == ref.progress_rows(steps, expected_people)

    again = await client.get(f"{url}/results", params=march, headers=boss.headers)
    assert again.json()["source"] == "stored" and again.json()["steps"] == expected_steps
    assert again.json()["computed_at"] is not None
    row = (await client.get(url, headers=boss.headers)).json()
    assert datetime.fromisoformat(row["last_range_start"]) == datetime.fromisoformat(
        again.json()["range_start"]
    )

    # Another range: computed live; recomputing replaces the stored rows (no duplicates).
    utc = {"from": "2026-03-01", "to": "2026-04-01", "tz": "UTC"}
    other = await client.get(f"{url}/results", params=utc, headers=boss.headers)
    assert other.json()["source"] == "live"
    assert (await client.post(f"{url}/compute", params=utc, headers=boss.headers)).status_code == 200
    expected_utc = ref.funnel_people(
        data.rows,
        steps,
        window_days=14,
        mode="ordered",
        start=date(2026, 3, 1),
        end=date(2026, 4, 1),
        tz="UTC",
    )
    count = await session.scalar(
        text("SELECT count(*) FROM conversion_funnel_events WHERE funnel_id = :f"), {"f": funnel["id"]}
    )
    assert count == len(ref.progress_rows(steps, expected_utc))

    # Changing the definition drops the stored progress; a rename does not.
    renamed = await client.patch(url, json={"name": "Renamed"}, headers=boss.headers)
    assert renamed.status_code == 200 and renamed.json()["last_computed_at"] is not None
    changed = await client.patch(url, json={"order_mode": "strict"}, headers=boss.headers)
    assert changed.status_code == 200 and changed.json()["last_computed_at"] is None
    assert not await session.scalar(
        text("SELECT count(*) FROM conversion_funnel_events WHERE funnel_id = :f"), {"f": funnel["id"]}
    )
    listed = await client.get("/api/insights/funnels", headers=boss.headers)
    assert [f["id"] for f in listed.json()["items"]] == [funnel["id"]]
    assert (await client.delete(url, headers=boss.headers)).status_code == 204
    assert (await client.get(url, headers=boss.headers)).status_code == 404


async def test_ad_hoc_query_any_mode_and_stored_rows_in_any_mode(
    client: httpx.AsyncClient, session: AsyncSession, data: FunnelData
) -> None:
    boss = await make_admin(client, session)
    steps = DEFINITIONS["overlapping filters"]
    params = {"from": "2026-03-29", "to": "2026-03-30", "tz": "Europe/Paris"}
    body = {"steps": steps_json(steps), "order_mode": "any", "conversion_window_days": 3}
    answer = await client.post("/api/insights/funnels/query", params=params, json=body, headers=boss.headers)
    assert answer.status_code == 200, answer.text
    expected = ref.funnel_people(
        data.rows,
        steps,
        window_days=3,
        mode="any",
        start=date(2026, 3, 29),
        end=date(2026, 3, 30),
        tz="Europe/Paris",
    )
    assert answer.json()["steps"] == ref.funnel_steps(steps, expected)
    assert answer.json()["range_start"] == "2026-03-28T23:00:00+00:00"
    assert answer.json()["range_end"] == "2026-03-29T22:00:00+00:00"
    created = await client.post("/api/insights/funnels", json={"name": "Any", **body}, headers=boss.headers)
    funnel_id = created.json()["id"]
    computed = await client.post(
        f"/api/insights/funnels/{funnel_id}/compute", params=params, headers=boss.headers
    )
    assert computed.status_code == 200
    stored = await session.execute(
        text(
            "SELECT distinct_id, user_id, step_order, step_name, completed, completed_at, completion_time_seconds "
            "FROM conversion_funnel_events WHERE funnel_id = :f"
        ),
        {"f": funnel_id},
    )
    assert {tuple(r) for r in stored} == ref.progress_rows(steps, expected)


async def test_access_follows_the_insights_rule(client: httpx.AsyncClient, session: AsyncSession) -> None:
    boss = await make_admin(client, session)
    org, other = await insert_org(session, "A"), await insert_org(session, "B")
    owner = await make_member(client, session, org, "owner")
    viewer = await make_member(client, session, org, "viewer")
    outsider = await make_member(client, session, other, "owner")
    body = {"name": "Org funnel", "steps": [{"name": "Visit", "event": "visit"}]}
    platform = await client.post("/api/insights/funnels", json=body, headers=boss.headers)
    assert platform.status_code == 201
    refused = await client.post("/api/insights/funnels", json=body, headers=owner.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_only"
    mine = await client.post(
        "/api/insights/funnels", params={"organization_id": str(org)}, json=body, headers=owner.headers
    )
    assert mine.status_code == 201 and mine.json()["organization_id"] == str(org)
    url = f"/api/insights/funnels/{mine.json()['id']}"
    in_org = {"organization_id": str(org)}
    assert (await client.get(url, params=in_org, headers=owner.headers)).status_code == 200
    # Without the organization (platform scope) the organization's funnel does not exist, and the
    # platform's funnel does not exist in the organization's scope.
    assert (await client.get(url, headers=boss.headers)).status_code == 404
    platform_url = f"/api/insights/funnels/{platform.json()['id']}"
    assert (await client.get(platform_url, params=in_org, headers=owner.headers)).status_code == 404
    listed = await client.get("/api/insights/funnels", params=in_org, headers=owner.headers)
    assert [f["id"] for f in listed.json()["items"]] == [mine.json()["id"]]
    no_permission = await client.get(url, params=in_org, headers=viewer.headers)
    assert no_permission.status_code == 403
    elsewhere = await client.get(url, params=in_org, headers=outsider.headers)
    assert elsewhere.status_code == 404 and elsewhere.json()["error"]["field"] == "organization_id"
    cross = await client.get(url, params={"organization_id": str(other)}, headers=outsider.headers)
    assert cross.status_code == 404 and cross.json()["error"]["field"] == "funnel_id"
    for method in ("patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "patch" else {}
        response = await getattr(client, method)(
            url, params={"organization_id": str(other)}, headers=outsider.headers, **kwargs
        )
        assert response.status_code == 404
    compute = await client.post(
        f"{url}/compute", params={**in_org, "from": "2026-03-01", "to": "2026-03-02"}, headers=owner.headers
    )
    assert compute.status_code == 200
    assert (await client.get("/api/insights/funnels")).status_code == 401
    # The admin reading an organization's funnel is audited like every other analytics read.
    assert (await client.get(url, params=in_org, headers=boss.headers)).status_code == 200


async def test_bad_definitions_are_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    boss = await make_admin(client, session)
    good_step = {"name": "Visit", "event": "visit"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x", "steps": []}, "steps"),
        ({"name": "x", "steps": [good_step] * 21}, "steps"),
        ({"name": "x", "steps": [{"name": "Visit"}]}, "steps.0.event"),
        ({"name": "x", "steps": [good_step, {"name": "", "event": "e"}]}, "steps.1.name"),
        ({"name": "x", "steps": [{**good_step, "properties": {"plan": None}}]}, "steps.0.properties.plan"),
        ({"name": "x", "steps": [{**good_step, "properties": {"plan": ["a"]}}]}, "steps.0.properties.plan"),
        ({"name": "x", "steps": [{**good_step, "properties": ["plan"]}]}, "steps.0.properties"),
        ({"name": "x", "steps": [{**good_step, "colour": "red"}]}, "steps.0.colour"),
        ({"name": "x", "steps": [good_step], "conversion_window_days": 0}, "conversion_window_days"),
        ({"name": "x", "steps": [good_step], "conversion_window_days": 366}, "conversion_window_days"),
        ({"name": "x", "steps": [good_step], "order_mode": "loose"}, "order_mode"),
        ({"steps": [good_step]}, "name"),
    ]
    for body, field in cases:
        response = await client.post("/api/insights/funnels", json=body, headers=boss.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field, (body, response.text)
    created = await client.post(
        "/api/insights/funnels", json={"name": "x", "steps": [good_step]}, headers=boss.headers
    )
    url = f"/api/insights/funnels/{created.json()['id']}"
    for body, field in [
        ({"steps": None}, "steps"),
        ({"order_mode": "loose"}, "order_mode"),
        ({"name": None}, "name"),
    ]:
        response = await client.patch(url, json=body, headers=boss.headers)
        assert response.status_code == 422 and response.json()["error"]["field"] == field, response.text
    for params, field in [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"from": "2026-03-01", "to": "2026-03-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-03-01"}, "to"),
        ({"from": "March", "to": "2026-03-01"}, "from"),
        ({"from": "2026-03-01", "to": "2026-03-02", "tz": "Mars/Olympus"}, "tz"),
    ]:
        response = await client.post(f"{url}/compute", params=params, headers=boss.headers)
        assert response.status_code == 422 and response.json()["error"]["field"] == field, response.text
    missing = await client.get(f"/api/insights/funnels/{uuid.uuid4()}", headers=boss.headers)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "funnel_id"
