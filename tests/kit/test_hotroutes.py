"""kit.hotroutes: the raw routes answer exactly as the declared FastAPI routes would (errors
named by field, malformed JSON, authentication), keep the edge's checks and the latency record
under the route's template, and leave every other method and path to the router."""

from __future__ import annotations

import httpx

from saaskit.tracking.latency import LatencyRecorder
from tests.helpers import error_of
from tests.tracking.conftest import make_project


async def test_heartbeat_errors_are_the_declared_routes(client: httpx.AsyncClient) -> None:
    json = {"Content-Type": "application/json"}
    malformed = await client.post("/api/heartbeat", content=b'{"app_version": ', headers=json)
    assert malformed.status_code == 400 and error_of(malformed)["code"] == "malformed_json"
    invalid = await client.post("/api/heartbeat", json={"error_count": -1})
    assert invalid.status_code == 422, invalid.text
    assert error_of(invalid)["field"] == "error_count"
    assert invalid.json()["error"]["details"][0]["field"] == "error_count"
    # The body is checked before the token, as FastAPI did for the declared route.
    unauthenticated = await client.post("/api/heartbeat", json={})
    assert unauthenticated.status_code == 401 and error_of(unauthenticated)["code"] == "not_authenticated"
    not_json = await client.post("/api/heartbeat", content=b"x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 422
    # Other methods on the same path still go to the router.
    assert (await client.get("/api/heartbeat")).status_code == 405


async def test_native_events_errors_and_answer(client: httpx.AsyncClient) -> None:
    project = await make_project(client)
    no_sender = await client.post("/api/events", json={"event_name": "x"})
    assert no_sender.status_code == 401
    missing = await client.post("/api/events", json={"properties": {}}, headers=project.key_headers)
    assert missing.status_code == 422 and error_of(missing)["field"] == "event_name"
    batch = await client.post("/api/events/batch", json=[], headers=project.key_headers)
    assert batch.status_code == 422 and error_of(batch)["field"] == "events"
    stored = await client.post(
        "/api/events/batch",
        json={"events": [{"event_name": "a"}, {"event_name": "b"}]},
        headers=project.key_headers,
    )
    assert stored.status_code == 200
    assert stored.json() == {"received": 2, "stored": 2, "duplicates": 0, "dropped": 0}


async def test_edge_checks_and_latency_record_still_apply(client: httpx.AsyncClient) -> None:
    project = await make_project(client)
    app = client._transport.app  # type: ignore[attr-defined]
    recorder: LatencyRecorder = app.state.latency
    too_large = await client.post(
        "/batch/", content=b"x" * (app.state.runtime.settings.http.max_body_bytes + 1), headers={}
    )
    assert too_large.status_code == 413
    ok = await client.post("/e/", json={"api_key": project.key, "event": "e", "distinct_id": "d"})
    assert ok.status_code == 200 and ok.json() == {"status": 1}
    routes = {(key[1], key[2]) for key in recorder.take(include_current=True)}
    assert ("POST", "/e/") in routes, routes
