"""Every API key (personal and organizations'), for the admin's API keys page: who holds it,
where it works, its scopes and its use (docs/integrations.md). Never the key: only its prefix."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.api_key_models import ApiKey
from saaskit.accounts.models import User
from saaskit.admin.queries.common import contains_pattern
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import Organization

STATES = ("active", "expired", "revoked")
KINDS = ("personal", "organization")


async def list_keys(
    session: AsyncSession,
    *,
    q: str | None,
    kind: str | None,
    state: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[ApiKey, str, str | None, str]], str | None]:
    """Keys newest first with their holder's e-mail, their organization's name and their state
    (active, expired, revoked)."""
    live = (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > func.now())
    state_of = case((ApiKey.revoked_at.is_not(None), "revoked"), (~live, "expired"), else_="active").label(
        "state"
    )
    query: Any = (
        select(ApiKey, User.email, Organization.name, state_of)
        .join(User, User.id == ApiKey.user_id)
        .outerjoin(Organization, Organization.id == ApiKey.organization_id)
    )
    if kind == "personal":
        query = query.where(ApiKey.organization_id.is_(None))
    elif kind == "organization":
        query = query.where(ApiKey.organization_id.is_not(None))
    if state == "active":
        query = query.where(ApiKey.revoked_at.is_(None), live)
    elif state == "revoked":
        query = query.where(ApiKey.revoked_at.is_not(None))
    elif state == "expired":
        query = query.where(ApiKey.revoked_at.is_(None), ~live)
    if q:
        pattern = contains_pattern(q)
        query = query.where(
            or_(
                func.lower(ApiKey.name).like(pattern, escape="\\"),
                func.lower(ApiKey.key_prefix).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
                func.lower(Organization.name).like(pattern, escape="\\"),
            )
        )
    rows, next_cursor = await keyset_page(
        session, query, created_at=ApiKey.created_at, row_id=ApiKey.id, limit=limit, cursor=cursor
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows], next_cursor
