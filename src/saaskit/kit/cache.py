"""A small cache of hot reads: in-process by default, Redis when ``SAASKIT_CACHE_REDIS_URL`` is set.

Only what a benchmark showed to pay is cached (docs/operations.md, "Caching"): today the flag
definitions that every ``/flags`` and ``/decide`` call reads.

Correctness does not rest on the time to live alone. Each key has a *generation*: a change
bumps it (after its transaction committed), and a value is served only when it was loaded under
the current generation. So a reader that loaded the old rows just before a change cannot put
them back for everyone; it stored them under a generation that is already gone.

- In-process (``LocalCache``): generations live in the process. The process that made a change
  sees it at once; other API processes within the time to live.
- Redis (``RedisCache``): the generation is a Redis counter and the value is stored beside it;
  a read is one ``MGET`` of both. Every process sees a change at once. If Redis cannot be
  reached the read goes to the database (logged, at most once a minute): the cache can make a
  request faster, never fail it.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from saaskit.config import CacheSettings

logger = logging.getLogger(__name__)

Loader = Callable[[], Awaitable[bytes]]
MAX_LOCAL_ENTRIES = 10_000
PREFIX = "saaskit:cache:"


class Cache(Protocol):
    async def get_or_load(self, key: str, ttl: float, load: Loader) -> bytes: ...

    async def invalidate(self, key: str) -> None: ...

    async def close(self) -> None: ...


class LocalCache:
    def __init__(self) -> None:
        self._values: dict[str, tuple[int, float, bytes]] = {}  # key -> (generation, expiry, value)
        self._generations: dict[str, int] = {}

    async def get_or_load(self, key: str, ttl: float, load: Loader) -> bytes:
        generation = self._generations.get(key, 0)
        entry = self._values.get(key)
        if entry is not None and entry[0] == generation and entry[1] > time.monotonic():
            return entry[2]
        value = await load()
        if ttl > 0 and self._generations.get(key, 0) == generation:
            if len(self._values) >= MAX_LOCAL_ENTRIES:
                self._values.clear()
            self._values[key] = (generation, time.monotonic() + ttl, value)
        return value

    async def invalidate(self, key: str) -> None:
        self._generations[key] = self._generations.get(key, 0) + 1
        self._values.pop(key, None)

    async def close(self) -> None:
        self._values.clear()


class RedisCache:
    def __init__(self, url: str) -> None:
        # Imported here: only a process configured with Redis pays its memory (about 10 MB).
        import redis.asyncio as redis
        from redis.exceptions import RedisError

        self.client: Any = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.errors: tuple[type[Exception], ...] = (RedisError, OSError)
        self._warned_at = 0.0

    def _warn(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            logger.warning("cache: Redis unavailable, reading from the database (%s)", type(exc).__name__)

    async def get_or_load(self, key: str, ttl: float, load: Loader) -> bytes:
        generation_key, value_key = PREFIX + "gen:" + key, PREFIX + "val:" + key
        try:
            generation, stored = await self.client.mget(generation_key, value_key)
        except self.errors as exc:
            self._warn(exc)
            return await load()
        current = int(generation or 0)
        if stored is not None:
            tag, _, value = (stored.encode() if isinstance(stored, str) else stored).partition(b":")
            if tag.isdigit() and int(tag) == current:
                return value
        value = await load()
        if ttl > 0:
            try:
                await self.client.set(
                    value_key, str(current).encode() + b":" + value, px=max(1, int(ttl * 1000))
                )
            except self.errors as exc:
                self._warn(exc)
        return value

    async def invalidate(self, key: str) -> None:
        try:
            await self.client.incr(PREFIX + "gen:" + key)
        except self.errors as exc:
            self._warn(exc)

    async def close(self) -> None:
        await self.client.aclose()


# Every cache of this process, so that a service can invalidate a key without a runtime at hand.
_caches: weakref.WeakSet[Any] = weakref.WeakSet()


def make_cache(settings: CacheSettings) -> Cache:
    cache: Cache = RedisCache(settings.redis_url) if settings.redis_url else LocalCache()
    _caches.add(cache)
    return cache


async def invalidate(key: str) -> None:
    """Bump the key's generation in every cache of this process (with Redis: for every process)."""
    for cache in list(_caches):
        await cache.invalidate(key)
