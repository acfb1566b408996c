"""kit.cache against a real Redis (a ``redis-server`` the test starts on a free port, else the
one at 127.0.0.1:6379), and in-process; and /flags served through it: a change to a flag is
answered at once, by every process when they share Redis."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from saaskit.config import CacheSettings
from saaskit.kit.cache import LocalCache, RedisCache, invalidate, make_cache
from saaskit.kit.state import Runtime
from tests.tracking.conftest import make_project


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield "redis://127.0.0.1:6379/15"
        return
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="saaskit-redis-") as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        break
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
            client.close()
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


class Loads:
    def __init__(self, value: bytes) -> None:
        self.value = value
        self.count = 0

    async def __call__(self) -> bytes:
        self.count += 1
        return self.value


@pytest.mark.parametrize("kind", ["local", "redis"])
async def test_loads_once_then_again_after_invalidation(kind: str, redis_url: str) -> None:
    cache = LocalCache() if kind == "local" else RedisCache(redis_url)
    key = f"test:{uuid.uuid4()}"
    load = Loads(b'{"a": 1}')
    try:
        assert await cache.get_or_load(key, 30, load) == b'{"a": 1}'
        assert await cache.get_or_load(key, 30, load) == b'{"a": 1}'
        assert load.count == 1
        await cache.invalidate(key)
        load.value = b'{"a": 2}'
        assert await cache.get_or_load(key, 30, load) == b'{"a": 2}'
        assert load.count == 2
        # Expired: loaded again.
        other = f"test:{uuid.uuid4()}"
        await cache.get_or_load(other, 0.05, load)
        await asyncio.sleep(0.1)
        await cache.get_or_load(other, 0.05, load)
        assert load.count == 4
    finally:
        await cache.close()


@pytest.mark.parametrize("kind", ["local", "redis"])
async def test_a_load_overtaken_by_a_change_is_not_served(kind: str, redis_url: str) -> None:
    """A reader that loaded the old rows just before a change must not put them back."""
    cache = LocalCache() if kind == "local" else RedisCache(redis_url)
    key = f"test:{uuid.uuid4()}"

    async def slow_old() -> bytes:
        await cache.invalidate(key)  # the change commits while this load is in flight
        return b"old"

    try:
        assert await cache.get_or_load(key, 30, slow_old) == b"old"
        fresh = Loads(b"new")
        assert await cache.get_or_load(key, 30, fresh) == b"new"
        assert fresh.count == 1
    finally:
        await cache.close()


async def test_redis_is_shared_by_processes_and_never_fails_a_read(redis_url: str) -> None:
    one, two = RedisCache(redis_url), RedisCache(redis_url)
    key = f"test:{uuid.uuid4()}"
    try:
        await one.get_or_load(key, 30, Loads(b"v1"))
        second = Loads(b"unused")
        assert await two.get_or_load(key, 30, second) == b"v1" and second.count == 0
        await one.invalidate(key)  # a change seen by the other process at once
        assert await two.get_or_load(key, 30, Loads(b"v2")) == b"v2"
    finally:
        await one.close()
        await two.close()
    down = RedisCache(f"redis://127.0.0.1:{_free_port()}/0")
    fallback = Loads(b"from the database")
    assert await down.get_or_load(key, 30, fallback) == b"from the database"
    await down.invalidate(key)  # logged, not raised
    await down.close()


@pytest.mark.parametrize("kind", ["local", "redis"])
async def test_flags_answer_a_change_at_once_through_the_cache(
    kind: str, redis_url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    settings = CacheSettings(flags_seconds=60, redis_url=redis_url if kind == "redis" else None)
    runtime.extras["cache"] = make_cache(settings)
    runtime.settings = runtime.settings.model_copy(update={"cache": settings})
    project = await make_project(client)
    base = f"/api/orgs/{project.org_id}/flags"

    async def flags() -> dict[str, object]:
        response = await client.post("/flags/?v=2", json={"api_key": project.key, "distinct_id": "d-1"})
        assert response.status_code == 200, response.text
        return {k: v["enabled"] for k, v in response.json()["flags"].items()}

    assert await flags() == {}
    created = await client.post(
        base,
        headers=project.owner.headers,
        json={"key": "beta", "name": "Beta", "filters": {"groups": [{"rollout_percentage": 100}]}},
    )
    assert created.status_code == 201, created.text
    assert await flags() == {"beta": True}
    assert await flags() == {"beta": True}  # served from the cache
    flag_id = created.json()["id"]
    changed = await client.patch(f"{base}/{flag_id}", headers=project.owner.headers, json={"active": False})
    assert changed.status_code == 200, changed.text
    assert await flags() == {}
    reactivated = await client.patch(
        f"{base}/{flag_id}", headers=project.owner.headers, json={"active": True}
    )
    assert reactivated.status_code == 200
    assert await flags() == {"beta": True}
    deleted = await client.delete(f"{base}/{flag_id}", headers=project.owner.headers)
    assert deleted.status_code == 204, deleted.text
    assert await flags() == {}
    await invalidate("unrelated")
    await runtime.extras["cache"].close()
