"""API keys: create (shown once), list, rotate with an overlap, revoke; authenticate a request.

A key is ``sak_`` and 43 random characters (32 bytes); only its SHA-256 is stored. A personal key
acts as its holder; an organization key acts in one organization within its creator's access.
Either way a request may use only the key's scopes, and only what the person behind it may do
now (the scopes are checked against their access when the key is made, and intersected with it
on every request), never as a platform admin, and only on organization endpoints
(``/api/orgs/...``), ``GET /api/me`` and the flag definitions the PostHog server SDKs read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.access.permissions import PERMISSIONS
from saaskit.access.service import Access
from saaskit.accounts.api_key_models import ApiKey
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from saaskit.kit.hashing import new_token, token_hash
from saaskit.kit.pagination import keyset_page

PREFIX = "sak_"
SHOWN_CHARS = 12
AUTHENTICATE_SQL = text(
    "SELECT k.key_id, k.user_id, k.user_role, k.organization_id, k.scopes, k.rate_limit_per_minute, "
    "k.audit_due, set_config('app.user_id', coalesce(k.user_id::text, ''), true), "
    "set_config('app.organization_id', '', true), set_config('app.service', '', true) "
    "FROM (SELECT 1) AS one LEFT JOIN app_authenticate_api_key(:key_hash) AS k ON true"
)
# Paths an API key may call besides /api/orgs/...: who am I, and the flag definitions
# (PostHog's server SDKs send their "personal API key" there).
KEY_PATHS = frozenset({"/api/me", "/flags/definitions", "/api/feature_flag/local_evaluation"})


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX)


def allowed(method: str, path: str) -> bool:
    return path.startswith("/api/orgs/") or (method in ("GET", "HEAD") and path.rstrip("/") in KEY_PATHS)


@dataclass(frozen=True)
class KeyGrant:
    """What an authenticated API key brings to its request."""

    key_id: uuid.UUID
    organization_id: uuid.UUID | None
    scopes: frozenset[str]
    rate_limit_per_minute: int | None


@dataclass(frozen=True)
class Authenticated:
    grant: KeyGrant
    user_id: uuid.UUID
    user_role: str
    audit_due: bool


async def authenticate(session: AsyncSession, key: str) -> Authenticated | None:
    """The live key's holder and grant (and the transaction's RLS context set to the holder), or
    None for an unknown, revoked or expired key or an inactive holder."""
    row = (await session.execute(AUTHENTICATE_SQL, {"key_hash": token_hash(key)})).one()
    if row.key_id is None:
        return None
    grant = KeyGrant(row.key_id, row.organization_id, frozenset(row.scopes), row.rate_limit_per_minute)
    return Authenticated(grant, row.user_id, row.user_role, bool(row.audit_due))


async def record_use(session: AsyncSession, authenticated: Authenticated, actor: Actor) -> None:
    """The hourly ``api_key.used`` activity row (``audit_due``): a busy key writes one an hour."""
    grant = authenticated.grant
    await audit.record_as_service(
        session,
        actor,
        organization_id=grant.organization_id,
        action="api_key.used",
        entity_type="api_key",
        entity_id=grant.key_id,
        description="An API key was used (recorded at most once an hour per key).",
    )


def limit_access(access: Access, grant: KeyGrant) -> Access | None:
    """The request's access: the person's, narrowed to the key's scopes and organization (None:
    the key does not work in this organization)."""
    if grant.organization_id is not None and grant.organization_id != access.organization_id:
        return None

    def narrowed(permissions: frozenset[str]) -> frozenset[str]:
        return frozenset(p for p in grant.scopes if p in permissions or "*" in permissions)

    return Access(
        organization_id=access.organization_id,
        organization_name=access.organization_name,
        user_id=access.user_id,
        role=access.role,
        permissions=narrowed(access.permissions),
        is_platform_admin=False,
        is_archived=access.is_archived,
        is_deleted=access.is_deleted,
        require_two_factor=access.require_two_factor,
        has_two_factor=access.has_two_factor,
        team_permissions={t: narrowed(p) for t, p in access.team_permissions.items()},
        workspace_permissions={w: narrowed(p) for w, p in access.workspace_permissions.items()},
    )


async def _now(session: AsyncSession) -> datetime:
    """The transaction's time, the clock every key's expiry is compared with."""
    moment: datetime | None = await session.scalar(select(func.now()))
    assert moment is not None
    return moment


async def expiry(session: AsyncSession, days: int | None) -> datetime | None:
    """When a key made now for ``days`` stops working (None: never)."""
    return None if days is None else await _now(session) + timedelta(days=days)


def _check_scopes(scopes: list[str], access: Access | None) -> list[str]:
    unknown = sorted(set(scopes) - set(PERMISSIONS))
    if unknown:
        raise Unprocessable(f"not in the permission catalog: {', '.join(unknown)}", field="scopes")
    if access is not None:
        beyond = sorted(s for s in scopes if not access.can(s))
        if beyond:
            raise Forbidden(
                f"a key cannot hold more than its creator: you do not hold {', '.join(beyond)}",
                code="scope_not_held",
            )
    return sorted(set(scopes))


async def create(
    session: AsyncSession,
    actor: Actor,
    *,
    user_id: uuid.UUID,
    access: Access | None,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    rate_limit_per_minute: int | None,
) -> tuple[ApiKey, str]:
    """A new key (and the key itself, shown once). ``access``: the creator's access in the
    organization for an organization key, None for a personal key."""
    checked = _check_scopes(scopes, access)
    key = new_token(PREFIX)
    row = ApiKey(
        user_id=user_id,
        organization_id=access.organization_id if access is not None else None,
        name=name,
        key_prefix=key[:SHOWN_CHARS],
        key_hash=token_hash(key),
        scopes=checked,
        expires_at=expires_at,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await audit.record_as_service(
        session,
        actor,
        organization_id=row.organization_id,
        action="api_key.created",
        entity_type="api_key",
        entity_id=row.id,
        entity_name=name,
        description=f"Created the API key {name} ({row.key_prefix}...).",
        metadata={"scopes": checked, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return row, key


def _owned(user_id: uuid.UUID | None, organization_id: uuid.UUID | None) -> list[Any]:
    if organization_id is not None:
        return [ApiKey.organization_id == organization_id]
    return [ApiKey.user_id == user_id, ApiKey.organization_id.is_(None)]


async def list_keys(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    include_inactive: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[ApiKey], str | None]:
    """A person's personal keys, or an organization's keys, newest first."""
    query = select(ApiKey).where(*_owned(user_id, organization_id))
    if not include_inactive:
        query = query.where(
            ApiKey.revoked_at.is_(None), (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > func.now())
        )
    rows, next_cursor = await keyset_page(
        session, query, created_at=ApiKey.created_at, row_id=ApiKey.id, limit=limit, cursor=cursor
    )
    return list(rows), next_cursor


async def _get(
    session: AsyncSession, key_id: uuid.UUID, user_id: uuid.UUID | None, organization_id: uuid.UUID | None
) -> ApiKey:
    row: ApiKey | None = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, *_owned(user_id, organization_id)).with_for_update()
    )
    if row is None:
        raise NotFound("no such API key", field="key_id")
    return row


async def revoke(
    session: AsyncSession,
    actor: Actor,
    key_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
) -> ApiKey:
    row = await _get(session, key_id, user_id, organization_id)
    if row.revoked_at is None:
        row.revoked_at = await _now(session)
        await session.flush()
        await audit.record_as_service(
            session,
            actor,
            organization_id=row.organization_id,
            action="api_key.revoked",
            entity_type="api_key",
            entity_id=row.id,
            entity_name=row.name,
            description=f"Revoked the API key {row.name} ({row.key_prefix}...).",
        )
    return row


async def rotate(
    session: AsyncSession,
    actor: Actor,
    key_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    access: Access | None,
    overlap: timedelta,
) -> tuple[ApiKey, str]:
    """A new key with the same name, scopes and limits; the old one keeps working for
    ``overlap`` (so servers can be switched over), then expires."""
    old = await _get(session, key_id, user_id, organization_id)
    now = await _now(session)
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
        raise Conflict("the key is revoked or expired: create a new one", field="key_id")
    if old.replaced_by is not None:
        raise Conflict("the key was already rotated: rotate its replacement", field="key_id")
    new, key = await create(
        session,
        actor,
        user_id=actor.user_id or old.user_id,
        access=access,
        name=old.name,
        scopes=list(old.scopes),
        expires_at=old.expires_at,
        rate_limit_per_minute=old.rate_limit_per_minute,
    )
    ends = now + overlap
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == old.id)
        .values(replaced_by=new.id, expires_at=func.least(func.coalesce(ApiKey.expires_at, ends), ends))
    )
    await audit.record_as_service(
        session,
        actor,
        organization_id=old.organization_id,
        action="api_key.rotated",
        entity_type="api_key",
        entity_id=old.id,
        entity_name=old.name,
        description=f"Rotated the API key {old.name}: {old.key_prefix}... works until {ends.isoformat()}, "
        f"then only {new.key_prefix}...",
        metadata={"replaced_by": str(new.id)},
    )
    return new, key
