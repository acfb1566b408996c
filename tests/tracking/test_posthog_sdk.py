"""The official PostHog Python SDK, unchanged, sending to a real saaskit server process."""

from __future__ import annotations

import httpx
import posthog
import psycopg
import pytest

from saaskit.kit.db import libpq_url
from tests.conftest import DbUnderTest
from tests.live import ServeProcess

pytestmark = pytest.mark.live


def _project(server: ServeProcess) -> tuple[str, str, str]:
    with httpx.Client(base_url=server.base) as http:
        owner = http.post(
            "/api/auth/signup",
            json={"email": "sdk-owner@example.com", "password": "a long password", "analytics_consent": True},
        ).json()
        headers = {"Authorization": f"Bearer {owner['token']}"}
        org = http.post("/api/orgs", json={"name": "SDK test"}, headers=headers).json()
        key = http.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=headers).json()["key"]
    return org["id"], key, owner["user"]["id"]


@pytest.mark.parametrize("gzip", [False, True])
def test_sdk_events_are_all_stored_once_and_attributed(
    live_server: ServeProcess, fresh_database: DbUnderTest, gzip: bool
) -> None:
    org_id, key, owner_id = _project(live_server)
    client = posthog.Posthog(
        key, host=live_server.base, flush_at=50, flush_interval=0.2, gzip=gzip, max_retries=2, sync_mode=False
    )
    errors: list[Exception] = []
    client.on_error = lambda error, batch: errors.append(error)
    client.capture(
        "$identify", distinct_id="user-owner", properties={"$set": {"email": "sdk-owner@example.com"}}
    )
    client.flush()
    for i in range(300):
        client.capture(
            "widget_viewed",
            distinct_id="user-owner" if i % 2 else f"anon-{i % 7}",
            properties={"widget": "calendar", "i": i},
        )
    client.capture("$pageview", distinct_id="anon-1", properties={"$current_url": "https://tv.example.com/"})
    client.flush()
    client.shutdown()
    assert errors == []
    with psycopg.connect(libpq_url(fresh_database.owner_url)) as conn:
        total, distinct_i, owned = conn.execute(
            "SELECT count(*), count(DISTINCT (properties->>'i')), count(*) FILTER (WHERE user_id = %s) "
            "FROM events WHERE organization_id = %s AND event_name = 'widget_viewed'",
            (owner_id, org_id),
        ).fetchone()
        pages = conn.execute(
            "SELECT count(*) FROM page_views WHERE organization_id = %s", (org_id,)
        ).fetchone()[0]
        lib = conn.execute(
            "SELECT properties->>'$lib' FROM events WHERE organization_id = %s LIMIT 1", (org_id,)
        ).fetchone()[0]
    assert total == 300 and distinct_i == 300, "every event stored, none twice"
    assert owned == 150, "events of the identified distinct_id belong to the user"
    assert pages == 1
    assert lib == "posthog-python"
