"""posthog-python's capture v1 (``capture_mode='v1'``, ``POST /i/v1/analytics/events``): the real
SDK against a running server stores every event once, with its library, session and person
data; the endpoint's errors and retries follow the v1 contract."""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import posthog
import psycopg
import pytest
from posthog.capture_mode import CaptureMode
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.db import libpq_url
from tests.conftest import DbUnderTest
from tests.live import ServeProcess
from tests.tracking.conftest import Project, count, make_project

PATH = "/i/v1/analytics/events"


def _projects(server: ServeProcess, names: list[str]) -> dict[str, tuple[str, str]]:
    """One organization with an ingestion key per name: name -> (organization id, key)."""
    with httpx.Client(base_url=server.base) as http:
        owner = http.post(
            "/api/auth/signup",
            json={"email": "v1@example.com", "password": "a long password", "analytics_consent": True},
        ).json()
        headers = {"Authorization": f"Bearer {owner['token']}"}
        found = {}
        for name in names:
            org = http.post("/api/orgs", json={"name": f"V1 {name}"}, headers=headers).json()
            key = http.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=headers).json()["key"]
            found[name] = (org["id"], key)
    return found


def _send(host: str, key: str, compression: str) -> list[Exception]:
    client = posthog.Posthog(
        key,
        host=host,
        capture_mode="v1",
        capture_compression=compression,
        flush_at=40,
        flush_interval=0.2,
        max_retries=1,
    )
    assert client.capture_mode == CaptureMode.V1
    errors: list[Exception] = []
    client.on_error = lambda error, batch: errors.append(error)
    for i in range(150):
        client.capture(
            "report_opened",
            distinct_id=f"v1-user-{i % 5}",
            properties={"i": i, "$session_id": "session-1", "$process_person_profile": True},
        )
    client.capture(
        "$pageview", distinct_id="v1-anon", properties={"$current_url": "https://shop.example.com/x"}
    )
    client.set(distinct_id="v1-user-1", properties={"plan": "pro"})
    client.alias(previous_id="v1-anon", distinct_id="v1-user-1")
    client.flush()
    client.shutdown()
    return errors


@pytest.mark.live
def test_the_sdk_in_v1_mode_stores_every_event_once(
    live_server: ServeProcess, fresh_database: DbUnderTest
) -> None:
    """The real SDK with each body compression it offers, one organization each."""
    compressions = ["none", "gzip", "deflate"]
    for compression, (org_id, key) in _projects(live_server, compressions).items():
        assert _send(live_server.base, key, compression) == [], compression
        with psycopg.connect(libpq_url(fresh_database.owner_url)) as conn:
            total, distinct_i, libs, sessions = conn.execute(
                "SELECT count(*), count(DISTINCT properties->>'i'), array_agg(DISTINCT properties->>'$lib'), "
                "count(*) FILTER (WHERE session_id = 'session-1') "
                "FROM events WHERE organization_id = %s AND event_name = 'report_opened'",
                (org_id,),
            ).fetchone()
            pages = conn.execute(
                "SELECT count(*) FROM page_views WHERE organization_id = %s", (org_id,)
            ).fetchone()
            linked = conn.execute(
                "SELECT count(DISTINCT person_id) FROM person_distinct_ids "
                "WHERE organization_id = %s AND distinct_id IN ('v1-anon', 'v1-user-1')",
                (org_id,),
            ).fetchone()
            plan = conn.execute(
                "SELECT p.properties->>'plan' FROM persons p JOIN person_distinct_ids d ON d.person_id = p.id "
                "WHERE d.organization_id = %s AND d.distinct_id = 'v1-anon'",
                (org_id,),
            ).fetchone()
        assert total == 150 and distinct_i == 150, (compression, "every event stored, none twice")
        assert libs == ["posthog-python"], "the library named by PostHog-Sdk-Info"
        assert sessions == 150
        assert pages == (1,)
        assert linked == (1,), "alias over v1 links both ids to one person"
        assert plan == ("pro",), "$set over v1 reaches the person"


