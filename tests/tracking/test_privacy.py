"""Tracking levels and consent decide what is kept; what is dropped is counted."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.hashing import ip_hash
from saaskit.kit.state import Runtime
from tests.helpers import signup
from tests.tracking.conftest import Project, consenting_user, count

EVENT = {
    "event_name": "opened_settings",
    "properties": {
        "$current_url": "https://app.example.com/settings?email=a@b.c",
        "$browser": "Firefox",
        "search_text": "my private note",
        "plan": "pro",
    },
}
PAGE = {
    "page_url": "https://app.example.com/inbox?q=secret",
    "page_title": "Inbox of Ada",
    "referrer": "https://mail.example.com/?token=abc",
}


async def test_full_keeps_everything(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await consenting_user(client, "full")
    assert (await client.post("/api/events", headers=user.headers, json=EVENT)).json()["stored"] == 1
    props = (
        await session.execute(text("SELECT properties FROM events WHERE user_id = :u"), {"u": user.id})
    ).scalar_one()
    assert props == EVENT["properties"]


async def test_analytics_only_keeps_no_free_text(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await consenting_user(client, "analytics_only")
    assert (await client.post("/api/events", headers=user.headers, json=EVENT)).json()["stored"] == 1
    props = (
        await session.execute(text("SELECT properties FROM events WHERE user_id = :u"), {"u": user.id})
    ).scalar_one()
    assert props == {"$current_url": "https://app.example.com/settings", "$browser": "Firefox", "plan": "pro"}
    assert (await client.post("/api/page-views", headers=user.headers, json=PAGE)).json()["stored"] == 1
    page = (
        await session.execute(
            text("SELECT page_url, page_title, referrer FROM page_views WHERE user_id = :u"), {"u": user.id}
        )
    ).one()
    assert tuple(page) == ("https://app.example.com/inbox", None, "https://mail.example.com/")
    widget = await client.post(
        "/api/widget-events",
        headers=user.headers,
        json={"widget_type": "notes", "event_type": "configure", "event_data": {"text": "x"}},
    )
    assert widget.json()["stored"] == 1
    data = (
        await session.execute(
            text("SELECT event_data FROM widget_analytics WHERE user_id = :u"), {"u": user.id}
        )
    ).scalar_one()
    assert data is None


async def test_errors_only_keeps_errors_and_counts_the_rest(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await consenting_user(client, "errors_only")
    for url, body in (
        ("/api/events", EVENT),
        ("/api/page-views", PAGE),
        ("/api/widget-events", {"widget_type": "w", "event_type": "view"}),
        ("/api/activity", {"action_name": "did_something"}),
    ):
        answer = (await client.post(url, headers=user.headers, json=body)).json()
        assert answer["stored"] == 0 and answer["dropped"] == 1, url
    kept = await client.post(
        "/api/errors", headers=user.headers, json={"error_type": "system_error", "error_message": "boom"}
    )
    assert kept.json()["stored"] == 1
    crash = await client.post(
        "/api/system-events",
        headers=user.headers,
        json={"event_type": "crash", "severity": "error", "message": "x"},
    )
    assert crash.json()["stored"] == 1
    assert await count(session, "SELECT count(*) FROM events WHERE user_id = :u", u=user.id) == 0
    assert await count(session, "SELECT count(*) FROM error_logs WHERE user_id = :u", u=user.id) == 1


async def test_no_consent_is_errors_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await signup(client)  # analytics_consent defaults to false
    answer = (
        await client.post("/api/events/batch", headers=user.headers, json={"events": [EVENT, EVENT]})
    ).json()
    assert answer == {"received": 2, "stored": 0, "duplicates": 0, "dropped": 2}
    await client.patch("/api/me", headers=user.headers, json={"analytics_consent": True})
    assert (await client.post("/api/events", headers=user.headers, json=EVENT)).json()["stored"] == 1


async def test_ip_properties_are_hashed_never_stored_raw(
    client: httpx.AsyncClient, session: AsyncSession, project: Project, runtime: Runtime
) -> None:
    captured = await client.post(
        "/batch",
        json={
            "api_key": project.key,
            "batch": [
                {
                    "event": "e",
                    "distinct_id": "d",
                    "properties": {"$ip": "198.51.100.23", "ip": " 198.51.100.24 "},
                },
                {"event": "f", "distinct_id": "d", "properties": {"$ip": {"not": "an address"}, "ip": ""}},
            ],
        },
    )
    assert captured.status_code == 200
    full = await consenting_user(client, "full")
    native = await client.post(
        "/api/events", headers=full.headers, json={"event_name": "g", "properties": {"$ip": "198.51.100.25"}}
    )
    assert native.json()["stored"] == 1
    partial = await consenting_user(client, "analytics_only")
    await client.post(
        "/api/events",
        headers=partial.headers,
        json={"event_name": "h", "properties": {"ip": "198.51.100.26"}},
    )
    rows = dict(
        (
            await session.execute(
                text(
                    "SELECT event_name, properties FROM events "
                    "WHERE organization_id = :o OR user_id IN (:full, :partial)"
                ),
                {"o": project.org_id, "full": full.id, "partial": partial.id},
            )
        ).all()
    )
    assert "198.51.100" not in str(rows), "no raw IP is stored"
    assert rows["e"] == {
        "$ip_hash": ip_hash(runtime.secret, "198.51.100.23"),
        "ip_hash": ip_hash(runtime.secret, "198.51.100.24"),
    }
    assert rows["f"] == {}, "a value that is no address is dropped"
    assert rows["g"] == {"$ip_hash": ip_hash(runtime.secret, "198.51.100.25")}
    assert rows["h"] == {}, "analytics_only keeps no IP hash either (not on the allow-list)"
