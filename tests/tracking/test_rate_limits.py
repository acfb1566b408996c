"""Rate limits of ingestion (docs/limits.md): PostHog capture, /api/events*, track-visit, by
client IP (checked first, before the body is decoded) and by ingestion key's organization (or
signed-in user). A refusal is 429 in the usual error shape, with Retry-After (and, on the
PostHog paths, the ``detail`` its SDKs log)."""

from __future__ import annotations

import httpx

from saaskit.kit.state import Runtime
from tests.helpers import error_of, with_limits
from tests.tracking.conftest import Project


def _event(project: Project, n: int) -> dict[str, object]:
    return {"api_key": project.key, "event": "limited", "distinct_id": f"d-{n}"}


def _refused(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    if "detail" in body:  # the PostHog paths add it for their SDKs' logs
        assert body["detail"] == body["error"]["message"]
        body.pop("detail")
    return error_of(httpx.Response(429, json=body))


async def test_capture_is_limited_per_ingestion_key(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    with_limits(runtime, capture_per_key="3/minute")
    for n in range(3):
        assert (await client.post("/e/", json=_event(project, n))).status_code == 200
    refused = await client.post("/i/v0/e/", json=_event(project, 3))
    error = _refused(refused)
    assert error["code"] == "rate_limited" and "capture_per_key" in str(error["message"])
    # The native API with the same key counts toward the same limit.
    native = await client.post("/api/events", json={"event_name": "limited"}, headers=project.key_headers)
    assert _refused(native)["code"] == "rate_limited"


async def test_capture_is_limited_per_ip_before_decoding(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    with_limits(runtime, capture_per_ip="2/minute")
    batch = {"api_key": project.key, "batch": [{"event": "b", "distinct_id": "d"}]}
    assert (await client.post("/batch/", json=batch)).status_code == 200
    assert (
        await client.post("/api/events/batch", json={"events": []}, headers=project.key_headers)
    ).status_code in (
        200,
        422,
    )
    # Past the limit, even garbage is refused without being read.
    garbage = await client.post("/e/", content=b"\x1f\x8b\x08garbage")
    assert _refused(garbage)["code"] == "rate_limited"
    signed_in = await client.post("/api/events", json={"event_name": "x"}, headers=project.owner.headers)
    assert _refused(signed_in)["code"] == "rate_limited"


async def test_signed_in_senders_are_limited_per_user(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    with_limits(runtime, capture_per_key="2/minute")
    for _ in range(2):
        answer = await client.post("/api/events", json={"event_name": "mine"}, headers=project.owner.headers)
        assert answer.status_code == 200, answer.text
    refused = await client.post("/api/events", json={"event_name": "mine"}, headers=project.owner.headers)
    assert _refused(refused)["code"] == "rate_limited"
    # The organization's key is another sender.
    assert (await client.post("/e/", json=_event(project, 9))).status_code == 200


async def test_track_visit_is_limited_by_ip_and_by_key(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    with_limits(runtime, track_visit_per_ip="3/minute", track_visit_per_key="1/minute")
    first = await client.post("/api/track-visit", json={"session_id": "session-1", "token": project.key})
    assert first.status_code == 202, first.text
    by_key = await client.post("/api/track-visit", json={"session_id": "session-2", "token": project.key})
    assert "track_visit_per_key" in str(_refused(by_key)["message"])
    assert (await client.post("/api/track-visit", json={"session_id": "session-3"})).status_code == 202
    by_ip = await client.post("/api/track-visit", json={"session_id": "session-4"})
    assert "track_visit_per_ip" in str(_refused(by_ip)["message"])
