"""An organization's flag definitions as ``/flags`` and ``/decide`` read them, through the
process's cache (``kit.cache``: in-process, or Redis when configured).

Every evaluation reads all of the organization's flags; with the cache, a hit costs one dict
lookup (or one Redis ``MGET``) and an orjson parse instead of a query and the ORM's objects.
Measured with ``benchmarks/flags.py`` (docs/operations.md, "Caching"). A flag created, changed or
deleted bumps the key's generation after its transaction commits (and once at the change itself,
for writes outside a request's unit of work), so the cache never serves definitions older than
the last change it was told of; other processes without Redis see a change within
``SAASKIT_CACHE_FLAGS_SECONDS``.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.flags.models import FeatureFlag
from saaskit.kit import cache
from saaskit.kit.deps import after_commit
from saaskit.kit.state import Runtime


@dataclass(frozen=True)
class FlagDefinition:
    """What evaluation and the SDK answers read of a flag (the same names as ``FeatureFlag``)."""

    id: str
    number: int
    key: str
    name: str
    active: bool
    filters: dict[str, Any]
    version: int

    @classmethod
    def of(cls, flag: FeatureFlag) -> FlagDefinition:
        return cls(str(flag.id), flag.number, flag.key, flag.name, flag.active, flag.filters, flag.version)


def key_of(organization_id: uuid.UUID) -> str:
    return f"flags:{organization_id}"


def cache_of(runtime: Runtime) -> cache.Cache:
    found: cache.Cache | None = runtime.extras.get("cache")
    if found is None:
        found = runtime.extras["cache"] = cache.make_cache(runtime.settings.cache)
    assert found is not None
    return found


async def definitions(
    session: AsyncSession, organization_id: uuid.UUID, runtime: Runtime | None = None
) -> list[FlagDefinition]:
    """Every flag of the organization, oldest first; cached when a runtime is given and the
    cache is on (``SAASKIT_CACHE_FLAGS_SECONDS`` > 0)."""
    from saaskit.flags.service import all_flags

    ttl = runtime.settings.cache.flags_seconds if runtime is not None else 0.0
    if runtime is None or ttl <= 0:
        return [FlagDefinition.of(f) for f in await all_flags(session, organization_id)]

    async def load() -> bytes:
        return orjson.dumps([asdict(FlagDefinition.of(f)) for f in await all_flags(session, organization_id)])

    raw = await cache_of(runtime).get_or_load(key_of(organization_id), ttl, load)
    return [FlagDefinition(**item) for item in orjson.loads(raw)]


async def changed(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """A flag of the organization was created, changed or deleted in this session."""
    key = key_of(organization_id)
    await cache.invalidate(key)

    async def again() -> None:
        await cache.invalidate(key)

    after_commit(session, again)
