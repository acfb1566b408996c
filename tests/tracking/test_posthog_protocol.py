"""The PostHog capture protocol: every body shape and encoding PostHog accepts, its answers
and refusals, $identify and $pageview."""

from __future__ import annotations

import base64
import gzip
import uuid
from urllib.parse import quote

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import invite_and_join
from tests.tracking.conftest import Project, count

PATHS = ["/capture", "/batch", "/e", "/i/v0/e", "/track", "/engage"]


def _event(name: str = "clicked", distinct_id: str = "anon-1", **extra: object) -> dict[str, object]:
    return {
        "event": name,
        "distinct_id": distinct_id,
        "uuid": str(uuid.uuid4()),
        "properties": {"n": 1},
        **extra,
    }


async def _names(session: AsyncSession, org_id: str) -> list[str]:
    rows = await session.execute(
        text("SELECT event_name FROM events WHERE organization_id = :o ORDER BY created_at, event_name"),
        {"o": org_id},
    )
    return [r[0] for r in rows.all()]


@pytest.mark.parametrize("path", [p + slash for p in PATHS for slash in ("", "/")])
async def test_every_path_answers_status_1(
    client: httpx.AsyncClient, session: AsyncSession, project: Project, path: str
) -> None:
    response = await client.post(path, json={"api_key": project.key, "batch": [_event(path)]})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": 1}
    assert await _names(session, project.org_id) == [path]


