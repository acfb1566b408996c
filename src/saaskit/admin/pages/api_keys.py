"""API keys: every personal and organization key, with its holder, scopes and use (read-only:
people revoke their keys through the API; an admin suspends the holder)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from saaskit.admin.pages.common import PAGE_SIZE, Cursor, ShortText, choice, page_or_fragment
from saaskit.admin.queries import api_keys as queries
from saaskit.admin.security import AdminDep
from saaskit.kit.deps import DbSession

router = APIRouter(prefix="/admin/api-keys", include_in_schema=False)


@router.get("")
async def list_api_keys(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    q: ShortText = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Cursor = None,
) -> Response:
    kind = choice(kind, queries.KINDS, "kind")
    state = choice(state, queries.STATES, "state")
    rows, next_cursor = await queries.list_keys(
        session, q=(q or "").strip() or None, kind=kind, state=state, limit=PAGE_SIZE, cursor=cursor
    )
    context = {
        "rows": rows,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "q": q or "",
        "kind": kind or "",
        "state": state or "",
        "kinds": queries.KINDS,
        "states": queries.STATES,
    }
    page, fragment = "api_keys/list.html", "api_keys/_table.html"
    return page_or_fragment(request, page, fragment, context, section="api-keys")
