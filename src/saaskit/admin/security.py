"""Who may see the admin pages: the admin session cookie, CSRF tokens, sign-in and sign-out.

- The session is an ordinary ``user_sessions`` row opened by ``accounts.service.sign_in`` (same
  password check, lockout, failure counter and ``login`` activity as the JSON API), kept in its
  own cookie, ``saaskit_admin`` (HttpOnly, SameSite=Lax, Path=/admin): the admin cookie is never
  sent to the JSON API, and the API's cookie never opens the admin pages.
- Only ``users.role = 'admin'`` gets such a session; anyone else, and anyone without a live
  session, is sent to the sign-in page (``SignInRequired``) and sees no data.
- CSRF: every state-changing request carries a token, in the form field ``csrf_token`` or (htmx)
  the ``X-CSRF-Token`` header. Signed in, the token is bound to the session (a keyed hash of the
  session token's hash), so it cannot be planted from outside like a plain double-submit
  cookie. The sign-in form, before any session, uses the double-submit scheme of the JSON API
  (``accounts.dependencies``): a random cookie that the form must echo.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text
from starlette.responses import Response

from saaskit.accounts.dependencies import AUTHENTICATE_SQL, CSRF_HEADER, SAFE_METHODS
from saaskit.audit.service import Actor
from saaskit.kit.db import SERVICE, Context, set_context
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.errors import Forbidden
from saaskit.kit.hashing import keyed_hash, new_token, token_hash
from saaskit.kit.state import Runtime

SESSION_COOKIE = "saaskit_admin"
LOGIN_CSRF_COOKIE = "saaskit_admin_csrf"
CSRF_FIELD = "csrf_token"
COOKIE_PATH = "/admin"


class SignInRequired(Exception):
    """No admin is signed in: the handler sends the browser to the sign-in page."""

    def __init__(self, next_path: str | None = None) -> None:
        super().__init__("sign in as an admin first")
        self.next_path = next_path


class CsrfRefused(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "This form has expired or did not come from this admin page. Reload the page and try again.",
            code="csrf_failed",
        )


@dataclass(frozen=True)
class Admin:
    """The signed-in admin of a request."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    email: str
    csrf_token: str
    actor: Actor


def session_csrf_token(runtime: Runtime, session_token: str) -> str:
    return keyed_hash(runtime.secret, "admin-csrf", token_hash(session_token))


def set_session_cookie(response: Response, runtime: Runtime, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=runtime.settings.auth.session_ttl_hours * 3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.auth.cookie_secure,
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)


def login_csrf(request: Request) -> str:
    """The sign-in form's token: the cookie's value if the browser has one, else a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or new_token()


def set_login_csrf_cookie(response: Response, runtime: Runtime, value: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=runtime.settings.auth.cookie_secure,
    )


async def submitted_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def _same(expected: str, given: str) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


async def check_login_csrf(request: Request) -> None:
    if not _same(request.cookies.get(LOGIN_CSRF_COOKIE, ""), await submitted_csrf(request)):
        raise CsrfRefused()


def _next_path(request: Request) -> str | None:
    if request.method != "GET" or request.headers.get("hx-request"):
        return None
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


async def current_admin(
    request: Request, session: DbSession, runtime: RuntimeDep, client: ClientDep
) -> Admin:
    """The signed-in admin, with the service context set (platform admins see every row);
    CSRF-checked for every method that changes state."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired(_next_path(request))
    row = (await session.execute(AUTHENTICATE_SQL, {"token_hash": token_hash(token)})).one()
    if row.user_id is None or row.user_role != "admin":
        raise SignInRequired(_next_path(request))
    csrf = session_csrf_token(runtime, token)
    if request.method not in SAFE_METHODS and not _same(csrf, await submitted_csrf(request)):
        raise CsrfRefused()
    await set_context(session, Context(user_id=row.user_id, service=SERVICE.service))
    email = await session.scalar(_EMAIL_SQL, {"user_id": row.user_id})
    actor = Actor(
        user_id=row.user_id,
        ip_hash=client.ip_hash,
        as_platform_admin=True,
        request=f"{request.method} {request.url.path}",
    )
    admin = Admin(row.user_id, row.session_id, str(email or ""), csrf, actor)
    request.state.admin = admin
    return admin


_EMAIL_SQL = text("SELECT email FROM users WHERE id = :user_id")

AdminDep = Annotated[Admin, Depends(current_admin)]
