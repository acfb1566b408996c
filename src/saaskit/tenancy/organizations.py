"""Organizations: create (creator becomes owner), read, update, archive, soft delete, restore."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.audit import service as audit
from saaskit.audit.service import Actor
from saaskit.kit.db import Context, current_context, set_context
from saaskit.kit.errors import Conflict, NotFound
from saaskit.kit.pagination import keyset_page
from saaskit.tenancy.models import Organization, OrganizationMember
from saaskit.tenancy.schemas import OrganizationIn, OrganizationUpdate

AUDITED_FIELDS = ("name", "slug", "billing_email", "logo_url", "settings")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-")
    return slug or "org"


def snapshot(org: Organization) -> dict[str, Any]:
    return {field: getattr(org, field) for field in AUDITED_FIELDS}


def _subject(org: Organization) -> audit.Subject:
    return audit.Subject(org.id, "organization", org.id, org.name)


async def create(session: AsyncSession, actor: Actor, data: OrganizationIn) -> Organization:
    assert actor.user_id is not None
    org_id = uuid.uuid4()
    # The new organization's context must be set before its first row can be written (RLS).
    await set_context(
        session,
        Context(user_id=actor.user_id, organization_id=org_id, service=current_context(session).service),
    )
    slug = data.slug or slugify(data.name)
    for attempt in range(5):
        candidate = slug if attempt == 0 else f"{slug[:44]}-{secrets.token_hex(2)}"
        inserted = await session.scalar(
            insert(Organization)
            .values(
                id=org_id,
                name=data.name,
                slug=candidate,
                billing_email=data.billing_email,
                logo_url=data.logo_url,
                settings=data.settings,
                created_by=actor.user_id,
            )
            .on_conflict_do_nothing(index_elements=[Organization.slug])
            .returning(Organization.id)
        )
        if inserted is not None:
            break
        if data.slug:
            raise Conflict(f"the slug {data.slug!r} is taken", field="slug", code="slug_taken")
    else:  # pragma: no cover - five random suffixes colliding
        raise Conflict("could not find a free slug; give one explicitly", field="slug", code="slug_taken")
    session.add(OrganizationMember(organization_id=org_id, user_id=actor.user_id, role="owner"))
    await session.flush()
    org = await session.get_one(Organization, org_id)
    await audit.record_about(
        session, actor, _subject(org), "created", f"Created organization {org.name}.", {"slug": org.slug}
    )
    return org


async def list_for_user(
    session: AsyncSession, user_id: uuid.UUID, *, include_archived: bool, limit: int, cursor: str | None
) -> tuple[list[tuple[Organization, str]], str | None]:
    """The user's organizations (through their active memberships), newest first."""
    memberships = dict(
        (
            await session.execute(
                select(OrganizationMember.organization_id, OrganizationMember.role).where(
                    OrganizationMember.user_id == user_id, OrganizationMember.is_active.is_(True)
                )
            )
        ).all()
    )
    if not memberships:
        return [], None
    query = select(Organization).where(Organization.id.in_(memberships), Organization.deleted_at.is_(None))
    if not include_archived:
        query = query.where(Organization.archived_at.is_(None))
    # The organizations policy shows a user the organizations they are an active member of.
    rows, next_cursor = await keyset_page(
        session, query, created_at=Organization.created_at, row_id=Organization.id, limit=limit, cursor=cursor
    )
    return [(org, memberships[org.id]) for org in rows], next_cursor


async def get(session: AsyncSession, organization_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, organization_id, populate_existing=True)
    if org is None:
        raise NotFound("no such organization", field="org_id")
    return org


async def update_details(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID, changes: OrganizationUpdate
) -> Organization:
    org = await get(session, organization_id)
    before = snapshot(org)
    given = changes.model_dump(exclude_unset=True)
    if "slug" in given and given["slug"] != org.slug:
        taken = await session.scalar(
            select(Organization.id).where(Organization.slug == given["slug"], Organization.id != org.id)
        )
        if taken is not None:
            raise Conflict(f"the slug {given['slug']!r} is taken", field="slug", code="slug_taken")
    for name in ("name", "slug", "billing_email", "logo_url", "settings"):
        if name in given and (given[name] is not None or name in {"billing_email", "logo_url"}):
            setattr(org, name, given[name])
    await session.flush()
    diff = audit.changes(before, snapshot(org))
    if diff:
        description = f"Changed {', '.join(sorted(diff))}."
        await audit.record_about(session, actor, _subject(org), "updated", description, {"changes": diff})
    return org


async def set_archived(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID, archived: bool
) -> Organization:
    org = await get(session, organization_id)
    if (org.archived_at is not None) == archived:
        return org
    org.archived_at = func.now() if archived else None
    await session.flush()
    await session.refresh(org)
    verb = "archived" if archived else "unarchived"
    await audit.record_about(session, actor, _subject(org), verb, f"{verb.capitalize()} the organization.")
    return org


async def set_deleted(
    session: AsyncSession, actor: Actor, organization_id: uuid.UUID, deleted: bool
) -> Organization:
    org = await get(session, organization_id)
    if (org.deleted_at is not None) == deleted:
        return org
    await session.execute(
        update(Organization)
        .where(Organization.id == org.id)
        .values(deleted_at=func.now() if deleted else None)
    )
    org = await get(session, organization_id)
    verb = "deleted" if deleted else "restored"
    description = f"{'Soft-deleted' if deleted else 'Restored'} the organization."
    await audit.record_about(session, actor, _subject(org), verb, description)
    return org
