"""The native ingestion endpoints: attribution, batches, refusals, and acknowledgement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_admin, make_dashboard
from tests.helpers import error_of, signup
from tests.tracking.conftest import Project, consenting_user, count


async def test_single_event_for_a_signed_in_user(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await consenting_user(client)
    response = await client.post(
        "/api/events",
        headers=user.headers,
        json={
            "event_name": "upgrade_clicked",
            "event_category": "billing",
            "event_action": "click",
            "properties": {"plan": "pro"},
            "utm_source": "newsletter",
            "utm_campaign": "nov",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1, "stored": 1, "duplicates": 0, "dropped": 0}
    row = (
        await session.execute(
            text(
                "SELECT user_id, organization_id, event_category, properties, utm_source, utm_campaign FROM events "
                "WHERE event_name = 'upgrade_clicked'"
            )
        )
    ).one()
    assert row.user_id == user.id and row.organization_id is None
    assert row.properties == {"plan": "pro"} and row.utm_source == "newsletter" and row.utm_campaign == "nov"


async def test_batch_is_all_or_nothing_and_names_the_bad_index(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await consenting_user(client)
    good = [{"event_name": f"e{i}"} for i in range(5)]
    bad = [*good[:2], {"event_name": "ok", "timestamp": "yesterday-ish"}, *good[2:], {"properties": {}}]
    refused = await client.post("/api/events/batch", headers=user.headers, json={"events": bad})
    assert refused.status_code == 422
    error = error_of(refused)
    assert error["field"] == "events.2.timestamp"
    assert [(d["index"], d["field"]) for d in error["details"]] == [
        (2, "events.2.timestamp"),
        (6, "events.6.event_name"),
    ]
    assert await count(session, "SELECT count(*) FROM events WHERE user_id = :u", u=user.id) == 0
    accepted = await client.post("/api/events/batch", headers=user.headers, json={"events": good})
    assert accepted.json() == {"received": 5, "stored": 5, "duplicates": 0, "dropped": 0}
    too_many = await client.post(
        "/api/events/batch", headers=user.headers, json={"events": [{"event_name": "x"}] * 1001}
    )
    assert too_many.status_code == 422 and error_of(too_many)["field"] == "events"
    missing = await client.post("/api/events/batch", headers=user.headers, json={"event_name": "x"})
    assert missing.status_code == 422 and error_of(missing)["field"] == "events"


async def test_uuid_makes_retries_idempotent(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await consenting_user(client)
    event = {"event_name": "paid", "uuid": str(uuid.uuid4()), "timestamp": "2026-11-20T10:00:00Z"}
    first = await client.post("/api/events/batch", headers=user.headers, json={"events": [event, event]})
    assert first.json()["stored"] == 1 and first.json()["duplicates"] == 1
    again = await client.post("/api/events", headers=user.headers, json=event)
    assert again.json() == {"received": 1, "stored": 0, "duplicates": 1, "dropped": 0}
    assert await count(session, "SELECT count(*) FROM events WHERE event_name = 'paid'") == 1


async def test_timestamps_in_the_far_future_are_refused(client: httpx.AsyncClient) -> None:
    user = await consenting_user(client)
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    response = await client.post(
        "/api/events", headers=user.headers, json={"event_name": "x", "timestamp": future}
    )
    assert response.status_code == 422 and error_of(response)["field"] == "timestamp"


async def test_ingestion_key_attributes_to_the_organization(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    response = await client.post(
        "/api/events",
        headers=project.key_headers,
        json={"event_name": "server_side", "distinct_id": "anon-7"},
    )
    assert response.status_code == 200 and response.json()["stored"] == 1
    row = (
        await session.execute(
            text("SELECT organization_id, user_id, distinct_id FROM events WHERE event_name = 'server_side'")
        )
    ).one()
    assert str(row.organization_id) == project.org_id and row.user_id is None and row.distinct_id == "anon-7"
    unknown = await client.post(
        "/api/events", headers={"Authorization": "Bearer phc_not_a_key"}, json={"event_name": "x"}
    )
    assert unknown.status_code == 401 and error_of(unknown)["code"] == "invalid_ingestion_key"
    rotated = await client.post(f"/api/orgs/{project.org_id}/ingestion-keys", headers=project.owner.headers)
    assert rotated.status_code == 201 and rotated.json()["key"] != project.key
    old = await client.post("/api/events", headers=project.key_headers, json={"event_name": "x"})
    assert old.status_code == 401, "a rotated key stops working"
    keys = (
        await client.get(f"/api/orgs/{project.org_id}/ingestion-keys", headers=project.owner.headers)
    ).json()
    assert keys["next_cursor"] is None
    assert [k["revoked_at"] is None for k in keys["items"]] == [True, False]
    assert all("key" not in k and k["key_prefix"].startswith("phc_") for k in keys["items"])
    anonymous = await client.post("/api/events", json={"event_name": "x"})
    assert anonymous.status_code == 401


async def test_ingestion_keys_are_listed_a_page_at_a_time(
    client: httpx.AsyncClient, project: Project
) -> None:
    url = f"/api/orgs/{project.org_id}/ingestion-keys"
    for _ in range(4):
        assert (await client.post(url, headers=project.owner.headers)).status_code == 201
    pages: list[list[dict[str, object]]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get(url, headers=project.owner.headers, params=params)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"items", "next_cursor"}
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    keys = [k for page in pages for k in page]
    assert len({k["id"] for k in keys}) == 5
    assert [k["revoked_at"] is None for k in keys] == [True, False, False, False, False], "the live key first"
    created = [k["created_at"] for k in keys]
    assert created == sorted(created, reverse=True)
    bad = await client.get(url, headers=project.owner.headers, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and error_of(bad)["field"] == "cursor"


async def test_page_views(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await consenting_user(client)
    one = await client.post(
        "/api/page-views",
        headers=user.headers,
        json={
            "page_url": "https://app.example.com/settings?tab=billing",
            "page_title": "Billing",
            "session_id": "s-1",
            "load_time_ms": 420,
            "time_on_page_seconds": 33,
            "bounce": False,
        },
    )
    assert one.json()["stored"] == 1
    many = await client.post(
        "/api/page-views",
        headers=user.headers,
        json={
            "page_views": [
                {"page_url": "https://app.example.com/a"},
                {"page_url": "https://app.example.com/b", "bounce": True},
            ]
        },
    )
    assert many.json()["stored"] == 2
    bad = await client.post("/api/page-views", headers=user.headers, json={"page_views": [{"page_url": ""}]})
    assert bad.status_code == 422 and error_of(bad)["field"] == "page_views.0.page_url"
    row = (
        await session.execute(
            text("SELECT page_url, page_title, load_time_ms FROM page_views WHERE session_id = 's-1'")
        )
    ).one()
    assert tuple(row) == ("https://app.example.com/settings?tab=billing", "Billing", 420)


async def test_page_views_have_a_request_schema_in_openapi(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/api/page-views"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    refs = {member["$ref"].rsplit("/", 1)[-1] for member in schema["anyOf"]}
    assert refs == {"PageViewIn", "PageViewBatchIn"}, schema
    components = spec["components"]["schemas"]
    assert {"page_url", "referrer", "viewed_at"} <= set(components["PageViewIn"]["properties"])
    batch = components["PageViewBatchIn"]["properties"]["page_views"]
    assert batch["items"]["$ref"].endswith("/PageViewIn") and batch["maxItems"] == 1000
    assert body["required"] is True


async def test_page_views_refusals_name_the_field(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await consenting_user(client)
    cases = [
        ({"page_url": "https://a.example/", "colour": "red"}, "colour"),
        (
            {"page_views": [{"page_url": "https://a.example/"}, {"page_url": "x", "load_time_ms": -1}]},
            "page_views.1.load_time_ms",
        ),
        ({"page_views": []}, "page_views"),
        ({"page_views": [{"page_url": "https://a.example/"}], "extra": 1}, "extra"),
        ([{"page_url": "https://a.example/"}], None),
    ]
    for body, field in cases:
        response = await client.post("/api/page-views", headers=user.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert error_of(response)["field"] == field, (body, response.text)
    assert await count(session, "SELECT count(*) FROM page_views WHERE user_id = :u", u=user.id) == 0


async def test_widget_events_belong_to_the_signed_in_user(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    user = await consenting_user(client)
    other = await signup(client)
    response = await client.post(
        "/api/widget-events",
        headers=user.headers,
        json={
            "events": [
                {
                    "widget_type": "calendar",
                    "event_type": "view",
                    "duration_seconds": 12,
                    "session_id": str(user.session_id),
                },
                {"widget_type": "weather", "event_type": "click", "event_data": {"city": "Paris"}},
            ]
        },
    )
    assert response.status_code == 200 and response.json()["stored"] == 2
    foreign = await client.post(
        "/api/widget-events",
        headers=user.headers,
        json={"widget_type": "calendar", "event_type": "view", "session_id": str(other.session_id)},
    )
    assert foreign.status_code == 404 and error_of(foreign)["field"] == "session_id"
    kind = await client.post(
        "/api/widget-events", headers=user.headers, json={"widget_type": "x", "event_type": "swipe"}
    )
    assert kind.status_code == 422 and error_of(kind)["field"] == "event_type"
    by_key = await client.post(
        "/api/widget-events", headers=project.key_headers, json={"widget_type": "x", "event_type": "view"}
    )
    assert by_key.status_code == 401
    assert await count(session, "SELECT count(*) FROM widget_analytics WHERE user_id = :u", u=user.id) == 2


async def test_ids_in_bodies_must_be_the_senders(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    """A dashboard_id or session_id from a request body names something of the sender's, or the
    request is a 404 naming the field and nothing of it is stored."""
    owner = await consenting_user(client)
    intruder = await consenting_user(client)
    mine = (await make_dashboard(client, owner))["id"]
    theirs = (await make_dashboard(client, intruder, device_name="Hall TV"))["id"]
    crash = {"event_type": "crash", "severity": "error", "message": "m"}
    widget = {"widget_type": "clock", "event_type": "view"}
    refused = [
        (intruder.headers, "/api/system-events", {**crash, "dashboard_id": mine}, "dashboard_id"),
        (
            intruder.headers,
            "/api/system-events",
            {"events": [{**crash, "dashboard_id": theirs}, {**crash, "dashboard_id": mine}]},
            "events.1.dashboard_id",
        ),
        (
            intruder.headers,
            "/api/system-events",
            {**crash, "dashboard_id": str(uuid.uuid4())},
            "dashboard_id",
        ),
        # An ingestion key is public: it vouches for no device.
        (project.key_headers, "/api/system-events", {**crash, "dashboard_id": mine}, "dashboard_id"),
        (intruder.headers, "/api/widget-events", {**widget, "dashboard_id": mine}, "dashboard_id"),
        (
            intruder.headers,
            "/api/widget-events",
            {"events": [{**widget, "dashboard_id": theirs}, {**widget, "session_id": str(owner.session_id)}]},
            "events.1.session_id",
        ),
    ]
    for headers, path, body, field in refused:
        response = await client.post(path, headers=headers, json=body)
        assert response.status_code == 404, (path, body, response.text)
        assert error_of(response)["field"] == field, (path, body, response.text)
    assert await count(session, "SELECT count(*) FROM system_events") == 0
    assert await count(session, "SELECT count(*) FROM widget_analytics") == 0
    assert (await client.delete(f"/api/dashboards/{theirs}", headers=intruder.headers)).status_code == 204
    gone = await client.post(
        "/api/system-events", headers=intruder.headers, json={**crash, "dashboard_id": theirs}
    )
    assert gone.status_code == 404 and error_of(gone)["field"] == "dashboard_id"
    accepted = [
        ("/api/system-events", {**crash, "dashboard_id": mine}),
        ("/api/widget-events", {**widget, "dashboard_id": mine, "session_id": str(owner.session_id)}),
    ]
    for path, body in accepted:
        response = await client.post(path, headers=owner.headers, json=body)
        assert response.status_code == 200 and response.json()["stored"] == 1, response.text
    stored = await count(
        session,
        "SELECT (SELECT count(*) FROM system_events WHERE dashboard_id = :d)"
        " + (SELECT count(*) FROM widget_analytics WHERE dashboard_id = :d)",
        d=mine,
    )
    assert stored == 2


async def test_activity(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await consenting_user(client)
    assert (
        await client.post("/api/activity", headers=user.headers, json={"action_name": "created_subscriber"})
    ).status_code == 200
    assert (
        await client.post("/api/activity", headers=user.headers, json={"event_type": "app_open"})
    ).status_code == 200
    no_name = await client.post("/api/activity", headers=user.headers, json={"event_type": "action"})
    assert no_name.status_code == 422 and error_of(no_name)["field"] == "action_name"
    too_long = await client.post("/api/activity", headers=user.headers, json={"action_name": "x" * 129})
    assert too_long.status_code == 422 and error_of(too_long)["field"] == "action_name"
    no_login = await client.post("/api/activity", headers=user.headers, json={"event_type": "login"})
    assert no_login.status_code == 422, "login rows come from sign-in only"
    rows = (
        await session.execute(
            text("SELECT event_type, action_name FROM activity_events WHERE user_id = :u ORDER BY id"),
            {"u": user.id},
        )
    ).all()
    assert [tuple(r) for r in rows] == [
        ("signup", None),
        ("action", "created_subscriber"),
        ("app_open", None),
    ]


async def test_sign_up_and_sign_in_write_activity_in_the_same_transaction(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    await client.post("/api/auth/login", json={"email": user.email, "password": "correct horse battery"})
    await client.post("/api/auth/login", json={"email": user.email, "password": "wrong password!"})
    types = (
        (
            await session.execute(
                text("SELECT event_type FROM activity_events WHERE user_id = :u ORDER BY id"), {"u": user.id}
            )
        )
        .scalars()
        .all()
    )
    assert types == ["signup", "login"], "a failed sign-in is no login"


async def test_system_events_errors_metrics_and_admin_triage(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client)
    admin = await make_admin(client, session)
    crash = await client.post(
        "/api/system-events",
        headers={**user.headers, "User-Agent": "TV/2.1"},
        json={
            "event_type": "crash",
            "severity": "critical",
            "message": "renderer died",
            "app_version": "2.1.0",
            "error_details": {"signal": 11},
        },
    )
    assert crash.status_code == 200 and crash.json()["stored"] == 1
    batch = await client.post(
        "/api/system-events",
        headers=user.headers,
        json={
            "events": [
                {
                    "event_type": "slow_sync",
                    "severity": "warning",
                    "message": "took 9s",
                    "app_version": "2.0.0",
                }
            ]
        },
    )
    assert batch.json()["stored"] == 1
    bad = await client.post(
        "/api/system-events",
        headers=user.headers,
        json={"event_type": "x", "severity": "apocalyptic", "message": "m"},
    )
    assert bad.status_code == 422 and error_of(bad)["field"] == "severity"
    error = await client.post(
        "/api/errors",
        headers=user.headers,
        json={
            "error_type": "model_error",
            "error_message": "timeout",
            "error_code": "E_TIMEOUT",
            "context": {"route": "/api/x"},
        },
    )
    assert error.json()["stored"] == 1
    bad_error = await client.post(
        "/api/errors", headers=user.headers, json={"error_type": "oops", "error_message": "m"}
    )
    assert bad_error.status_code == 422 and error_of(bad_error)["field"] == "error_type"
    metric = await client.post(
        "/api/metrics",
        headers=user.headers,
        json={
            "metrics": [
                {
                    "metric_name": "tv.fps",
                    "metric_type": "gauge",
                    "value": 58.5,
                    "unit": "fps",
                    "tags": {"model": "x1"},
                }
            ]
        },
    )
    assert metric.json()["stored"] == 1
    bad_metric = await client.post(
        "/api/metrics",
        headers=user.headers,
        json={"metric_name": "bad name!", "metric_type": "gauge", "value": 1},
    )
    assert bad_metric.status_code == 422 and error_of(bad_metric)["field"] == "metric_name"

    assert (await client.get("/api/admin/system-events", headers=user.headers)).status_code == 403
    critical = (await client.get("/api/admin/system-events?severity=critical", headers=admin.headers)).json()[
        "items"
    ]
    assert [e["message"] for e in critical] == ["renderer died"] and critical[0]["user_agent"] == "TV/2.1"
    resolved = await client.post(
        f"/api/admin/system-events/{critical[0]['id']}/resolve", headers=admin.headers
    )
    assert resolved.json()["resolved_at"] and resolved.json()["resolved_by"] == str(admin.id)
    open_ones = (await client.get("/api/admin/system-events?resolved=false", headers=admin.headers)).json()[
        "items"
    ]
    assert [e["event_type"] for e in open_ones] == ["slow_sync"]
    errors = (await client.get("/api/admin/errors?error_type=model_error", headers=admin.headers)).json()[
        "items"
    ]
    assert [e["error_code"] for e in errors] == ["E_TIMEOUT"]
    done = await client.post(f"/api/admin/errors/{errors[0]['id']}/resolve", headers=admin.headers)
    assert done.json()["resolved"] is True
    missing = await client.post(f"/api/admin/errors/{uuid.uuid4()}/resolve", headers=admin.headers)
    assert missing.status_code == 404


def _deep(levels: int) -> str:
    return "[" * levels + "0" + "]" * levels


# (path, raw JSON body, expected status, SQL counting what must be stored for the sender)
NATIVE_HOSTILE = [
    (
        "/api/events",
        '{"event_name":"n\\u0000","distinct_id":"d\\u0000","properties":{"k\\u0000":["\\u0000"]}}',
        200,
        "SELECT count(*) FROM events WHERE event_name = 'n\ufffd' AND distinct_id = 'd\ufffd' "
        'AND properties = \'{"k\ufffd": ["\ufffd"]}\'',
    ),
    (
        "/api/events/batch",
        '{"events":[{"event_name":"big","properties":{"a":18446744073709551616,"b":1' + "0" * 400 + "}}]}",
        200,
        "SELECT count(*) FROM events WHERE event_name = 'big' "
        'AND properties = \'{"a": 18446744073709552000, "b": "1' + "0" * 400 + "\"}'",
    ),
    (
        "/api/events",
        '{"event_name":"deep","properties":{"s":"\\ud800","d":' + _deep(400) + "}}",
        200,
        "SELECT count(*) FROM events WHERE event_name = 'deep' AND properties->>'s' = '\ufffd'",
    ),
    (
        "/api/events",
        '{"event_name":"tz","timestamp":"2026-01-01T20:00:00+20:00"}',
        200,
        "SELECT count(*) FROM events WHERE event_name = 'tz' AND timestamp = '2026-01-01T00:00:00Z'",
    ),
    ("/api/events", '{"event_name":"tz","timestamp":"0001-01-01T00:00:00+01:00"}', 422, "SELECT 0"),
    (
        "/api/page-views",
        '{"page_url":"https://a.example/\\u0000","page_title":"\\u0000","viewed_at":"2026-01-01T15:30:00+15:30"}',
        200,
        "SELECT count(*) FROM page_views WHERE page_url = 'https://a.example/\ufffd' "
        "AND viewed_at = '2026-01-01T00:00:00Z'",
    ),
    (
        "/api/system-events",
        '{"event_type":"crash","severity":"error","message":"m\\u0000","error_details":{"n":-9223372036854775809}}',
        200,
        "SELECT count(*) FROM system_events WHERE message = 'm\ufffd'",
    ),
    (
        "/api/errors",
        '{"error_type":"system_error","error_message":"e","context":{"d":' + _deep(300) + "}}",
        200,
        "SELECT count(*) FROM error_logs WHERE error_message = 'e'",
    ),
    (
        "/api/metrics",
        '{"metric_name":"m","metric_type":"gauge","value":1,"tags":{"t":"\\u0000"}}',
        200,
        "SELECT count(*) FROM performance_metrics WHERE metric_name = 'm' AND tags->>'t' = '\ufffd'",
    ),
    (
        "/api/widget-events",
        '{"widget_type":"w","event_type":"view","event_data":{"x":"\\u0000","n":18446744073709551616}}',
        200,
        "SELECT count(*) FROM widget_analytics WHERE widget_type = 'w' AND event_data->>'x' = '\ufffd'",
    ),
]


@pytest.mark.parametrize(("path", "body", "status", "stored_sql"), NATIVE_HOSTILE, ids=lambda v: str(v)[:40])
async def test_hostile_native_input_is_repaired_or_refused_never_a_500(
    client: httpx.AsyncClient, session: AsyncSession, path: str, body: str, status: int, stored_sql: str
) -> None:
    user = await consenting_user(client)
    response = await client.post(
        path, content=body.encode(), headers={**user.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["stored"] == 1
        assert await count(session, stored_sql) == 1
    else:
        assert error_of(response)["field"] == "timestamp"
        assert await count(session, "SELECT count(*) FROM events WHERE user_id = :u", u=user.id) == 0


async def test_nul_in_a_distinct_id_sent_with_an_ingestion_key(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    response = await client.post(
        "/api/events/batch",
        content=b'{"events":[{"event_name":"k","distinct_id":"anon\\u0000"}]}',
        headers={**project.key_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200 and response.json()["stored"] == 1
    assert await count(session, "SELECT count(*) FROM events WHERE distinct_id = 'anon\ufffd'") == 1
