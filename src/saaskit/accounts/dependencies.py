"""Who is signed in: bearer token or session cookie, checked in one database round trip.

``app_authenticate`` (SECURITY DEFINER) finds the live session for the token's hash, and the
same statement writes the transaction's RLS context, so nothing else is visible before it.
Cookie-authenticated requests that change state must echo the CSRF cookie in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text

from saaskit.accounts import unverified
from saaskit.kit.db import SERVICE, Context, set_context
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.errors import Forbidden, Unauthorized
from saaskit.kit.hashing import token_hash
from saaskit.kit.state import Runtime

CSRF_COOKIE = "saaskit_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

AUTHENTICATE_SQL = text(
    "SELECT a.session_id, a.user_id, a.user_role, a.dashboard_id, "
    "set_config('app.user_id', coalesce(a.user_id::text, ''), true), "
    "set_config('app.organization_id', '', true), set_config('app.service', '', true) "
    "FROM (SELECT 1) AS one LEFT JOIN app_authenticate(:token_hash) AS a ON true"
)


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    dashboard_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _credentials(request: Request, cookie_name: str) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(cookie_name)
    return (cookie, True) if cookie else (None, False)


def _check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie, header):
        raise Forbidden(
            "cookie-authenticated requests that change state must send the X-CSRF-Token header",
            code="csrf_failed",
        )


def request_token(request: Request, runtime: Runtime) -> tuple[str | None, bool]:
    """The bearer token (or session cookie) of a request, and whether it came from the cookie.
    For endpoints that authenticate inside their own statement (``POST /api/heartbeat``)."""
    return _credentials(request, runtime.settings.auth.cookie_name)


def check_csrf(request: Request) -> None:
    """Refuse a state-changing, cookie-authenticated request without the CSRF header."""
    _check_csrf(request)


async def optional_principal(request: Request, session: DbSession, runtime: RuntimeDep) -> Principal | None:
    token, via_cookie = _credentials(request, runtime.settings.auth.cookie_name)
    if token is None:
        return None
    row = (await session.execute(AUTHENTICATE_SQL, {"token_hash": token_hash(token)})).one()
    if row.user_id is None:
        raise Unauthorized("the session token is invalid, expired or revoked", code="invalid_token")
    if via_cookie:
        _check_csrf(request)
    principal = Principal(
        user_id=row.user_id, session_id=row.session_id, role=row.user_role, dashboard_id=row.dashboard_id
    )
    session.info["context"] = Context(user_id=principal.user_id)
    await unverified.enforce(
        request,
        session,
        runtime.settings.auth.unverified_access,
        user_id=principal.user_id,
        role=principal.role,
    )
    request.state.principal = principal
    return principal


async def require_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise Unauthorized("sign in first: send Authorization: Bearer <token>", code="not_authenticated")
    return principal


async def require_admin(
    principal: Annotated[Principal, Depends(require_principal)], session: DbSession
) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this endpoint is for platform admins", code="admin_only")
    # Platform admins act with the service context: RLS lets them see every row.
    await set_context(session, Context(user_id=principal.user_id, service=SERVICE.service))
    return principal


async def require_principal_apart(request: Request, runtime: RuntimeDep) -> Principal:
    """``CurrentUser``, authenticated in a transaction of its own that is over before the endpoint
    runs: for endpoints that do slow work before they write (password hashing), so that the
    request holds no connection meanwhile. Their ``DbSession`` starts without a context."""
    async with runtime.db.session() as session:
        principal = await optional_principal(request, session, runtime)
    return await require_principal(principal)


CurrentUser = Annotated[Principal, Depends(require_principal)]
SignedIn = Annotated[Principal, Depends(require_principal_apart)]
MaybeUser = Annotated[Principal | None, Depends(optional_principal)]
AdminUser = Annotated[Principal, Depends(require_admin)]


async def user_key(principal: CurrentUser) -> str:
    """The signed-in user, as the identity of a rate limit (``rate_limit(name, by=user_key)``)."""
    return str(principal.user_id)


async def signed_in_user_key(principal: SignedIn) -> str:
    """``user_key`` for endpoints that authenticate with ``SignedIn``."""
    return str(principal.user_id)
