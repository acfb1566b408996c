"""Bad input gets a 4xx in the one error shape, never a 500."""

from __future__ import annotations

import httpx

from tests.helpers import error_of, signup


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login", content=b'{"email": "a@b.c",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"


async def test_wrong_types_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json={"email": "a@example.com", "password": 12})
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "password" and error["code"] == "invalid"
    nested = await client.post(
        "/api/auth/login", json={"email": "a@example.com", "password": "x" * 12, "device": {"name": ["list"]}}
    )
    assert nested.status_code == 422 and error_of(nested)["field"] == "device.name"


async def test_body_that_is_not_an_object(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json=[1, 2, 3])
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid"


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/signup", content=b"x" * (1_048_576 + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"y" * 100_000

    response = await client.post(
        "/api/auth/signup", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/does-not-exist")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong_method = await client.delete("/api/auth/login")
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == "method_not_allowed"


async def test_missing_and_bad_tokens_are_401(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/me")
    assert missing.status_code == 401 and error_of(missing)["code"] == "not_authenticated"
    bad = await client.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and error_of(bad)["code"] == "invalid_token"


async def test_bad_uuid_in_path(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    response = await client.delete("/api/me/sessions/not-a-uuid", headers=user.headers)
    assert response.status_code == 422 and error_of(response)["field"] == "session_id"


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
