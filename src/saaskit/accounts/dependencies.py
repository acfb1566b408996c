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

from saaskit.accounts import api_keys, unverified
from saaskit.audit.service import Actor
from saaskit.kit.db import SERVICE, Context, set_context
from saaskit.kit.deps import Client, DbSession, RuntimeDep
from saaskit.kit.errors import Forbidden, Unauthorized
from saaskit.kit.hashing import token_hash
from saaskit.kit.ratelimit import limiter_of
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
    session_id: uuid.UUID  # an API key's request: the key's id (it has no session)
    role: str
    dashboard_id: uuid.UUID | None = None
    api_key: api_keys.KeyGrant | None = None  # set when the request came with an API key

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
    if api_keys.looks_like_key(token):
        return await _key_principal(request, session, runtime, token)
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


async def _key_principal(request: Request, session: DbSession, runtime: Runtime, key: str) -> Principal:
    """A request made with an API key: its holder, narrowed to the key (api_keys.limit_access
    where organizations are resolved), rate-limited per key, never a platform admin."""
    if not api_keys.allowed(request.method, request.url.path):
        raise Forbidden(
            "API keys work on organization endpoints (/api/orgs/...), GET /api/me and the flag "
            "definitions; sign in as a person for the rest",
            code="api_key_not_allowed",
        )
    found = await api_keys.authenticate(session, key)
    if found is None:
        raise Unauthorized("the API key is invalid, expired or revoked", code="invalid_api_key")
    grant = found.grant
    await limiter_of(runtime).hit_at_rate("api_key", grant.rate_limit_per_minute, str(grant.key_id))
    principal = Principal(
        user_id=found.user_id,
        session_id=grant.key_id,
        role="user" if found.user_role == "admin" else found.user_role,
        api_key=grant,
    )
    session.info["context"] = Context(user_id=principal.user_id)
    if found.audit_due:
        actor = Actor(
            user_id=found.user_id,
            ip_hash=Client(request, runtime).ip_hash,
            request=f"{request.method} {request.url.path}",
        )
        await api_keys.record_use(session, found, actor)
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