async def test_v1_errors_retries_and_skew(client: httpx.AsyncClient, session: AsyncSession) -> None:
    project: Project = await make_project(client)
    headers = {
        "Authorization": f"Bearer {project.key}",
        "PostHog-Sdk-Info": "posthog-go/1.5.0",
        "Origin": "https://shop.example.com",
    }
    sent = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    batch = {
        "created_at": sent.isoformat(),
        "batch": [
            {
                "event": "signed_up",
                "uuid": ids[n],
                "distinct_id": "go-1",
                # The client's clock runs an hour behind: corrected by the request's timestamp.
                "timestamp": (sent - timedelta(hours=1, seconds=n)).isoformat(),
                "options": {"disable_skew_correction": n == 2},
                "properties": {"n": n},
                "window_id": "w-1",
            }
            for n in range(3)
        ],
    }
    skewed = {**headers, "PostHog-Request-Timestamp": (sent - timedelta(hours=1)).isoformat()}
    first = await client.post(PATH, json=batch, headers=skewed)
    assert first.status_code == 200, first.text
    assert first.json() == {"results": {i: {"result": "ok"} for i in ids}}
    assert first.headers["access-control-allow-origin"] == "https://shop.example.com"
    # The SDK's retry of the same batch: answered ok, stored nothing more.
    retry = await client.post(
        PATH,
        content=gzip.compress(httpx.Request("POST", "/", json=batch).content),
        headers={**skewed, "Content-Encoding": "gzip"},
    )
    assert retry.status_code == 200 and retry.json() == first.json()
    stored = (
        await session.execute(
            text(
                "SELECT properties->>'n', timestamp, properties->>'$lib', properties->>'$lib_version', "
                "properties->>'$window_id', properties->>'$ignore_sent_at' FROM events "
                "WHERE organization_id = :o AND event_name = 'signed_up' ORDER BY properties->>'n'"
            ),
            {"o": project.org_id},
        )
    ).all()
    assert [r[0] for r in stored] == ["0", "1", "2"], "three events, each once"
    assert all(r[2:5] == ("posthog-go", "1.5.0", "w-1") for r in stored)
    now = datetime.now(UTC)
    assert abs((stored[0][1] - now).total_seconds()) < 60, "skew corrected by PostHog-Request-Timestamp"
    assert abs((stored[2][1] - (sent - timedelta(hours=1, seconds=2))).total_seconds()) < 1, (
        "disable_skew_correction keeps the client's time"
    )
    assert stored[2][5] == "true"
    assert (
        await count(session, "SELECT count(*) FROM events WHERE organization_id = :o", o=project.org_id) == 3
    )

    # Batch-level errors: the SDK does not retry 400/401/413/415 (and logs error_description).
    event = {"event": "x", "uuid": str(uuid.uuid4()), "distinct_id": "d", "timestamp": sent.isoformat()}
    for body, extra, status in (
        ({"batch": [event]}, {"Authorization": "Bearer phc_unknown"}, 401),
        ({"batch": [event]}, {"Authorization": ""}, 401),
        ({"batch": [{**event, "event": ""}]}, {}, 400),
        ({"batch": [{**event, "distinct_id": None}]}, {}, 400),
        ({"batch": [{**event, "options": "yes"}]}, {}, 400),
        ({"batch": [event, "not an event"]}, {}, 400),
        ({"batch": []}, {}, 400),
        ({"events": [event]}, {}, 400),
        ([event], {}, 400),
        ({"batch": [event]}, {"Content-Encoding": "zstd"}, 415),
    ):
        answer = await client.post(PATH, json=body, headers={**headers, **extra})
        assert answer.status_code == status, (body, extra, answer.text)
        assert isinstance(answer.json()["error_description"], str) and answer.json()["error_description"]
        assert answer.json()["error"]["code"] in (
            "invalid_ingestion_key",
            "bad_request",
            "unsupported_media_type",
        )
        assert answer.headers["access-control-allow-origin"] == "https://shop.example.com"
    too_many = {"batch": [dict(event, uuid=str(uuid.uuid4())) for _ in range(5001)]}
    answer = await client.post(PATH, json=too_many, headers=headers)
    assert answer.status_code == 413 and "5001" in answer.json()["error_description"]
    assert (
        await count(session, "SELECT count(*) FROM events WHERE organization_id = :o", o=project.org_id) == 3
    )
    preflight = await client.options(PATH, headers={**headers, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
