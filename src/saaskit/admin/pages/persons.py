"""Persons (PostHog's, per organization): search by distinct id or property, and one person's
ids, properties, groups, linked saaskit user and recent events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from saaskit.admin.pages.common import PAGE_SIZE, Cursor, ShortText, page_or_fragment, parse_id
from saaskit.admin.queries import flags as flag_queries
from saaskit.admin.queries import persons as queries
from saaskit.admin.security import AdminDep
from saaskit.admin.web import render
from saaskit.flags.models import Person
from saaskit.kit.deps import DbSession

router = APIRouter(prefix="/admin/persons", include_in_schema=False)


@router.get("")
async def list_persons(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    organization: Annotated[str | None, Query(max_length=100)] = None,
    q: ShortText = None,
    cursor: Cursor = None,
) -> Response:
    org = await flag_queries.organization(session, organization)
    rows, next_cursor = await queries.list_persons(
        session,
        organization_id=org.id if org else None,
        q=(q or "").strip() or None,
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    context = {
        "rows": rows,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "q": q or "",
        "organization": str(org.id) if org else "",
        "organizations": await flag_queries.organizations_with(session, Person),
    }
    return page_or_fragment(request, "persons/list.html", "persons/_table.html", context, section="persons")


@router.get("/{person_id}")
async def person_page(request: Request, person_id: str, admin: AdminDep, session: DbSession) -> Response:
    page = await queries.person_page(session, parse_id(person_id, "person"))
    context = {"page": page, "person": page.person, "org": page.org, "event_days": queries.EVENT_DAYS}
    return render(request, "persons/detail.html", context, section="persons")
