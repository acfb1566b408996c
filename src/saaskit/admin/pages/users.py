"""Users: search and filters, one user's page, and the actions on a user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from saaskit.accounts import operator as account_actions
from saaskit.admin.pages.common import PAGE_SIZE, Cursor, ShortText, choice, page_or_fragment, parse_id
from saaskit.admin.queries import users as queries
from saaskit.admin.security import AdminDep
from saaskit.admin.web import redirect, render
from saaskit.devices import operator as device_actions
from saaskit.kit.deps import DbSession
from saaskit.kit.errors import BadRequest
from saaskit.notifications import service as notifications
from saaskit.trust import service as trust

router = APIRouter(prefix="/admin/users", include_in_schema=False)


@router.get("")
async def list_users(
    request: Request,
    admin: AdminDep,
    session: DbSession,
    q: ShortText = None,
    tier: Annotated[str | None, Query(max_length=50)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
    active: Annotated[str | None, Query(max_length=5)] = None,
    cursor: Cursor = None,
) -> Response:
    if country and not (len(country) == 2 and country.isalpha()):
        raise BadRequest("country: a two-letter country code, e.g. FR", field="country")
    filters = queries.UserFilters(
        q=(q or "").strip() or None,
        tier=tier or None,
        status=choice(status, queries.STATUSES, "status"),
        country=country or None,
        active_now=active in ("1", "on", "true"),
    )
    rows, next_cursor = await queries.list_users(session, filters, limit=PAGE_SIZE, cursor=cursor)
    context = {
        "users": rows,
        "next_cursor": next_cursor,
        "filters": filters,
        "tiers": await queries.tiers(session),
        "statuses": queries.STATUSES,
        "paged": cursor is not None,
    }
    return page_or_fragment(request, "users/list.html", "users/_table.html", context, section="users")


@router.get("/{user_id}")
async def user_page(request: Request, user_id: str, admin: AdminDep, session: DbSession) -> Response:
    page = await queries.user_page(session, parse_id(user_id, "user"))
    live_sessions = await queries.live_session_count(session, page.user.id)
    notices = await notifications.recent_for_user(session, page.user.id, limit=10)
    unread = await notifications.unread_count(session, page.user.id)
    trust_clusters = await trust.queue(
        session, trust.ClusterFilter(reviewed=None, user_id=page.user.id, include_low=True)
    )
    trust_patterns, _ = await trust.list_patterns(
        session, trust.PatternFilter(user_id=page.user.id, open_only=False), limit=50, cursor=None
    )
    context = {
        "page": page,
        "u": page.user,
        "live_sessions": live_sessions,
        "notices": notices,
        "unread": unread,
    }
    context |= {"trust_clusters": trust_clusters, "trust_patterns": trust_patterns}
    return render(request, "users/detail.html", context, section="users")


def _back(user_id: str) -> str:
    return f"/admin/users/{user_id}"


@router.post("/{user_id}/status")
async def set_status(
    request: Request,
    user_id: str,
    admin: AdminDep,
    session: DbSession,
    status: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    outcome = await account_actions.set_status(session, admin.actor, parse_id(user_id, "user"), status)
    return redirect(request, _back(user_id), flash=("success", outcome.message))


@router.post("/{user_id}/reload")
async def force_reload(
    request: Request,
    user_id: str,
    admin: AdminDep,
    session: DbSession,
    flag: Annotated[str, Form(max_length=5)] = "on",
) -> Response:
    outcome = await device_actions.set_reload(
        session, admin.actor, parse_id(user_id, "user"), flag=flag == "on"
    )
    return redirect(request, _back(user_id), flash=("success", outcome.message))


@router.post("/{user_id}/max-dashboards")
async def set_max_dashboards(
    request: Request,
    user_id: str,
    admin: AdminDep,
    session: DbSession,
    max_dashboards: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    uid = parse_id(user_id, "user")
    value = max_dashboards.strip()
    if value and not (value.isdigit() and 0 <= int(value) <= 1000):
        return redirect(
            request,
            _back(user_id),
            flash=(
                "error",
                "max_dashboards: a whole number from 0 to 1000, or empty for the tier's limit "
                f"(got {value[:10]!r}).",
            ),
        )
    outcome = await device_actions.set_max_dashboards(
        session, admin.actor, uid, int(value) if value else None
    )
    return redirect(request, _back(user_id), flash=("success", outcome.message))


@router.post("/{user_id}/revoke-sessions")
async def revoke_sessions(request: Request, user_id: str, admin: AdminDep, session: DbSession) -> Response:
    outcome = await account_actions.revoke_sessions(session, admin.actor, parse_id(user_id, "user"))
    return redirect(request, _back(user_id), flash=("success", outcome.message))
