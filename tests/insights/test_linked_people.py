"""Funnels and retention count an anonymous visitor and the person they later identify as once:
events stored under an anonymous id before ``$identify`` (or an e-mail that names a member)
linked it are resolved through the links when the figure is computed (``person_keys``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx

from tests.tracking.conftest import make_project


async def test_anonymous_events_count_for_the_identified_person(client: httpx.AsyncClient) -> None:
    project = await make_project(client)
    owner = project.owner
    today = datetime.now(UTC).date()
    first, second = (datetime.combine(today - timedelta(days=d), time(10), UTC) for d in (3, 2))

    def event(name: str, distinct_id: str, at: datetime, **properties: Any) -> dict[str, Any]:
        return {
            "uuid": str(uuid.uuid4()),
            "event": name,
            "distinct_id": distinct_id,
            "timestamp": at.isoformat(),
            "properties": properties,
        }

    batch = [
        event("visit", "anon-1", first),
        event("visit", "anon-2", first),  # never identified: a person of its own, who visits only
        event("visit", "anon-3", first),
        # anon-1 signs up as known-1 (no member: a PostHog person); anon-3 as the owner, by e-mail.
        event("$identify", "known-1", second, **{"$anon_distinct_id": "anon-1"}),
        event(
            "$identify", "owner-x", second, **{"$anon_distinct_id": "anon-3", "$set": {"email": owner.email}}
        ),
        event("purchase", "known-1", second + timedelta(hours=1)),
        event("purchase", "owner-x", second + timedelta(hours=1)),
    ]
    sent = await client.post("/batch/", json={"api_key": project.key, "batch": batch})
    assert sent.status_code == 200, sent.text

    params = {
        "organization_id": project.org_id,
        "from": (today - timedelta(days=4)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }
    body = {
        "steps": [{"name": "Visit", "event": "visit"}, {"name": "Buy", "event": "purchase"}],
        "conversion_window_days": 3,
    }
    funnel = await client.post("/api/insights/funnels/query", params=params, json=body, headers=owner.headers)
    assert funnel.status_code == 200, funnel.text
    counts = [step["people"] for step in funnel.json()["steps"]]
    assert counts == [3, 2], funnel.json()  # unlinked, the purchases would be other people's: [3, 0]

    retention = await client.get(
        "/api/insights/retention",
        params={
            **params,
            "start_event": "visit",
            "return_event": "purchase",
            "period": "day",
            "periods": "2",
        },
        headers=owner.headers,
    )
    assert retention.status_code == 200, retention.text
    cohort = next(c for c in retention.json()["cohorts"] if c["size"])
    assert cohort["size"] == 3 and cohort["values"][:2] == [0, 2], cohort
