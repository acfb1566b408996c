"""Sign-in and sign-out of the admin pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy import text
from starlette.responses import Response

from saaskit.accounts import service as accounts
from saaskit.accounts import two_factor
from saaskit.admin.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AdminDep,
    check_login_csrf,
    clear_session_cookie,
    login_csrf,
    set_login_csrf_cookie,
    set_session_cookie,
)
from saaskit.admin.web import redirect, render
from saaskit.audit.service import Actor
from saaskit.kit.deps import ClientDep, DbSession, RuntimeDep
from saaskit.kit.hashing import token_hash
from saaskit.kit.ratelimit import rate_limit

router = APIRouter()

HOME = "/admin/overview"
NOT_ADMIN = "The e-mail or password is wrong, or this account may not use the admin pages."
ADMIN_SESSION_SQL = text("SELECT a.user_role FROM app_authenticate(:token_hash) AS a")


def safe_next(value: str | None) -> str:
    """Only paths of this admin: never another site (``//host``) or a scheme."""
    if value and value.startswith("/admin") and not value.startswith("//") and "\\" not in value:
        return value
    return HOME


def _login_page(
    request: Request,
    runtime: RuntimeDep,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    token = login_csrf(request)
    response = render(
        request,
        "login.html",
        {"login_csrf": token, "next": next_path, "email": email, "error": error},
        status_code=status_code,
    )
    set_login_csrf_cookie(response, runtime, token)
    return response


@router.get("/admin", include_in_schema=False)
@router.get("/admin/", include_in_schema=False)
async def home(request: Request) -> Response:
    return redirect(request, HOME)


@router.get("/admin/login", include_in_schema=False)
async def login_form(
    request: Request, runtime: RuntimeDep, session: DbSession, next: str | None = None
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        role = await session.scalar(ADMIN_SESSION_SQL, {"token_hash": token_hash(token)})
        if role == "admin":
            return redirect(request, safe_next(next))
    return _login_page(request, runtime, next_path=safe_next(next))


@router.post("/admin/login", include_in_schema=False, dependencies=[rate_limit("sign_in_per_ip")])
async def login(
    request: Request,
    runtime: RuntimeDep,
    session: DbSession,
    client: ClientDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    await check_login_csrf(request)
    next_path = safe_next(next)
    if not email.strip() or not password:
        return _login_page(
            request,
            runtime,
            next_path=next_path,
            email=email,
            error="Enter your e-mail and password.",
            status_code=422,
        )
    outcome = await accounts.sign_in(
        session,
        runtime,
        email=email,
        password=password,
        device=None,
        client=accounts.ClientInfo(
            ip_hash=client.ip_hash, country_code=client.country_code, user_agent=client.user_agent
        ),
    )
    if isinstance(outcome, accounts.SignInRefused):
        # Returned, not raised: the failed-attempt counter (lockout) commits with this request.
        return _login_page(
            request,
            runtime,
            next_path=next_path,
            email=email,
            error=outcome.message,
            status_code=outcome.status_code,
        )
    if isinstance(outcome, accounts.TwoFactorRequired):
        return _code_page(request, runtime, next_path=next_path, challenge_token=outcome.challenge_token)
    return await _signed_in(request, runtime, session, outcome, next_path=next_path, email=email)


async def _signed_in(
    request: Request,
    runtime: RuntimeDep,
    session: DbSession,
    outcome: accounts.IssuedSession,
    *,
    next_path: str,
    email: str,
) -> Response:
    if outcome.user.role != "admin":
        # The password was right but this is no admin: undo the session and login just opened.
        await session.rollback()
        return _login_page(
            request, runtime, next_path=next_path, email=email, error=NOT_ADMIN, status_code=403
        )
    response = redirect(request, next_path, flash=("success", f"Signed in as {outcome.user.email}."))
    set_session_cookie(response, runtime, outcome.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/admin")
    return response


def _code_page(
    request: Request,
    runtime: RuntimeDep,
    *,
    next_path: str,
    challenge_token: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The second step of a sign-in with two-factor sign-in (accounts/two_factor.py)."""
    token = login_csrf(request)
    context = {"login_csrf": token, "next": next_path, "challenge_token": challenge_token, "error": error}
    response = render(request, "login_two_factor.html", context, status_code=status_code)
    set_login_csrf_cookie(response, runtime, token)
    return response


@router.post(
    "/admin/login/two-factor", include_in_schema=False, dependencies=[rate_limit("two_factor_per_ip")]
)
async def login_two_factor(
    request: Request,
    runtime: RuntimeDep,
    session: DbSession,
    client: ClientDep,
    challenge_token: Annotated[str, Form(max_length=400)] = "",
    code: Annotated[str, Form(max_length=40)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    await check_login_csrf(request)
    next_path = safe_next(next)
    code = code.strip()
    # A recovery code has letters (xxxxx-xxxxx); an app's code is six digits.
    is_recovery = any(not ch.isdigit() for ch in code.replace(" ", ""))
    outcome = await two_factor.complete_sign_in(
        session,
        runtime,
        Actor(user_id=None, ip_hash=client.ip_hash, request="POST /admin/login/two-factor"),
        challenge_token=challenge_token,
        code=None if is_recovery else code,
        recovery_code=code if is_recovery else None,
        device=None,
        client=accounts.ClientInfo(
            ip_hash=client.ip_hash, country_code=client.country_code, user_agent=client.user_agent
        ),
    )
    if isinstance(outcome, accounts.SignInRefused):
        if outcome.code == "invalid_challenge":
            error, status = outcome.message, outcome.status_code
            return _login_page(request, runtime, next_path=next_path, error=error, status_code=status)
        # Returned, not raised: the audit row of the failure commits with this request.
        return _code_page(
            request,
            runtime,
            next_path=next_path,
            challenge_token=challenge_token,
            error=outcome.message,
            status_code=outcome.status_code,
        )
    return await _signed_in(request, runtime, session, outcome, next_path=next_path, email=outcome.user.email)


@router.post("/admin/logout", include_in_schema=False)
async def logout(request: Request, admin: AdminDep, session: DbSession) -> Response:
    await accounts.revoke_session(session, admin.session_id)
    response = redirect(request, "/admin/login", flash=("info", "Signed out."))
    clear_session_cookie(response)
    return response