async def test_body_shapes_and_token_places(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    shapes = [
        ("/batch", {"api_key": project.key, "batch": [_event("envelope_api_key")]}),
        ("/batch", {"token": project.key, "batch": [_event("envelope_token")]}),
        ("/capture", [{**_event("bare_array"), "api_key": project.key}]),
        ("/capture", {**_event("single_api_key"), "api_key": project.key}),
        ("/e", {**_event("single_token"), "token": project.key}),
        ("/e", {"event": "props_token", "properties": {"token": project.key, "distinct_id": "d-9"}}),
        ("/e", {"event": "props_dollar_token", "properties": {"$token": project.key, "distinct_id": "d-9"}}),
        ("/i/v0/e", {"event": "dollar_distinct", "$distinct_id": "d-8", "api_key": project.key}),
    ]
    for path, body in shapes:
        response = await client.post(path, json=body)
        assert response.status_code == 200, (path, body, response.text)
    assert sorted(await _names(session, project.org_id)) == sorted(
        name
        for name in (
            "envelope_api_key",
            "envelope_token",
            "bare_array",
            "single_api_key",
            "single_token",
            "props_token",
            "props_dollar_token",
            "dollar_distinct",
        )
    )
    distinct = (
        await session.execute(text("SELECT distinct_id FROM events WHERE event_name = 'props_token'"))
    ).scalar_one()
    assert distinct == "d-9"


async def test_encodings(client: httpx.AsyncClient, session: AsyncSession, project: Project) -> None:
    def body(name: str) -> bytes:
        return orjson.dumps({"api_key": project.key, "batch": [_event(name)]})

    sent = [
        # posthog-js default: gzip, text/plain, no header, no query: found by the magic bytes.
        await client.post(
            "/e/", content=gzip.compress(body("gzip_sniffed")), headers={"Content-Type": "text/plain"}
        ),
        # posthog-python gzip=True / posthog-node default.
        await client.post(
            "/batch/",
            content=gzip.compress(body("gzip_header")),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        ),
        # older posthog-js: gzip-js hint in the query.
        await client.post("/e/?compression=gzip-js&ver=1.100.0", content=gzip.compress(body("gzip_query"))),
        # sendBeacon: form body, base64, hint in the query.
        await client.post(
            "/e/?compression=base64",
            content=b"data=" + quote(base64.b64encode(body("form_base64")).decode()).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        # form body with the hint inside the form.
        await client.post(
            "/e/",
            content=b"data="
            + quote(base64.b64encode(body("form_hint")).decode()).encode()
            + b"&compression=base64",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        # legacy GET with data= in the query.
        await client.get("/e/", params={"data": base64.b64encode(body("get_base64")).decode()}),
        await client.get("/capture", params={"data": body("get_json").decode()}),
        # raw base64 body.
        await client.post("/capture/", content=base64.b64encode(body("raw_base64"))),
    ]
    assert [r.status_code for r in sent] == [200] * len(sent), [r.text for r in sent]
    assert sorted(await _names(session, project.org_id)) == sorted(
        [
            "gzip_sniffed",
            "gzip_header",
            "gzip_query",
            "form_base64",
            "form_hint",
            "get_base64",
            "get_json",
            "raw_base64",
        ]
    )


async def test_refusals(client: httpx.AsyncClient, session: AsyncSession, project: Project) -> None:
    cases = [
        (
            400,
            await client.post("/batch", content=b"{not json", headers={"Content-Type": "application/json"}),
        ),
        (400, await client.post("/e/", content=b"\x1f\x8b\x08garbage")),
        (400, await client.post("/batch", json={"api_key": project.key, "batch": []})),
        (
            400,
            await client.post(
                "/batch",
                json={
                    "api_key": project.key,
                    "batch": [_event("fine"), {"event": "no_distinct", "properties": {}}],
                },
            ),
        ),
        (400, await client.post("/batch", json={"api_key": project.key, "batch": [{"distinct_id": "x"}]})),
        (
            400,
            await client.post(
                "/e/?compression=lz64",
                content=b"data=abc",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
        ),
        (401, await client.post("/batch", json={"batch": [_event()]})),
        (401, await client.post("/batch", json={"api_key": "phc_unknown", "batch": [_event()]})),
        (
            401,
            await client.post(
                "/capture", json=[{**_event(), "api_key": project.key}, {**_event(), "api_key": "phc_other"}]
            ),
        ),
    ]
    for expected, response in cases:
        assert response.status_code == expected, response.text
        assert response.json()["error"]["message"] and response.json()["detail"]
    assert (
        await count(session, "SELECT count(*) FROM events WHERE organization_id = :o", o=project.org_id) == 0
    ), "a batch with one bad event stores nothing"


async def test_clock_skew_and_dedup(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    event_id = str(uuid.uuid4())
    # The client's clock runs an hour fast: sent_at and timestamp are both an hour ahead.
    body = {
        "api_key": project.key,
        "sent_at": "2030-01-01T13:00:00Z",
        "batch": [
            {"event": "skewed", "distinct_id": "a", "uuid": event_id, "timestamp": "2030-01-01T12:59:00Z"}
        ],
    }
    assert (await client.post("/batch", json=body)).status_code == 200
    assert (await client.post("/batch", json=body)).status_code == 200, "a retry is acknowledged"
    assert await count(session, "SELECT count(*) FROM events WHERE id = :i", i=event_id) == 1
    lag = (
        await session.execute(
            text("SELECT extract(epoch FROM clock_timestamp() - timestamp) FROM events WHERE id = :i"),
            {"i": event_id},
        )
    ).scalar_one()
    assert 55 <= float(lag) <= 65, "one minute before receipt, whatever the client's clock said"
    future = {
        "api_key": project.key,
        "batch": [{"event": "future", "distinct_id": "a", "timestamp": "2099-01-01T00:00:00Z"}],
    }
    assert (await client.post("/batch", json=future)).status_code == 200
    clamped = (
        await session.execute(
            text(
                "SELECT timestamp <= clock_timestamp() + interval '1 second' FROM events WHERE event_name = 'future'"
            )
        )
    ).scalar_one()
    assert clamped is True


async def test_identify_links_distinct_ids_to_members_only(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    member = await invite_and_join(client, project.owner, project.org_id)
    await client.patch("/api/me", headers=member.headers, json={"analytics_consent": True})
    outsider_email = "stranger@example.com"
    identify = {
        "api_key": project.key,
        "batch": [
            {
                "event": "$identify",
                "distinct_id": "user-42",
                "properties": {"$anon_distinct_id": "anon-42"},
                "$set": {"email": member.email},
            },
            {"event": "$identify", "distinct_id": "user-99", "$set": {"email": outsider_email}},
        ],
    }
    assert (await client.post("/e/", json=identify)).status_code == 200
    later = {
        "api_key": project.key,
        "batch": [
            _event("after_identify", "user-42"),
            _event("still_anon", "anon-42"),
            _event("outsider", "user-99"),
        ],
    }
    assert (await client.post("/batch", json=later)).status_code == 200
    owners = dict(
        (
            await session.execute(
                text(
                    "SELECT event_name, user_id FROM events WHERE organization_id = :o AND event_name IN "
                    "('after_identify', 'still_anon', 'outsider')"
                ),
                {"o": project.org_id},
            )
        ).all()
    )
    assert owners == {"after_identify": member.id, "still_anon": member.id, "outsider": None}


async def test_identified_users_tracking_level_applies(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    member = await invite_and_join(client, project.owner, project.org_id)  # no analytics consent
    await client.post(
        "/batch",
        json={
            "api_key": project.key,
            "batch": [{"event": "$identify", "distinct_id": "u-1", "$set": {"email": member.email}}],
        },
    )
    response = await client.post("/batch", json={"api_key": project.key, "batch": [_event("tracked", "u-1")]})
    assert response.status_code == 200
    assert await count(session, "SELECT count(*) FROM events WHERE event_name = 'tracked'") == 0


async def test_pageview_fills_page_views(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    pageview = {
        "event": "$pageview",
        "properties": {
            "token": project.key,
            "distinct_id": "anon-5",
            "$current_url": "https://tv.example.com/setup?step=2",
            "title": "Set up your TV",
            "$referrer": "https://google.com/",
            "$session_id": "sess-1",
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": None,
        },
    }
    assert (await client.post("/e/", json={"api_key": project.key, "batch": [pageview]})).status_code == 200
    page = (
        await session.execute(
            text(
                "SELECT page_url, page_title, referrer, session_id FROM page_views WHERE organization_id = :o"
            ),
            {"o": project.org_id},
        )
    ).one()
    assert tuple(page) == (
        "https://tv.example.com/setup?step=2",
        "Set up your TV",
        "https://google.com/",
        "sess-1",
    )
    utm = (
        await session.execute(
            text("SELECT utm_source, utm_medium, utm_campaign FROM events WHERE event_name = '$pageview'")
        )
    ).one()
    assert tuple(utm) == ("google", "cpc", None)


async def test_engage_without_event_is_an_identify(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    response = await client.post(
        "/engage/", json={"api_key": project.key, "distinct_id": "e-1", "$set": {"a": 1}}
    )
    assert response.status_code == 200
    assert await _names(session, project.org_id) == ["$identify"]


async def test_browser_preflight(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/e/", headers={"Origin": "https://tv.example.com", "Access-Control-Request-Headers": "content-type"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://tv.example.com"
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_direct_visits_have_no_referrer(
    client: httpx.AsyncClient, session: AsyncSession, project: Project
) -> None:
    """posthog-js sends ``$referrer: "$direct"`` when there is none: that is not a URL."""
    pageview = {
        "event": "$pageview",
        "distinct_id": "anon-6",
        "properties": {
            "$current_url": "https://tv.example.com/",
            "$referrer": "$direct",
            "$session_id": "s-d",
        },
    }
    assert (await client.post("/e/", json={"api_key": project.key, "batch": [pageview]})).status_code == 200
    native = await client.post(
        "/api/page-views",
        headers=project.key_headers,
        json={"page_url": "https://tv.example.com/a", "referrer": "$direct", "session_id": "s-d"},
    )
    assert native.json()["stored"] == 1
    referrers = (
        (await session.execute(text("SELECT referrer FROM page_views WHERE session_id = 's-d'")))
        .scalars()
        .all()
    )
    assert referrers == [None, None]
