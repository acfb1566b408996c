"""Ingestion keys (``phc_...``, public, per organization, stored hashed) and the distinct_id ->
user links that ``$identify`` makes."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts.models import User
from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.db import Database
from saaskit.kit.hashing import new_token, token_hash
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import OrganizationMember
from saaskit.tracking.models import IngestionKey, TrackingIdentity

KEY_PREFIX = "phc_"
RESOLVE_SQL = text("SELECT app_ingestion_key_organization(:key_hash)")

# key hash -> (organization id, expiry). Capture calls are the hottest path after heartbeats;
# a rotated key keeps working in this process for at most CACHE_SECONDS.
CACHE_SECONDS = 30.0
_cache: dict[str, tuple[uuid.UUID, float]] = {}


def looks_like_key(value: str | None) -> bool:
    return bool(value) and str(value).startswith(KEY_PREFIX)


async def cached_organization(key: str) -> uuid.UUID | None:
    """The key's organization if this process looked it up in the last CACHE_SECONDS."""
    cached = _cache.get(token_hash(key))
    return cached[0] if cached is not None and cached[1] > time.monotonic() else None


async def organization_of_key(db: Database, key: str) -> uuid.UUID | None:
    """The key's organization: this process's cache, else one lookup in a session of its own
    (opened only on a miss, so a hot key costs no connection)."""
    organization_id = await cached_organization(key)
    if organization_id is None:
        async with db.session() as session:
            organization_id = await organization_for_key(session, key)
    return organization_id


async def organization_for_key(session: AsyncSession, key: str) -> uuid.UUID | None:
    digest = token_hash(key)
    cached = _cache.get(digest)
    now = time.monotonic()
    if cached is not None and cached[1] > now:
        return cached[0]
    organization_id: uuid.UUID | None = await session.scalar(RESOLVE_SQL, {"key_hash": digest})
    if organization_id is None:
        _cache.pop(digest, None)
        return None
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[digest] = (organization_id, now + CACHE_SECONDS)
    return organization_id


def forget_cached_keys() -> None:
    _cache.clear()


async def rotate_key(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID
) -> tuple[IngestionKey, str]:
    """A new key for the organization; every previous key stops working."""
    revoked = await session.execute(
        update(IngestionKey)
        .where(IngestionKey.organization_id == organization_id, IngestionKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(IngestionKey.id)
    )
    key = new_token(KEY_PREFIX)
    row = IngestionKey(
        organization_id=organization_id,
        key_hash=token_hash(key),
        key_prefix=key[:12],
        created_by=actor.user_id,
        # The clock, not the transaction's start: keys are listed newest first by created_at,
        # and two rotations in one transaction must still list the live key first.
        created_at=func.clock_timestamp(),
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    forget_cached_keys()
    subject = audit.Subject(organization_id, "ingestion_key", row.id, row.key_prefix)
    description = "Issued a new ingestion key; earlier keys stopped working."
    await audit.record_about(session, actor, subject, "rotated", description, {"revoked": len(revoked.all())})
    return row, key


async def list_keys(
    session: AsyncSession, organization_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[IngestionKey], str | None]:
    """The organization's keys newest first (so the live key first: rotating revokes every older
    one), a page at a time, and the next page's cursor."""
    rows, next_cursor = await keyset_page(
        session,
        select(IngestionKey).where(IngestionKey.organization_id == organization_id),
        created_at=IngestionKey.created_at,
        row_id=IngestionKey.id,
        limit=limit,
        cursor=cursor,
    )
    return list(rows), next_cursor


async def identify(
    session: AsyncSession, organization_id: uuid.UUID, links: list[tuple[list[str], dict[str, Any]]]
) -> dict[str, uuid.UUID]:
    """Link distinct_ids to users of the organization. Each link is (distinct ids, hints) where
    hints may carry ``email`` or ``user_id``; only active members can be linked, so a capture
    key cannot attach events to someone outside its organization. Returns the new links."""
    emails = {str(h["email"]).lower() for _, h in links if h.get("email")}
    ids: set[uuid.UUID] = set()
    for _, hints in links:
        try:
            ids.add(uuid.UUID(str(hints["user_id"])))
        except (KeyError, ValueError, TypeError):
            continue
    if not emails and not ids:
        return {}
    rows = await session.execute(
        select(User.id, User.email)
        .join(OrganizationMember, OrganizationMember.user_id == User.id)
        .where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.is_active.is_(True),
            (User.email.in_(emails)) | (User.id.in_(ids)),
        )
    )
    by_email: dict[str, uuid.UUID] = {}
    by_id: set[uuid.UUID] = set()
    for user_id, email in rows.all():
        by_email[email] = user_id
        by_id.add(user_id)
    linked: dict[str, uuid.UUID] = {}
    for distinct_ids, hints in links:
        user: uuid.UUID | None = None
        try:
            candidate = uuid.UUID(str(hints.get("user_id")))
            user = candidate if candidate in by_id else None
        except (ValueError, TypeError):
            user = None
        if user is None and hints.get("email"):
            user = by_email.get(str(hints["email"]).lower())
        if user is not None:
            for distinct_id in distinct_ids:
                linked[distinct_id] = user
    if linked:
        statement = insert(TrackingIdentity).values(
            [{"organization_id": organization_id, "distinct_id": d, "user_id": u} for d, u in linked.items()]
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[TrackingIdentity.organization_id, TrackingIdentity.distinct_id],
                set_={"user_id": statement.excluded.user_id},
            )
        )
    return linked
