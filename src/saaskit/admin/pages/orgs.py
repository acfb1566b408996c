"""Organizations: list and detail (read-only: organizations are run by their owners)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from saaskit.admin.pages.common import PAGE_SIZE, Cursor, ShortText, choice, page_or_fragment, parse_id
from saaskit.admin.queries import orgs as queries
from saaskit.admin.security import AdminDep
from saaskit.admin.web import render
from saaskit.kit.deps import DbSession

router = APIRouter(prefix="/admin/orgs", include_in_schema=False)


@router.get("")
async def list_orgs(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    q: ShortText = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Cursor = None,
) -> Response:
    state = choice(state, queries.STATES, "state")
    rows, next_cursor = await queries.list_orgs(
        session, q=(q or "").strip() or None, state=state, limit=PAGE_SIZE, cursor=cursor
    )
    context = {
        "rows": rows,
        "next_cursor": next_cursor,
        "q": q or "",
        "state": state,
        "states": queries.STATES,
        "paged": cursor is not None,
    }
    return page_or_fragment(request, "orgs/list.html", "orgs/_table.html", context, section="orgs")


@router.get("/{organization_id}")
async def org_page(request: Request, organization_id: str, admin: AdminDep, session: DbSession) -> Response:
    page = await queries.org_page(session, parse_id(organization_id, "organization"))
    return render(request, "orgs/detail.html", {"page": page, "org": page.org}, section="orgs")
